from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from model_test_helpers import read_ndjson

from model import DrawingError, drawing_to_image, drawings_to_images, normalize, rasterize
from model import raster as R


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel().astype(float), b.ravel().astype(float))[0, 1])


SQUARE_ISH = [
    [[10.0, 50.0, 90.0, 90.0, 10.0], [20.0, 25.0, 20.0, 70.0, 70.0]],
    [[30.0, 60.0], [40.0, 55.0]],
    [[50.0], [45.0]],
]


# ----------------------------------------------------------------------------- normalize


def test_normalize_output_range_and_alignment() -> None:
    out = normalize(SQUARE_ISH)
    xs = [x for s in out for x in s[0]]
    ys = [y for s in out for y in s[1]]
    assert all(isinstance(v, int) for v in xs + ys)
    assert min(xs) == 0 and min(ys) == 0
    assert max(max(xs), max(ys)) == 255
    assert max(xs) == 255  # the wider side spans 0..255
    assert len(out) == 3 and len(out[2][0]) == 1  # single-point stroke kept as a dot


def test_normalize_translation_invariant() -> None:
    moved = [[[x + 1234.5 for x in s[0]], [y - 77.25 for y in s[1]]] for s in SQUARE_ISH]
    assert normalize(moved) == normalize(SQUARE_ISH)


@pytest.mark.parametrize("factor", [0.01, 3.7, 1000.0])
def test_normalize_scale_invariant(factor: float) -> None:
    scaled = [[[x * factor for x in s[0]], [y * factor for y in s[1]]] for s in SQUARE_ISH]
    a, b = normalize(scaled), normalize(SQUARE_ISH)
    assert [len(s[0]) for s in a] == [len(s[0]) for s in b]
    diff = max(
        abs(p - q)
        for sa, sb in zip(a, b, strict=True)
        for u, v in zip(sa, sb, strict=True)
        for p, q in zip(u, v, strict=True)
    )
    assert diff <= 1  # float rounding at .5 only
    assert np.array_equal(rasterize(a), rasterize(b)) or _corr(rasterize(a), rasterize(b)) > 0.999


def test_normalize_accepts_timings_and_numpy() -> None:
    with_t = [[s[0], s[1], list(range(len(s[0])))] for s in SQUARE_ISH]
    as_np = [np.asarray(s[:2]) for s in SQUARE_ISH]
    assert normalize(with_t) == normalize(SQUARE_ISH) == normalize(as_np)


def test_normalize_simplifies_dense_lines() -> None:
    # a straight line sampled densely collapses to its two ends
    xs = list(np.linspace(0, 300, 500))
    ys = [2.0 * x + 5 for x in xs]
    out = normalize([[xs, ys]])
    assert out == [[[0, 128], [0, 255]]]


def test_normalize_rdp_matches_full_resampling(qd_dir: Path) -> None:
    """The candidate shortcut keeps the points that resampling every unit + RDP keeps.

    Exact in real arithmetic; float noise can break near-ties between resampled points of a
    segment nearly parallel to a chord, so allow rare one-off differences.
    """
    recs = read_ndjson(qd_dir / "raw" / "cat.ndjson", limit=25)
    recs += read_ndjson(qd_dir / "raw" / "bicycle.ndjson", limit=25)
    exact = 0
    for rec in recs:
        pts, bounds = R._parse(rec["drawing"])
        lo = pts.min(axis=0)
        scaled = ((pts - lo) * 255.0 / (pts.max(axis=0) - lo).max(), bounds)
        fp, fb = R._resample(scaled, 1.0)
        kf = R._rdp_keep(fp, fb, 2.0)
        cp, cb = R._resample_candidates(scaled)
        kc = R._rdp_keep(cp, cb, 2.0)
        full, fast = fp[kf], cp[kc]
        assert abs(len(full) - len(fast)) <= 2
        if full.shape == fast.shape and np.abs(full - fast).max() <= 1.0 + 1e-6:
            exact += 1
        img_full = R._to_uint8(R._raster_flat((np.rint(full), _bounds(R._stroke_ids(fb)[kf]))))
        img_fast = R._to_uint8(R._raster_flat((np.rint(fast), _bounds(R._stroke_ids(cb)[kc]))))
        assert _corr(img_full, img_fast) > 0.99
    assert exact >= 0.9 * len(recs)


def _bounds(sid: np.ndarray) -> np.ndarray:
    return np.concatenate(([0], np.cumsum(np.bincount(sid)))).astype(np.intp)


