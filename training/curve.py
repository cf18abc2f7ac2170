"""A learning curve from calibrated artifacts trained on nested subsets of the training split
(``python -m training train --train-fraction F``, then ``python -m training calibrate``):

``python -m training.curve RUN.json ... [--plot docs/learning_curve.png]`` prints, per run, the
training fraction, validation top-1 (all images, stroke renders) and validation live
recognition at the calibrated false recognition bound (raw drawings, all stroke drawings),
then each figure's slope per doubling of the data (least squares on log2 F) and how many
doublings would reach a target, two ways: the straight line in log2 F, and a power law of
the error (log error linear in log2 F).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["curve_points", "doublings_to", "fit"]

#: figure -> (label, target from issue 12)
FIGURES: dict[str, tuple[str, float]] = {
    "val_top1": ("validation top-1", 0.85),
    "val_stroke_top1": ("validation top-1, stroke drawings", 0.85),
    "live_raw": ("validation live recognition, raw (n=135)", 0.95),
    "live_all": ("validation live recognition, all stroke drawings (n=851)", 0.95),
}


def curve_points(paths: list[Path]) -> list[dict[str, Any]]:
    """One point per artifact: its training fraction and figures, sorted by fraction."""
    points = []
    for p in paths:
        meta = json.loads(p.read_text())
        live = meta["recognition"]["validation_live"]
        points.append(
            {
                "run": p.stem,
                "fraction": float(meta["training"]["config"].get("train_fraction", 1.0)),
                "train_images": sum(
                    v for k, v in meta["data"]["counts"].items() if k.startswith("train_")
                ),
                "wall_time_s": meta["training"]["wall_time_s"],
                "val_top1": meta["metrics"]["val"]["top1"],
                "val_stroke_top1": meta["metrics"]["val_stroke"]["top1"],
                "live_raw": live["raw"]["recognition"]["rate"],
                "live_all": live["all"]["recognition"]["rate"],
                "live_raw_ci95": live["raw"]["recognition"]["ci95"],
                "live_all_ci95": live["all"]["recognition"]["ci95"],
                "threshold": meta["recognition"]["threshold"],
                "tau_ms": meta["recognition"]["belief"]["tau_ms"],
            }
        )
    return sorted(points, key=lambda q: q["fraction"])


def fit(fractions: list[float], values: list[float]) -> tuple[float, float]:
    """Least squares ``value = a + b * log2(fraction)``: (a, b); b is the gain per doubling."""
    b, a = np.polyfit(np.log2(fractions), values, 1)
    return float(a), float(b)


def doublings_to(fractions: list[float], values: list[float], target: float) -> dict[str, float]:
    """Doublings of the whole training split to reach ``target``: on the straight line in
    log2 F (``linear``) and on a power law of the error (``power``); inf if the fit does not
    rise (by at least 0.01 point per doubling)."""
    a, b = fit(fractions, values)
    ea, eb = fit(fractions, [math.log2(1.0 - v) for v in values])
    return {
        "linear": (target - a) / b if b > 1e-4 else math.inf,
        "power": (math.log2(1.0 - target) - ea) / eb if eb < -1e-4 else math.inf,
    }


def _doublings(d: float) -> str:
    if not math.isfinite(d):
        return "never on this fit"
    return f"{d:.1f} doublings ({2.0 ** min(d, 1000.0):.3g}x the data)"


def _plot(points: list[dict[str, Any]], out: Path, reference: dict[str, Any] | None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fr = [q["fraction"] for q in points]
    fig, ax = plt.subplots(figsize=(7.2, 4.8))
    for key, color in (
        ("val_top1", "C0"),
        ("val_stroke_top1", "C1"),
        ("live_all", "C2"),
        ("live_raw", "C3"),
    ):
        ys = np.array([100 * q[key] for q in points])
        b = fit(fr, [q[key] for q in points])[1]
        label = f"{FIGURES[key][0]}: {100 * b:+.1f} pts/doubling"
        if f"{key}_ci95" in points[0]:  # 95% interval over drawings
            ci = np.array([[100 * c for c in q[f"{key}_ci95"]] for q in points])
            yerr = np.abs(ci.T - ys)
            ax.errorbar(fr, ys, yerr=yerr, fmt="s-", color=color, capsize=3, label=label)
        else:
            ax.plot(fr, ys, "o-", color=color, label=label)
        if reference is not None:
            ax.plot([reference["fraction"]], [100 * reference[key]], "*", color=color, ms=13)
    if reference is not None:
        ax.plot([], [], "*", color="grey", ms=13, label=f"{reference['run']} (its own schedule)")
    ax.set_xscale("log", base=2)
    ax.set_xticks(fr, [f"{q['fraction']:g}\n({q['train_images'] / 1000:.0f}k)" for q in points])
    ax.set_xlabel("share of the training split (training images before augmentation)")
    ax.set_ylabel("% (validation; bars: 95% interval over drawings)")
    ax.set_ylim(bottom=min(ax.get_ylim()[0], 100 * min(q["live_all"] for q in points)) - 12)
    ax.set_title("784-1536-768 MLP, the same 8 x 200k samples per point")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7.5, loc="lower right")
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.curve")
    parser.add_argument("runs", type=Path, nargs="+", help="calibrated artifacts (.json)")
    parser.add_argument("--plot", type=Path, default=None)
    parser.add_argument(
        "--reference", type=Path, default=None, help="a calibrated artifact to mark on the plot"
    )
    args = parser.parse_args(argv)
    points = curve_points(args.runs)
    print("| fraction | training images | wall s | " + " | ".join(FIGURES) + " | rule |")
    for q in points:
        figs = " | ".join(f"{100 * q[k]:.1f}%" for k in FIGURES)
        print(
            f"| {q['fraction']:g} | {q['train_images']} | {q['wall_time_s']:.0f} | {figs} "
            f"| tau {q['tau_ms']:g} ms, p >= {q['threshold']} |"
        )
    fr = [q["fraction"] for q in points]
    for key, (label, target) in FIGURES.items():
        values = [q[key] for q in points]
        _, b = fit(fr, values)
        d = doublings_to(fr, values, target)
        print(
            f"{label}: {100 * b:+.2f} points per doubling; {100 * target:.0f}% after "
            f"{_doublings(d['linear'])} (straight line) or {_doublings(d['power'])} (power "
            "law of the error)"
        )
    if args.plot:
        reference = curve_points([args.reference])[0] if args.reference else None
        _plot(points, args.plot, reference)
        print(f"wrote {args.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
