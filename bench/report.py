"""Markdown tables for docs/BENCHMARKS.md from the JSON files of ``bench/run_all.sh``.

``python -m bench.report [bench/results]``
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from bench.micro import format_markdown


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _f(v: Any, fmt: str = "{:.0f}") -> str:
    return "–" if v is None else fmt.format(v)


LOAD_HEADER = (
    "| configuration | players / rooms | updates/s | guesses/s | latency p50 / p95 / p99 (ms) "
    "| no guess | recognized | errors | server CPU % | redis CPU % "
    "| server + redis CPU µs/update | peak RSS MB | client CPU µs/update |\n"
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
)


def load_row(name: str, r: dict[str, Any]) -> str:
    if "failed" in r:
        return f"| {name} | {r['players']} / {r['rooms']} | failed: {r['failed'][:80]} |"
    lat = r["latency_ms"]
    rate = r.get("recognition_rate")
    return (
        f"| {name} | {r['players']} / {r['rooms']} | {_f(r['updates_per_s'])} "
        f"| {_f(r['guesses_per_s'])} "
        f"| {_f(lat['p50'])} / {_f(lat['p95'])} / {_f(lat['p99'])} | {_f(r['unanswered'])} "
        f"| {_f(rate * 100 if rate is not None else None)} % | {_f(r['errors'])} "
        f"| {_f(r.get('server_cpu_pct'))} | {_f(r.get('children_cpu_pct'), '{:.1f}')} "
        f"| {_f(r.get('server_total_cpu_us_per_update', r.get('server_cpu_us_per_update')))} "
        f"| {_f(r.get('server_peak_rss_mb'))} | {_f(r.get('client_cpu_us_per_update'))} |"
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    d = Path(argv[0] if argv else "bench/results")
    micro = _load(d / "micro.json")
    if micro:
        m = micro["machine"]
        print(f"### micro ({micro.get('repeat', 1)} runs, {m['date']}, load {m['loadavg']})\n")
        print(format_markdown(micro))
        u, s = micro["update"], micro.get("seed", {})
        print(
            f"\nbytes framed per update (room of {u['recipients']}): "
            f"{u['bytes_per_update']:.0f}; direct-raster top-1 agreement: "
            f"{u.get('direct_top1_agreement', float('nan')):.1%}"
        )
        if s:
            print(
                f"seed/ours: server {s['ratio_server']:.2f}x, client+server "
                f"{s['ratio_client_plus_server']:.2f}x, upload {s['seed_upload_bytes_median']:.0f}"
                f" B vs {s['our_upload_bytes_median']:.0f} B, top-1 agreement "
                f"{s['top1_agreement']:.0%}"
            )
    print("\n### load\n")
    print(LOAD_HEADER)
    for mode, file in (
        ("game mode", "load_game_48.json"),
        ("capacity", "cap256.json"),
        ("capacity", "cap1000.json"),
        ("capacity, 2 processes + nginx", "cap1000_p2.json"),
    ):
        r = _load(d / file)
        if r:
            print(load_row(f"{mode}, {r['players']} players", r))
    sw = _load(d / "sweep.json")
    if sw:
        print("\n### sweep, capacity mode, 8 players per room\n")
        print(LOAD_HEADER)
        for r in sw["sweep"]:
            print(load_row(f"{r['players']} players", r))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
