"""Latency against players: a sweep of runs, and its plot (one server, or several side by side
from saved sweeps)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bench.load.run import run_repeated
from bench.load.server import LoadError
from bench.stats import machine_info

TARGET_P99_MS = 50


def sweep(args: argparse.Namespace) -> dict[str, Any]:
    counts = [int(x) for x in args.sweep.split(",") if x.strip()]
    runs = []
    for n in counts:
        a = argparse.Namespace(**vars(args))
        a.players = n
        a.rooms = max(1, -(-n // args.room_size))
        try:
            r = run_repeated(a)
        except LoadError as exc:
            print(f"# {n} players: FAILED: {exc}", file=sys.stderr)
            runs.append({"players": n, "rooms": a.rooms, "failed": str(exc)})
            continue
        runs.append(r)
        print(
            f"# {n} players / {a.rooms} rooms: {r['updates_per_s']:.0f} updates/s, "
            f"p99 {r['latency_ms']['p99']} ms",
            file=sys.stderr,
        )
    machine = machine_info()
    out: dict[str, Any] = {"machine": machine, "label": args.label or machine.get("git", "this")}
    out["sweep"] = runs
    if args.plot:
        series = {out["label"]: runs, **dict(map(load_sweep, args.compare))}
        out["plot"] = str(plot_sweep(series, Path(args.plot), args.title))
    return out


def load_sweep(path: str) -> tuple[str, list[dict[str, Any]]]:
    """``(label, runs)`` of a sweep saved with ``--sweep --json`` (label: its ``label``, else
    the file's name)."""
    saved = json.loads(Path(path).read_text())
    return str(saved.get("label") or Path(path).stem), saved["sweep"]


def plot_sweep(
    series: dict[str, list[dict[str, Any]]], path: Path, title: str | None = None
) -> Path:
    """One sweep: p50/p95/p99 and updates/s against players. Several (label -> runs): their
    p99 (solid) and p50 (dotted) side by side, one colour each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    ok = {label: [r for r in runs if "failed" not in r] for label, runs in series.items()}
    if len(ok) == 1:
        (runs,) = ok.values()
        xs = [r["players"] for r in runs]
        for key, style in (("p50", "o-"), ("p95", "s--"), ("p99", "^-")):
            ax.plot(xs, [r["latency_ms"][key] or float("nan") for r in runs], style, label=key)
        ax2 = ax.twinx()
        ax2.plot(xs, [r["updates_per_s"] for r in runs], "k.:", label="updates/s")
        ax2.set_ylabel("stroke updates/s sent by the players")
        extra = ax2.get_legend_handles_labels()
    else:
        for i, (label, runs) in enumerate(ok.items()):
            xs = [r["players"] for r in runs]
            colour = f"C{i}"
            for key, style in (("p99", "^-"), ("p50", "o:")):
                ys = [r["latency_ms"][key] or float("nan") for r in runs]
                ax.plot(xs, ys, style, color=colour, label=f"{label} {key}")
        extra = ([], [])
    ax.axhline(TARGET_P99_MS, color="red", lw=0.8, ls=":", label=f"target p99 {TARGET_P99_MS} ms")
    ax.set_xlabel("simulated drawing players")
    ax.set_ylabel("stroke-to-guess latency (ms)")
    ax.set_yscale("log")
    handles, labels = ax.get_legend_handles_labels()
    ax.legend(handles + extra[0], labels + extra[1], loc="upper left", fontsize=8)
    m = machine_info()
    ax.set_title(
        title or f"Doodle Arena load: latency vs players ({m['nproc']} cores, {m['date'][:10]})",
        fontsize=10,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