def test_normalize_raw_close_to_google_simplified(qd_dir: Path) -> None:
    """Our simplification of raw drawings renders like Google's simplified version."""
    simp = {r["key_id"]: r["drawing"] for r in read_ndjson(qd_dir / "simplified" / "cat.ndjson")}
    corrs, ratio = [], []
    for rec in read_ndjson(qd_dir / "raw" / "cat.ndjson"):
        if rec["key_id"] in simp:
            ours = normalize(rec["drawing"])
            google = simp[rec["key_id"]]
            corrs.append(_corr(rasterize(ours), rasterize(google)))
            ratio.append(sum(len(s[0]) for s in ours) / sum(len(s[0]) for s in google))
    assert len(corrs) >= 10
    assert np.median(corrs) > 0.99
    assert 0.8 < np.median(ratio) < 1.25


@pytest.mark.parametrize(
    "drawing",
    [[], [[[], []]], [[[], [], []]], [[[math.nan], [1.0]]], [[[math.inf, 2.0], [1.0, math.nan]]]],
)
def test_normalize_empty_and_all_nonfinite(drawing: Any) -> None:
    assert normalize(drawing) == []
    img = drawing_to_image(drawing)
    assert img.shape == (28, 28) and img.dtype == np.uint8 and not img.any()


def test_normalize_drops_nonfinite_points() -> None:
    clean = [[[0.0, 10.0, 20.0], [0.0, 10.0, 0.0]]]
    dirty = [[[0.0, math.nan, 10.0, 20.0, 5.0], [0.0, 3.0, 10.0, 0.0, math.inf]], [[math.nan], [1]]]
    assert normalize(dirty) == normalize(clean)


@pytest.mark.parametrize(
    "drawing", [[[[5.0], [7.0]]], [[[3, 3, 3], [9, 9, 9]]], [[[1, 1], [2, 2]], [[1], [2]]]]
)
def test_normalize_zero_size(drawing: Any) -> None:
    out = normalize(drawing)
    assert all(s == [[0], [0]] for s in out)
    img = drawing_to_image(drawing)
    # a dot of diameter 16 units at the canvas centre (pixel corner 14, 14)
    centre = img[13:15, 13:15]
    assert centre.min() > 100 and centre.min() == centre.max()
    assert img.sum() == centre.sum() + img[12:16, 12:16].sum() - centre.sum()


@pytest.mark.parametrize(
    "drawing",
    [
        None,
        "abc",
        [[1, 2, 3]],
        [[[1, 2], [3]]],
        [[[1, 2], [3, 4], [5]]],
        [[["a", "b"], [1, 2]]],
        [[[1, 2]]],
        [5],
        [[[[1, 2]], [[3, 4]]]],
    ],
)
def test_malformed_drawings_raise(drawing: Any) -> None:
    with pytest.raises(DrawingError):
        normalize(drawing)
    with pytest.raises(ValueError):  # DrawingError is a ValueError
        drawing_to_image(drawing)


# ----------------------------------------------------------------------------- rasterize


def test_rasterize_shape_dtype_and_empty() -> None:
    img = rasterize(normalize(SQUARE_ISH))
    assert img.shape == (28, 28) and img.dtype == np.uint8 and img.max() == 255
    assert not rasterize([]).any()


def test_rasterize_is_centred_and_padded() -> None:
    img = rasterize([[[0, 255], [128, 128]]])  # horizontal line through the middle
    cols = np.flatnonzero(img.any(axis=0))
    rows = np.flatnonzero(img.any(axis=1))
    assert cols.min() >= 1 and cols.max() <= 26  # 16-unit padding + line radius
    assert abs((cols.min() + cols.max()) / 2 - 13.5) <= 0.5
    assert abs((rows.min() + rows.max()) / 2 - 13.5) <= 0.5
    assert np.array_equal(img, img[:, ::-1])


def test_drawing_to_image_is_rasterize_of_normalize(qd_dir: Path) -> None:
    for rec in read_ndjson(qd_dir / "raw" / "airplane.ndjson", limit=20):
        assert np.array_equal(
            drawing_to_image(rec["drawing"]), rasterize(normalize(rec["drawing"]))
        )


