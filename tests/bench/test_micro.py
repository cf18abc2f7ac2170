"""The micro-benchmark and the seed baseline run and report a sane structure (no timings
are asserted: this machine's speed is not under test)."""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from bench import micro, seed_pipeline
from bench.classifier import load
from bench.data import protocol_updates, sample_drawings, stream_batches
from bench.hotpath import RoomPath, points_message

ROOT = Path(__file__).resolve().parents[2]


def test_stream_batches_cover_every_point_in_time_order() -> None:
    for d in sample_drawings(10, seed=1):
        batches = stream_batches(d, 100.0)
        times = [t for t, *_ in batches]
        assert times == sorted(times)
        for si, stroke in enumerate(d.strokes):
            spans = [(a, b) for _, s, a, b in batches if s == si]
            assert spans[0][0] == 0
            assert spans[-1][1] == len(stroke[0])
            assert all(b1 == a2 for (_, b1), (a2, _) in itertools.pairwise(spans))


def test_protocol_updates_are_valid_points_batches() -> None:
    d = sample_drawings(1, seed=2)[0]
    ups = protocol_updates(d)
    assert sum(len(p) for _, _, p in ups) == d.n_points
    for _, stroke, pts in ups:
        assert 0 <= stroke < d.n_strokes
        assert 1 <= len(pts) <= 512
        assert all(len(p) == 3 and all(math.isfinite(v) for v in p) for p in pts)


def test_room_path_replays_a_drawing() -> None:
    clf = load()
    room = RoomPath(clf, recipients=4)
    d = sample_drawings(1, seed=3)[0]
    for i, (_, stroke, pts) in enumerate(protocol_updates(d)):
        t = room.update_timed(points_message(i, stroke, pts))
        assert list(t[:7]) == sorted(t[:7])
        assert t[7] > 0
    assert len(room.strokes) == d.n_strokes
    assert room.image().shape == (28, 28)
    assert room.image().max() > 0


def test_seed_pipeline_round_trip() -> None:
    clf = load()
    d = sample_drawings(1, seed=4)[0]
    url = seed_pipeline.client_encode(
        seed_pipeline.client_render(seed_pipeline.fit_to_canvas(d.xy))
    )
    assert url.startswith("data:image/png;base64,")
    img = seed_pipeline.server_preprocess(url)
    assert img.shape == (28, 28) and img.dtype == np.uint8 and img.max() > 128
    reply = json.loads(seed_pipeline.server_guess(url, clf))
    assert len(reply["guesses"]) == 3
    assert all(g["label"] in clf.labels for g in reply["guesses"])


def test_micro_quick_prints_one_json_object_with_every_section() -> None:
    # a subprocess, so that the one-BLAS-thread setting applies before numpy is imported
    out = subprocess.run(
        [sys.executable, "-m", "bench.micro", "--quick", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result = json.loads(out.stdout)
    assert {"machine", "model", "config", "results", "update", "seed"} <= result.keys()
    assert result["machine"]["nproc"] >= 1
    sections = {r["section"] for r in result["results"]}
    assert sections == {"normalize", "rasterize", "sketch", "infer", "update", "seed"}
    for r in result["results"]:
        assert r["n"] > 0
        assert 0 < r["median_us"] <= r["p99_us"] + 1e-9
    batches = {r["batch"] for r in result["results"] if r["section"] == "infer"}
    assert batches == set(micro.BATCHES)
    assert result["config"]["openblas_threads"] == "1"
    assert result["seed"]["ratio_server"] > 0
    assert 0.0 <= result["update"]["direct_top1_agreement"] <= 1.0
    assert result["update"]["updates"] > 0
    assert "stage: total" in micro.format_table(result)
    assert micro.format_markdown(result).startswith("| section |")


def _only(section: str) -> dict[str, Any]:
    """``python -m bench.micro --quick --only SECTION --json``: its JSON."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.micro", "--quick", "--only", section, "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def test_micro_only_sketch_times_both_raster_paths() -> None:
    result = _only("sketch")
    cases = {r["case"]: r for r in result["results"]}
    assert {r["section"] for r in result["results"]} == {"sketch"}
    assert set(cases) == {
        f"{path}: {what}"
        for path in ("numba", "numpy")
        for what in ("apply_points", "image()", "apply_points + image()")
    }
    assert all(r["n"] == 60 for r in result["results"])  # --quick: 60 updates per path
    assert "numba: image()" in micro.format_table(result)


def test_micro_only_infer_times_each_batch_size() -> None:
    result = _only("infer")
    assert {r["section"] for r in result["results"]} == {"infer"}
    assert [r["batch"] for r in result["results"]] == list(micro.BATCHES)
    assert all(r["per_image_us"] > 0 for r in result["results"])
