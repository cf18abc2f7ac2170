"""IncrementalRaster: pixel-identical to drawing_to_image on every prefix of real drawings,
and an update inside the bounding box redoes only the active stroke."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from model_test_helpers import read_ndjson

from model import IncrementalRaster, drawing_to_image
from model import incremental as inc

Op = tuple[str, int, list[list[float]]]  # ("points", stroke, points) | ("undo"|"clear", 0, [])


def _reference(strokes: list[list[Any]]) -> np.ndarray:
    return drawing_to_image([[[p[0] for p in s], [p[1] for p in s]] for s in strokes if s])


def _client_ops(drawing: list[Any], rng: random.Random) -> Iterator[Op]:
    """The updates a client streams for a raw drawing: its points in time order, in batches
    (one point, or every point of a stroke within a 16-150 ms window), with undo and clear
    sprinkled in after strokes and, after an undo, the next stroke sometimes continuing the
    stroke that became the last one."""
    n = 0  # strokes the server holds
    for xs, ys, ts in drawing:
        stroke = n
        if n and rng.random() < 0.15:
            yield ("undo", 0, [])
            n -= 1
            stroke = n - 1 if n and rng.random() < 0.5 else n
        elif n and rng.random() < 0.04:
            yield ("clear", 0, [])
            n = stroke = 0
        pts = [[float(x), float(y), float(t)] for x, y, t in zip(xs, ys, ts, strict=True)]
        i = 0
        while i < len(pts):
            window = rng.choice((0, 16, 50, 150))
            j = i + 1
            while j < len(pts) and pts[j][2] - pts[i][2] < window:
                j += 1
            yield ("points", stroke, pts[i:j])
            n = max(n, stroke + 1)
            stroke = n - 1
            i = j


def _replay_drawings(qd_dir: Path) -> list[list[Any]]:
    files = sorted((qd_dir / "raw").glob("*.ndjson"))[::6]  # 52 categories
    return [rec["drawing"] for f in files for rec in read_ndjson(f, limit=2)]


def test_every_prefix_of_real_drawings_is_pixel_identical(qd_dir: Path) -> None:
    rng = random.Random(11)
    drawings = _replay_drawings(qd_dir)
    checked = mid_stroke = undos = clears = 0
    r = IncrementalRaster()
    for drawing in drawings:
        r.clear()
        shadow: list[list[Any]] = []  # what the server's rules hold
        for op, stroke, pts in _client_ops(drawing, rng):
            if op == "points":
                mid_stroke += stroke < len(shadow)
                if stroke == len(shadow):
                    shadow.append([])
                shadow[stroke].extend(pts)
                r.apply_points(stroke, pts)
            elif op == "undo":
                undos += 1
                shadow.pop()
                r.undo()
            else:
                clears += 1
                shadow.clear()
                r.clear()
            assert r.strokes == shadow
            expected = _reference(shadow)
            got = r.image()
            assert got.dtype == np.uint8 and got.shape == (28, 28)
            if not np.array_equal(got, expected):
                pytest.fail(f"prefix {checked}: {int((got != expected).sum())} pixels differ")
            checked += 1
    assert len(drawings) >= 100
    assert checked >= 5000 and mid_stroke >= 3000 and undos >= 50 and clears >= 5


def test_degenerate_updates_match_reference() -> None:
    nan, inf = float("nan"), float("inf")
    r = IncrementalRaster()
    assert not r.image().any() and r.strokes == []
    steps: list[tuple[int, list[list[float]]]] = [
        (0, []),  # an empty stroke is ignored by the image
        (0, [[nan, 1.0, 0.0]]),  # so is a point with a non-finite coordinate
        (0, [[5.0, 5.0, 1.0]]),  # one dot
        (1, [[5.0, 5.0, 2.0], [5.0, 5.0, 3.0]]),  # same place: zero-size drawing
        (1, [[inf, 7.0, 4.0], [9.0, 5.0, 5.0]]),
        (2, [[9.0, 5.0, 6.0], [-3.0, 40.0, 7.0]]),
    ]
    shadow: list[list[Any]] = []
    for stroke, pts in steps:
        if stroke == len(shadow):
            shadow.append([])
        shadow[stroke].extend(pts)
        r.apply_points(stroke, pts)
        assert np.array_equal(r.image(), _reference(shadow))
    assert r.strokes == shadow
    for _ in range(len(shadow) + 1):  # undo down to nothing, and once more
        r.undo()
        shadow = shadow[:-1]
        assert np.array_equal(r.image(), _reference(shadow))
    assert r.strokes == []


@pytest.mark.parametrize(
    ("stroke", "points"), [(1, [[1.0, 2.0, 0.0]]), (-1, [[1.0, 2.0, 0.0]]), (0, [[1.0]])]
)
def test_bad_updates_raise_and_change_nothing(stroke: int, points: Any) -> None:
    r = IncrementalRaster()
    with pytest.raises(ValueError):
        r.apply_points(stroke, points)
    with pytest.raises(ValueError):
        r.apply_points(0, [[1.0, 2.0, 0.0], [1.0, 2.0]])  # ragged
    assert r.strokes == [] and not r.image().any()


def test_image_is_a_copy() -> None:
    r = IncrementalRaster()
    r.apply_points(0, [[0.0, 0.0, 0.0], [50.0, 80.0, 10.0]])
    img = r.image()
    img[:] = 0
    assert r.image().any()


def test_update_inside_the_box_redoes_only_the_active_stroke(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Points that move neither the raw box (normalization) nor the simplified box (canvas
    offset) re-simplify and re-rasterize the active stroke alone."""
    calls: dict[str, list[int]] = {"simplify": [], "coverage": []}

    def spy(name: str, fn: Any) -> Any:
        def wrapped(flat: Any, *args: Any) -> Any:
            calls[name].append(len(flat[1]) - 1 if name == "simplify" else len(args[0]) - 1)
            return fn(flat, *args)

        return wrapped

    monkeypatch.setattr(inc, "_simplify", spy("simplify", inc._simplify))
    monkeypatch.setattr(inc, "_stroke_coverage", spy("coverage", inc._stroke_coverage))
    r = IncrementalRaster()
    r.apply_points(0, [[0.0, 0.0, 0.0], [100.0, 0.0, 1.0], [100.0, 100.0, 2.0]])
    r.apply_points(1, [[0.0, 100.0, 3.0], [10.0, 10.0, 4.0]])
    r.apply_points(2, [[50.0, 50.0, 5.0]])
    r.image()
    assert calls == {"simplify": [3], "coverage": [3]}  # everything, once
    for i in range(3):
        r.apply_points(2, [[60.0 + 5 * i, 40.0, 6.0 + i], [40.0, 30.0 - i, 7.0 + i]])
        r.image()
        r.image()  # unchanged: cached
    assert calls == {"simplify": [3, 1, 1, 1], "coverage": [3, 1, 1, 1]}
    r.apply_points(3, [[20.0, 20.0, 9.0]])  # a new stroke: the previous one joins the product
    r.image()
    assert calls["simplify"][-1] == 1 and calls["coverage"][-1] == 2
    r.apply_points(3, [[-10.0, 20.0, 10.0]])  # the box grows: everything again
    r.image()
    assert calls["simplify"][-1] == 4 and calls["coverage"][-1] == 4