def test_rasterizer_fidelity_vs_google_bitmaps(paired: list[tuple[str, Any, np.ndarray]]) -> None:
    """Simplified drawing index i rendered by us vs Google's bitmap row i (same category)."""
    corrs = np.array([_corr(rasterize(d), g) for _, d, g in paired])
    assert len(corrs) >= 400
    assert np.median(corrs) >= 0.99
    assert np.percentile(corrs, 5) >= 0.98
    mae = np.median(
        [np.abs(rasterize(d).astype(int) - g.astype(int)).mean() for _, d, g in paired[:100]]
    )
    assert mae < 3.0  # mean absolute pixel error, out of 255


def test_raw_path_fidelity_vs_google_bitmaps(qd_dir: Path) -> None:
    """Raw canvas drawings through normalize + rasterize also match Google's bitmaps."""
    corrs = []
    for cat in ("cat", "airplane", "eye"):
        with np.load(qd_dir / "bitmaps" / f"{cat}.npz") as z:
            images, rows = z["images"], z["rows"]
        pos = {int(r): images[i] for i, r in enumerate(rows)}
        for rec in read_ndjson(qd_dir / "raw" / f"{cat}.ndjson"):
            if rec["index"] in pos:
                corrs.append(_corr(drawing_to_image(rec["drawing"]), pos[rec["index"]]))
    assert len(corrs) >= 20
    assert np.median(corrs) >= 0.99


def test_batched_images_equal_single(qd_dir: Path) -> None:
    """drawings_to_images vectorizes across drawings without changing a single pixel."""
    drawings: list[Any] = []
    for cat in ("cat", "bicycle", "eye", "map"):
        drawings += [r["drawing"] for r in read_ndjson(qd_dir / "raw" / f"{cat}.ndjson", 15)]
        drawings += [r["drawing"] for r in read_ndjson(qd_dir / "simplified" / f"{cat}.ndjson", 15)]
    drawings += [[], [[[5.0], [5.0]]], [[[math.nan], [1.0]]], SQUARE_ISH]
    drawings = drawings[::2] + drawings[1::2]  # mix sources and degenerate cases
    single = np.stack([drawing_to_image(d) for d in drawings])
    batch = drawings_to_images(drawings)
    assert batch.shape == (len(drawings), 28, 28) and batch.dtype == np.uint8
    assert np.array_equal(batch, single)
    assert drawings_to_images([]).shape == (0, 28, 28)
    with pytest.raises(DrawingError):
        drawings_to_images([SQUARE_ISH, [[[1, 2], [3]]]])


def _image_hashes(drawings: list[Any]) -> list[str]:
    """sha256 of drawings_to_images(drawings), and of IncrementalRaster's image (compiled
    kernels) after each stroke of each drawing."""
    from model import IncrementalRaster

    inc = hashlib.sha256()
    for d in drawings:
        r = IncrementalRaster()
        assert r.compiled
        for i, (xs, ys, ts) in enumerate(d):
            r.apply_points(i, [list(p) for p in zip(xs, ys, ts, strict=True)])
            inc.update(r.image().tobytes())
    return [hashlib.sha256(drawings_to_images(drawings).tobytes()).hexdigest(), inc.hexdigest()]


_CHILD = """
import json, sys
sys.path.insert(0, sys.argv[1])
from test_model_raster import _image_hashes
print(*_image_hashes(json.load(open(sys.argv[2]))))
"""


def test_pixels_do_not_depend_on_simd_dispatch(qd_dir: Path, tmp_path: Path) -> None:
    """The same pixels with numpy's SIMD loops for this CPU and with its baseline loops only
    (NPY_DISABLE_CPU_FEATURES), and with numba compiling for a generic CPU.

    Before the rasterizer avoided np.hypot and complex abs/multiply, 29 of the 7,843 raw
    drawings rendered differently under AVX-512 and AVX2 dispatch on an AVX-512 machine."""
    from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__

    files = sorted((qd_dir / "raw").glob("*.ndjson"))[::3]
    drawings = [rec["drawing"] for f in files for rec in read_ndjson(f)]
    data = tmp_path / "drawings.json"
    data.write_text(json.dumps(drawings))
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        "OMP_NUM_THREADS": "1",
        "NPY_DISABLE_CPU_FEATURES": " ".join(f for f in __cpu_dispatch__ if __cpu_features__[f]),
        "NUMBA_CPU_NAME": "generic",
        "NUMBA_CACHE_DIR": str(tmp_path / "numba"),
    }
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, str(Path(__file__).parent), str(data)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    assert len(drawings) > 2000
    assert child.stdout.split() == _image_hashes(drawings)
