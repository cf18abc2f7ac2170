"""IncrementalRaster: pixel-identical to drawing_to_image on every prefix of real drawings,
and an update inside the bounding box redoes only the active stroke."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from model_test_helpers import read_ndjson

from model import IncrementalRaster, drawing_to_image

Op = tuple[str, int, list[list[float]]]  # ("apply_points", stroke, points) | ("undo"|"clear", ...)


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
            yield ("apply_points", stroke, pts[i:j])
            n = max(n, stroke + 1)
            stroke = n - 1
            i = j


def _replay_drawings(qd_dir: Path) -> list[list[Any]]:
    files = sorted((qd_dir / "raw").glob("*.ndjson"))[::6]  # 52 categories
    return [rec["drawing"] for f in files for rec in read_ndjson(f, limit=2)]


def test_every_prefix_of_real_drawings_is_pixel_identical(qd_dir: Path) -> None:
    """Both paths, the numba kernels and the numpy fallback, side by side."""
    rng = random.Random(11)
    drawings = _replay_drawings(qd_dir)
    checked = mid_stroke = undos = clears = 0
    rasters = [IncrementalRaster(), IncrementalRaster(compiled=False)]
    assert [r.compiled for r in rasters] == [True, False]
    for drawing in drawings:
        for r in rasters:
            r.clear()
        shadow: list[list[Any]] = []  # what the server's rules hold
        for op, stroke, pts in _client_ops(drawing, rng):
            if op == "apply_points":
                mid_stroke += stroke < len(shadow)
                if stroke == len(shadow):
                    shadow.append([])
                shadow[stroke].extend(pts)
            elif op == "undo":
                undos += 1
                shadow.pop()
            else:
                clears += 1
                shadow.clear()
            expected = _reference(shadow)
            for r in rasters:
                getattr(r, op)(*((stroke, pts) if op == "apply_points" else ()))
                assert r.strokes == shadow
                got = r.image()
                assert got.dtype == np.uint8 and got.shape == (28, 28)
                if not np.array_equal(got, expected):
                    diff = int((got != expected).sum())
                    pytest.fail(f"compiled={r.compiled} prefix {checked}: {diff} pixels differ")
            checked += 1
    assert len(drawings) >= 100
    assert checked >= 5000 and mid_stroke >= 3000 and undos >= 50 and clears >= 5


_coord = st.one_of(
    st.integers(-3, 12).map(float),  # a small grid: duplicates, collinear runs
    st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False),
    st.sampled_from([float("nan"), float("inf")]),
)
_update = st.one_of(
    st.tuples(
        st.just("apply_points"),
        st.booleans(),  # a new stroke, or the last one
        st.lists(st.tuples(_coord, _coord).map(lambda p: [p[0], p[1], 0.0]), max_size=12),
    ),
    st.tuples(st.sampled_from(["undo", "clear"]), st.just(False), st.just([])),
)


@hsettings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.lists(_update, max_size=25))
def test_random_updates_match_reference(updates: list[tuple[str, bool, list[Any]]]) -> None:
    """Grid points (duplicates, collinear runs, zero-size strokes), far-apart floats, non-finite
    points, undo and clear: both paths equal drawing_to_image after every update."""
    rasters = [IncrementalRaster(), IncrementalRaster(compiled=False)]
    shadow: list[list[Any]] = []
    for op, new, pts in updates:
        if op == "apply_points":
            stroke = len(shadow) if new or not shadow else len(shadow) - 1
            if stroke == len(shadow):
                shadow.append([])
            shadow[stroke].extend(pts)
        elif op == "undo":
            shadow = shadow[:-1]
        else:
            shadow = []
        expected = _reference(shadow)
        for r in rasters:
            getattr(r, op)(*((stroke, pts) if op == "apply_points" else ()))
            assert np.array_equal(r.image(), expected), f"compiled={r.compiled}"


@pytest.mark.parametrize("compiled", [True, False])
def test_degenerate_updates_match_reference(compiled: bool) -> None:
    nan, inf = float("nan"), float("inf")
    r = IncrementalRaster(compiled=compiled)
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
    ("stroke", "points"),
    [
        (1, [[1.0, 2.0, 0.0]]),
        (-1, [[1.0, 2.0, 0.0]]),
        (0, [[1.0]]),
        (0, ["120"]),  # a string is indexable, not a row of numbers
        (0, [[1.0, 2.0, 0.0], "120"]),
        (0, [[10**400, 1.0, 0.0]]),  # an integer too large for a float: ValueError too
        (0, [[1.0, None, 0.0]]),
    ],
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


def _spy(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[int]]:
    """Record how many strokes each ``_simplify`` / ``_paint`` call gets."""
    calls: dict[str, list[int]] = {"_simplify": [], "_paint": []}

    def spy(name: str) -> Any:
        fn = getattr(IncrementalRaster, name)

        def wrapped(self: IncrementalRaster, strokes: list[Any], *args: Any) -> Any:
            calls[name].append(len(strokes))
            return fn(self, strokes, *args)

        return wrapped

    for name in calls:
        monkeypatch.setattr(IncrementalRaster, name, spy(name))
    return calls


@pytest.mark.parametrize("compiled", [True, False])
def test_update_inside_the_box_redoes_only_the_active_stroke(
    monkeypatch: pytest.MonkeyPatch, compiled: bool
) -> None:
    """Points that move neither the raw box (normalization) nor the simplified box (canvas
    offset) re-simplify and re-rasterize the active stroke alone."""
    calls = _spy(monkeypatch)
    r = IncrementalRaster(compiled=compiled)
    r.apply_points(0, [[0.0, 0.0, 0.0], [100.0, 0.0, 1.0], [100.0, 100.0, 2.0]])
    r.apply_points(1, [[0.0, 100.0, 3.0], [10.0, 10.0, 4.0]])
    r.apply_points(2, [[50.0, 50.0, 5.0]])
    r.image()
    assert calls == {"_simplify": [3], "_paint": [3]}  # everything, once
    for i in range(3):
        r.apply_points(2, [[60.0 + 5 * i, 40.0, 6.0 + i], [40.0, 30.0 - i, 7.0 + i]])
        r.image()
        r.image()  # unchanged: cached
    assert calls == {"_simplify": [3, 1, 1, 1], "_paint": [3, 1, 1, 1]}
    r.apply_points(3, [[20.0, 20.0, 9.0]])  # a new stroke: the previous one joins the product
    r.image()
    assert calls["_simplify"][-1] == 1 and calls["_paint"][-1] == 2
    r.apply_points(3, [[-10.0, 20.0, 10.0]])  # the box grows: everything again
    r.image()
    assert calls["_simplify"][-1] == 4 and calls["_paint"][-1] == 4


def _check(r: IncrementalRaster, calls: dict[str, list[int]], simplified: int, painted: int):
    """One image(): pixel-identical, after simplifying and painting that many strokes."""
    for v in calls.values():
        v.clear()
    assert np.array_equal(r.image(), _reference(r.strokes))
    assert (sum(calls["_simplify"]), sum(calls["_paint"])) == (simplified, painted)


@pytest.mark.parametrize("compiled", [True, False])
def test_cache_invalidation_rules(monkeypatch: pytest.MonkeyPatch, compiled: bool) -> None:
    """What each kind of update redoes (and that the caches it keeps are right):
    the canvas offset alone moves -> every stroke repainted, only the active one
    re-simplified; undo -> the re-exposed stroke leaves the product (repaint, nothing
    re-simplified while the normalization holds); clear -> nothing kept."""
    calls = _spy(monkeypatch)
    r = IncrementalRaster(compiled=compiled)
    r.apply_points(0, [[100.0, 26.0, 0.0], [12.0, 62.0, 1.0]])
    r.apply_points(1, [[3.0, 49.0, 2.0]])
    _check(r, calls, 2, 2)
    # the raw box grows along its shorter side: same normalization (corner, longer side),
    # but the simplified box, hence the canvas offset, moves
    r.apply_points(1, [[55.0, 77.0, 3.0]])
    _check(r, calls, 1, 2)
    r.apply_points(2, [[50.0, 50.0, 4.0], [60.0, 40.0, 5.0]])  # inside: active stroke only
    _check(r, calls, 1, 2)  # (stroke 1 joins the product)
    r.apply_points(2, [[40.0, 45.0, 6.0]])
    _check(r, calls, 1, 1)
    r.undo()  # stroke 1 is active again: the product is rebuilt, simplifications kept
    _check(r, calls, 0, 2)
    r.apply_points(1, [[30.0, 40.0, 7.0]])  # extending the re-exposed stroke
    _check(r, calls, 1, 1)
    r.apply_points(2, [])  # an empty stroke after it: stroke 1 stays the active one
    _check(r, calls, 0, 0)  # (nothing changed: the cached image)
    r.undo()
    r.undo()  # stroke 0 alone: the box shrinks, everything again
    _check(r, calls, 1, 1)
    r.clear()
    _check(r, calls, 0, 0)
    r.apply_points(0, [[5.0, 5.0, 8.0], [9.0, 7.0, 9.0]])  # nothing left from before clear
    _check(r, calls, 1, 1)
