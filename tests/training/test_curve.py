from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from training.curve import curve_points, doublings_to, fit, main

FRACTIONS = [0.125, 0.25, 0.5, 1.0]


def test_fit_reads_the_gain_per_doubling() -> None:
    a, b = fit(FRACTIONS, [0.5, 0.53, 0.56, 0.59])
    assert a == pytest.approx(0.59) and b == pytest.approx(0.03)
    d = doublings_to(FRACTIONS, [0.5, 0.53, 0.56, 0.59], 0.65)
    assert d["linear"] == pytest.approx(2.0)
    # error halves per doubling: 0.4 -> 0.05 in three doublings; 0.025 one more
    d = doublings_to(FRACTIONS, [0.6, 0.8, 0.9, 0.95], 0.975)
    assert d["power"] == pytest.approx(1.0)
    flat = doublings_to(FRACTIONS, [0.7, 0.69, 0.7, 0.69], 0.85)
    assert flat["linear"] == math.inf and flat["power"] == math.inf


def _artifact_json(path: Path, fraction: float, top1: float) -> Path:
    live = {"recognition": {"rate": top1 + 0.05, "ci95": [top1, top1 + 0.1]}}
    meta = {
        "training": {"config": {"train_fraction": fraction}, "wall_time_s": 100.0},
        "data": {"counts": {"train_bitmap": int(1000 * fraction), "val_bitmap": 99}},
        "metrics": {"val": {"top1": top1}, "val_stroke": {"top1": top1 + 0.02}},
        "recognition": {
            "threshold": 0.6,
            "belief": {"tau_ms": 500.0},
            "validation_live": {"raw": live, "all": live},
        },
    }
    path.write_text(json.dumps(meta))
    return path


def test_curve_points_and_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = [
        _artifact_json(tmp_path / f"f{f}.json", f, 0.5 + 0.03 * i)
        for i, f in reversed(list(enumerate(FRACTIONS)))
    ]
    points = curve_points(paths)
    assert [q["fraction"] for q in points] == FRACTIONS
    assert [q["train_images"] for q in points] == [125, 250, 500, 1000]
    assert points[-1]["live_raw"] == pytest.approx(0.64)
    plot = tmp_path / "curve.png"
    argv = [*map(str, paths), "--plot", str(plot), "--reference", str(paths[0])]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "validation top-1: +3.00 points per doubling" in out
    assert plot.stat().st_size > 0
