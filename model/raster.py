"""The one rasterizer shared by training and serving.

Two steps turn a player's drawing into the 28x28 image the classifier sees:

* :func:`normalize` -- Google's *simplified* recipe: align to the top-left corner, scale
  uniformly so that the longer side spans 0..255, resample every stroke at 1-unit spacing,
  Ramer-Douglas-Peucker with epsilon 2.0, round to integers.
* :func:`rasterize` -- Google's ``numpy_bitmap`` recipe (cairo, quickdraw-dataset issue #19):
  256-unit canvas, drawing's bounding box centred, round lines of diameter 16, padding 16,
  the whole (256 + 48)-unit square scaled to 28x28, anti-aliased, ink 255 on 0.  Instead of
  cairo we evaluate an analytic anti-aliased coverage (distance from each pixel centre to
  the nearest segment, box-filtered edge) only at the pixels near each segment, vectorized
  in numpy.  Pixels of one stroke combine by ``max`` (cairo strokes a path as one shape);
  separate strokes combine with cairo's OVER operator.

Input conventions (both functions): a drawing is a sequence of strokes, a stroke is
``[xs, ys]`` or ``[xs, ys, ts]`` (equal lengths; timings are ignored), any coordinate space,
y grows downwards.  Numpy arrays are accepted too.

Degenerate input (defined behaviour):

* An empty drawing, or one whose strokes are all empty, normalizes to ``[]`` and rasterizes
  to an all-zero image.
* Points with a non-finite coordinate (NaN, +-inf) are **dropped**; strokes left without a
  point are dropped.
* A drawing whose points all coincide (single point, zero size) normalizes to one dot at
  ``(0, 0)`` per stroke and rasterizes to a centred dot.
* Malformed structure (a stroke that is not 2 or 3 equal-length sequences of numbers)
  raises :class:`DrawingError` (a ``ValueError``).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "IMAGE_SIZE",
    "RASTER_VERSION",
    "DrawingError",
    "drawing_to_image",
    "drawings_to_images",
    "normalize",
    "normalize_arrays",
    "rasterize",
    "rasterize_arrays",
]

#: Bump whenever the pixels produced for a given drawing change (artifacts record it).
RASTER_VERSION = "qd-cairo-analytic-1"

IMAGE_SIZE = 28
_CANVAS = 256.0  # Google's canvas side (units)
_LINE_DIAMETER = 16.0
_PADDING = 16.0
_TOTAL_PAD = 2.0 * _PADDING + _LINE_DIAMETER  # 48
_SCALE = IMAGE_SIZE / (_CANVAS + _TOTAL_PAD)  # 28 / 304 pixels per unit
_RADIUS = 0.5 * _LINE_DIAMETER * _SCALE  # line radius in pixels (~0.737)
_REACH = _RADIUS + 0.5  # coverage = clip(_REACH - distance, 0, 1)

_SIMPLIFIED_MAX = 255.0
_RESAMPLE_SPACING = 1.0
_RDP_EPSILON = 2.0

Drawing = Sequence[Any]
FloatArray = npt.NDArray[np.float64]


class DrawingError(ValueError):
    """The drawing is not a list of ``[xs, ys]`` / ``[xs, ys, ts]`` strokes of numbers."""


# --------------------------------------------------------------------------- parsing
#
# Internally a drawing is "flat": pts (N, 2) float64 plus bounds (S + 1,) int, the start
# index of every stroke followed by N.  Every stroke holds at least one point.

Flat = tuple[FloatArray, npt.NDArray[np.intp]]
_EMPTY: Flat = (np.zeros((0, 2)), np.zeros(1, dtype=np.intp))


def _parse(drawing: Drawing) -> Flat:
    """Any accepted drawing -> flat form, non-finite points and empty strokes dropped."""
    if drawing is None or isinstance(drawing, (str, bytes)):
        raise DrawingError("drawing must be a sequence of strokes")
    try:
        strokes = list(drawing)
    except TypeError as exc:
        raise DrawingError("drawing must be a sequence of strokes") from exc
    xs: list[Any] = []
    ys: list[Any] = []
    lengths: list[int] = []
    for stroke in strokes:
        try:
            n_dims = len(stroke)
            sx, sy = stroke[0], stroke[1]
            n = len(sx)
            ok = n_dims in (2, 3) and len(sy) == n and (n_dims == 2 or len(stroke[2]) == n)
        except (TypeError, IndexError, KeyError) as exc:
            raise DrawingError("a stroke must be [xs, ys] or [xs, ys, ts]") from exc
        if not ok or isinstance(sx, (str, bytes)) or isinstance(sy, (str, bytes)):
            raise DrawingError("a stroke must be [xs, ys] or [xs, ys, ts] of equal lengths")
        xs.append(sx)
        ys.append(sy)
        lengths.append(n)
    if not lengths or sum(lengths) == 0:
        return _EMPTY
    total = sum(lengths)
    try:
        if any(isinstance(v, np.ndarray) for v in xs):
            x = np.concatenate([np.asarray(v, dtype=np.float64).reshape(-1) for v in xs])
            y = np.concatenate([np.asarray(v, dtype=np.float64).reshape(-1) for v in ys])
        else:
            x = np.fromiter(chain.from_iterable(xs), dtype=np.float64, count=total)
            y = np.fromiter(chain.from_iterable(ys), dtype=np.float64, count=total)
    except (TypeError, ValueError) as exc:
        raise DrawingError(f"stroke coordinates must be numbers: {exc}") from exc
    if x.size != total or y.size != total:
        raise DrawingError("stroke coordinates must be flat sequences of numbers")
    pts = np.column_stack((x, y))
    counts = np.asarray(lengths, dtype=np.intp)
    finite = np.isfinite(pts).all(axis=1)
    if not finite.all():
        sid = np.repeat(np.arange(counts.size), counts)
        pts = pts[finite]
        counts = np.bincount(sid[finite], minlength=counts.size).astype(np.intp)
    counts = counts[counts > 0]
    if counts.size == 0:
        return _EMPTY
    bounds = np.concatenate(([0], np.cumsum(counts))).astype(np.intp)
    return pts, bounds


def _split(flat: Flat) -> list[FloatArray]:
    pts, bounds = flat
    return [pts[bounds[i] : bounds[i + 1]] for i in range(bounds.size - 1)]


def _join(strokes: Sequence[FloatArray]) -> Flat:
    strokes = [np.asarray(s, dtype=np.float64).reshape(-1, 2) for s in strokes]
    strokes = [s for s in strokes if len(s)]
    if not strokes:
        return _EMPTY
    counts = [len(s) for s in strokes]
    return np.concatenate(strokes), np.concatenate(([0], np.cumsum(counts))).astype(np.intp)


# --------------------------------------------------------------------------- normalize


def _stroke_ids(bounds: npt.NDArray[np.intp]) -> npt.NDArray[np.intp]:
    return np.repeat(np.arange(bounds.size - 1), np.diff(bounds))


def _length(dx: FloatArray, dy: FloatArray) -> FloatArray:
    """Euclidean length ``sqrt(dx*dx + dy*dy)``, one IEEE operation per numpy call.

    Every float result of this module comes from separate ``+ - * / sqrt`` ufunc calls, exact
    ``min``/``max``/``rint``/``ceil``/``floor`` and sequential ``cumsum``/``multiply`` chains:
    each is correctly rounded in IEEE 754 binary64 whatever the CPU or the SIMD loop numpy
    dispatches to.  ``np.hypot`` (libm's scaled algorithm) and complex ``abs``/multiply (fused
    multiply-add in some SIMD loops) are avoided because their last bit depends on both.
    """
    return np.sqrt(dx * dx + dy * dy)


def _resample(flat: Flat, spacing: float) -> Flat:
    """Points every ``spacing`` units along each stroke's polyline, plus its last point.

    The literal resampling step of the recipe; :func:`normalize` uses the equivalent, cheaper
    :func:`_resample_candidates` (this one is the reference the tests compare against)."""
    pts, bounds = flat
    n_strokes = bounds.size - 1
    sid = _stroke_ids(bounds)
    # drop consecutive duplicates inside a stroke (zero-length segments)
    same_stroke = sid[1:] == sid[:-1]
    dup = same_stroke & (pts[1:] == pts[:-1]).all(axis=1)
    if dup.any():
        keep = np.concatenate(([True], ~dup))
        pts, sid = pts[keep], sid[keep]
        same_stroke = sid[1:] == sid[:-1]
    seg = _length(np.diff(pts[:, 0]), np.diff(pts[:, 1]))
    seg[~same_stroke] = 0.0
    length = (
        np.bincount(sid[1:], weights=seg, minlength=n_strokes)
        if seg.size
        else (np.zeros(n_strokes))
    )
    # global arc-length axis with a gap between strokes so that positions never collide
    gap = 4.0 * spacing
    offset = np.concatenate(([0.0], np.cumsum(length + gap)[:-1]))
    step = np.where(same_stroke, seg, gap)
    gcum = np.concatenate(([0.0], np.cumsum(step)))
    # samples per stroke: 0, spacing, ... < length, then length itself
    n_reg = np.ceil(length / spacing).astype(np.intp)
    last_reg = (n_reg - 1) * spacing
    add_end = (length - last_reg) > 1e-9
    n_reg = np.maximum(n_reg, 1)  # zero-length stroke: its single point
    add_end &= length > 0.0
    counts = n_reg + add_end
    total = int(counts.sum())
    ssid = np.repeat(np.arange(n_strokes), counts)
    first = np.cumsum(counts) - counts
    k = np.arange(total) - first[ssid]
    local = np.minimum(k * spacing, length[ssid])
    pos = offset[ssid] + local
    out = np.column_stack((np.interp(pos, gcum, pts[:, 0]), np.interp(pos, gcum, pts[:, 1])))
    return out, np.concatenate(([0], np.cumsum(counts))).astype(np.intp)


def _resample_candidates(flat: Flat) -> Flat:
    """The subset of :func:`_resample`'s points (spacing 1) that RDP can ever keep.

    Along one original segment the resampled points are collinear, so their distance to any
    chord is |affine| along the run and peaks at the run's first or last point (the first
    one on ties).  RDP over these candidates therefore keeps exactly the points it keeps
    over the full resampling, at a cost proportional to the input's point count.
    """
    pts, bounds = flat
    n = pts.shape[0]
    sid = _stroke_ids(bounds)
    same_stroke = sid[1:] == sid[:-1]
    dup = same_stroke & (pts[1:, 0] == pts[:-1, 0]) & (pts[1:, 1] == pts[:-1, 1])
    if dup.any():
        keep = np.concatenate(([True], ~dup))
        pts, sid = pts[keep], sid[keep]
        n = pts.shape[0]
        same_stroke = sid[1:] == sid[:-1]
    d = pts[1:] - pts[:-1]
    seg = _length(d[:, 0], d[:, 1])
    seg[~same_stroke] = 0.0
    # arc length from the stroke's first point, summed from 0 stroke by stroke so that a
    # stroke's result never depends on the strokes (or drawings) before it
    is_start = np.concatenate(([True], ~same_stroke))
    starts = np.flatnonzero(is_start)
    local = np.zeros(n)
    for s0, s1 in zip(starts.tolist(), [*starts[1:].tolist(), n], strict=True):
        if s1 - s0 > 1:
            np.cumsum(seg[s0 : s1 - 1], out=local[s0 + 1 : s1])
    c0, c1 = local[:-1], local[1:]
    first = np.ceil(c0)
    last = np.ceil(c1) - 1.0
    is_last_pt = np.concatenate((~same_stroke, [True]))
    length = local[is_last_pt]  # per stroke
    # rows: per point i, candidates (first, last) of segment i (if inner) or the stroke's
    # end point (if i is the stroke's last point)
    cand = np.zeros((n, 2))
    valid = np.zeros((n, 2), dtype=bool)
    inner = np.flatnonzero(same_stroke)
    f, lst = first[inner], last[inner]
    ok = f <= lst
    cand[inner, 0] = f
    cand[inner, 1] = lst
    valid[inner, 0] = ok
    valid[inner, 1] = ok & (lst > f)
    ends = np.flatnonzero(is_last_pt)
    reg_last = np.ceil(length) - 1.0
    cand[ends, 0] = length
    valid[ends, 0] = (length == 0.0) | (length - reg_last > 1e-9)
    # positions -> coordinates by interpolation inside the owning segment
    owner = np.repeat(np.arange(n), 2).reshape(n, 2)
    flat_valid = valid.ravel()
    pos = cand.ravel()[flat_valid]
    own = owner.ravel()[flat_valid]
    own_seg = np.minimum(own, n - 2) if n > 1 else own
    is_end = is_last_pt[own]
    seg_len = seg[own_seg] if n > 1 else np.zeros_like(pos)
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(is_end | (seg_len <= 0.0), 0.0, (pos - local[own]) / seg_len)
    out = pts[own] + frac[:, None] * (d[own_seg] if n > 1 else 0.0)
    counts = np.bincount(sid[own], minlength=bounds.size - 1)
    return out, np.concatenate(([0], np.cumsum(counts))).astype(np.intp)


def _rdp_keep(pts: FloatArray, bounds: npt.NDArray[np.intp], eps: float) -> npt.NDArray[np.bool_]:
    """Ramer-Douglas-Peucker over several concatenated polylines at once.

    All open segments are split level by level in parallel, which keeps exactly the points
    recursive RDP keeps (each half is simplified independently of the others).  Distances
    are to the infinite line through the segment's ends (Euclidean distance when they
    coincide), as in the reference ``rdp`` implementation; ties go to the first point.
    Distances use real arithmetic only (see :func:`_length`).
    """
    n = len(pts)
    keep = np.zeros(n, dtype=bool)
    keep[bounds[:-1]] = True
    keep[bounds[1:] - 1] = True
    x, y = pts[:, 0], pts[:, 1]
    sid = _stroke_ids(bounds)
    idx = np.flatnonzero(~keep)  # open points, sorted, with their segment's ends a, b
    a = bounds[:-1][sid[idx]]
    b = bounds[1:][sid[idx]] - 1
    ox, oy = x[idx], y[idx]
    while idx.size:
        ax, ay = x[a], y[a]
        dx, dy = x[b] - ax, y[b] - ay
        px, py = ox - ax, oy - ay
        dist = np.abs(dx * py - dy * px)
        norm = _length(dx, dy)
        zero = norm == 0.0
        if zero.any():
            norm[zero] = 1.0
            dist[zero] = _length(px[zero], py[zero])
        dist /= norm
        # segments are runs of equal a (idx is sorted)
        new_group = np.empty(idx.size, dtype=bool)
        new_group[0] = True
        np.not_equal(a[1:], a[:-1], out=new_group[1:])
        starts = np.flatnonzero(new_group)
        gmax = np.maximum.reduceat(dist, starts)
        split = gmax > eps
        if not split.any():
            break
        gid = np.cumsum(new_group) - 1
        at_max = np.where(dist == gmax[gid], np.arange(idx.size), n)
        farthest = idx[np.minimum.reduceat(at_max, starts)]  # first farthest point per segment
        keep[farthest[split]] = True
        mp = farthest[gid]
        live = split[gid] & (idx != mp)
        idx, a, b, mp = idx[live], a[live], b[live], mp[live]
        ox, oy = ox[live], oy[live]
        right = idx > mp
        a = np.where(right, mp, a)
        b = np.where(right, b, mp)
    return keep


def _point_drawing(bounds: npt.NDArray[np.intp], sb: npt.NDArray[np.intp]) -> npt.NDArray[np.intp]:
    """Drawing index of every point (``sb``: stroke bounds per drawing)."""
    pb = bounds[sb]
    return np.repeat(np.arange(sb.size - 1), np.diff(pb))


def _unit_scale(extent: FloatArray) -> FloatArray:
    """The factor that makes the longer side ``extent`` span 0..255 (1 for a zero size)."""
    with np.errstate(divide="ignore"):
        return np.where(extent > 0.0, _SIMPLIFIED_MAX / extent, 1.0)


def _simplify(flat: Flat) -> Flat:
    """Resample + RDP + round strokes already scaled to 0..255.

    Stroke by stroke: a stroke's result never depends on the other strokes in ``flat``, and
    every stroke keeps at least its end points, so the stroke bounds are preserved.
    """
    pts, bounds = _resample_candidates(flat)
    keep = _rdp_keep(pts, bounds, _RDP_EPSILON)
    sid = _stroke_ids(bounds)[keep]
    pts = np.clip(np.rint(pts[keep]), 0.0, _SIMPLIFIED_MAX)
    counts = np.bincount(sid, minlength=bounds.size - 1)
    return pts, np.concatenate(([0], np.cumsum(counts))).astype(np.intp)


def _normalize_batch(flat: Flat, sb: npt.NDArray[np.intp]) -> Flat:
    """Normalize several non-empty drawings at once.

    ``flat`` holds all their strokes back to back and ``sb`` (D + 1,) the index of each
    drawing's first stroke followed by the stroke count; strokes stay in place (each keeps
    at least its end points), so ``sb`` also describes the result.  Every drawing gets its
    own top-left alignment and scale; resampling and RDP work stroke by stroke anyway.
    """
    pts, bounds = flat
    starts = bounds[sb[:-1]]
    lo = np.minimum.reduceat(pts, starts, axis=0)
    scale = _unit_scale((np.maximum.reduceat(pts, starts, axis=0) - lo).max(axis=1))
    pd = _point_drawing(bounds, sb)
    return _simplify(((pts - lo[pd]) * scale[pd, None], bounds))


def _normalize_flat(flat: Flat) -> Flat:
    pts, bounds = flat
    if pts.shape[0] == 0:
        return _EMPTY
    return _normalize_batch(flat, np.array([0, bounds.size - 1], dtype=np.intp))


def normalize_arrays(drawing: Drawing) -> list[FloatArray]:
    """Like :func:`normalize` but returns one (n, 2) float64 array (x, y) per stroke."""
    return _split(_normalize_flat(_parse(drawing)))


def normalize(drawing: Drawing) -> list[list[list[int]]]:
    """Simplify any drawing the way Google made the *simplified* Quick, Draw! data.

    Returns strokes ``[[x0, x1, ...], [y0, y1, ...]]`` of integers in 0..255 (top-left
    aligned, longer side spanning 0..255, timings dropped).  See the module docstring for
    degenerate input.
    """
    return [
        [s[:, 0].astype(int).tolist(), s[:, 1].astype(int).tolist()]
        for s in normalize_arrays(drawing)
    ]


# --------------------------------------------------------------------------- rasterize


def _canvas_offset(mid: FloatArray) -> FloatArray:
    """Translation (units) that centres a bounding box with ``min + max == mid`` on the
    256-unit canvas inside the padding.  Google's code uses the max only, assuming a minimum
    of 0, which holds for normalized strokes."""
    return (_CANVAS - mid) / 2.0 + _TOTAL_PAD / 2.0


def _stroke_coverage(p: FloatArray, bounds: npt.NDArray[np.intp]) -> FloatArray:
    """Coverage in [0, 1], (S, 784), of every stroke of ``(p, bounds)`` on its own (points in
    pixels): the union of its round-capped segments (``max``).  A stroke's row never depends
    on the other strokes."""
    n_strokes = bounds.size - 1
    npix = IMAGE_SIZE * IMAGE_SIZE
    sid = _stroke_ids(bounds)
    inner = np.flatnonzero(sid[1:] == sid[:-1])
    counts = np.diff(bounds)
    singles = bounds[:-1][counts == 1]  # one-point strokes are dots (round caps)
    ia = np.concatenate((inner, singles))
    ib = np.concatenate((inner + 1, singles))
    a, b = p[ia], p[ib]
    seg_stroke = sid[ia]

    # pixels whose centre (i + 0.5) lies within _REACH of the segment's bounding box
    lo = np.ceil(np.minimum(a, b) - _REACH - 0.5).astype(np.intp)
    hi = np.floor(np.maximum(a, b) + _REACH - 0.5).astype(np.intp)
    np.clip(lo, 0, IMAGE_SIZE - 1, out=lo)
    np.clip(hi, -1, IMAGE_SIZE - 1, out=hi)
    wx = np.maximum(hi[:, 0] - lo[:, 0] + 1, 0)
    wy = np.maximum(hi[:, 1] - lo[:, 1] + 1, 0)
    count = wx * wy
    total = int(count.sum())
    per = np.zeros(n_strokes * npix)
    if total == 0:
        return per.reshape(n_strokes, npix)
    seg = np.repeat(np.arange(len(a)), count)
    first = np.cumsum(count) - count
    k = np.arange(total) - first[seg]
    wxs = wx[seg]
    px = lo[seg, 0] + k % wxs
    py = lo[seg, 1] + k // wxs

    ax, ay = a[seg, 0], a[seg, 1]
    dx, dy = b[seg, 0] - ax, b[seg, 1] - ay
    qx, qy = px + 0.5 - ax, py + 0.5 - ay
    len2 = dx * dx + dy * dy
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(len2 > 0.0, (qx * dx + qy * dy) / len2, 0.0)
    np.clip(t, 0.0, 1.0, out=t)
    dist = _length(qx - t * dx, qy - t * dy)
    cov = np.clip(_REACH - dist, 0.0, 1.0)
    np.maximum.at(per, seg_stroke[seg] * npix + py * IMAGE_SIZE + px, cov)
    return per.reshape(n_strokes, npix)


def _raster_batch(flat: Flat, sb: npt.NDArray[np.intp]) -> npt.NDArray[np.float64]:
    """Coverage images in [0, 1], (D, 784), of several non-empty drawings (see
    :func:`_normalize_batch` for ``sb``).

    Cairo paints each stroke OVER the previous ones of its drawing: ``1 - prod(1 - alpha)``,
    multiplied stroke after stroke in drawing order; a one-stroke drawing is its stroke's
    coverage as is.
    """
    pts, bounds = flat
    starts = bounds[sb[:-1]]
    mid = np.minimum.reduceat(pts, starts, axis=0) + np.maximum.reduceat(pts, starts, axis=0)
    p = (pts + _canvas_offset(mid)[_point_drawing(bounds, sb)]) * _SCALE
    per = _stroke_coverage(p, bounds)
    single = np.diff(sb) == 1
    if single.all():
        return per
    img = 1.0 - np.multiply.reduceat(1.0 - per, sb[:-1], axis=0)
    if single.any():
        img[single] = per[sb[:-1][single]]
    return img


def _raster_flat(flat: Flat) -> npt.NDArray[np.float32]:
    """Coverage image in [0, 1], float32 (28, 28), of one drawing."""
    pts, bounds = flat
    if pts.shape[0] == 0:
        return np.zeros((IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
    img = _raster_batch(flat, np.array([0, bounds.size - 1], dtype=np.intp))
    return img.reshape(IMAGE_SIZE, IMAGE_SIZE).astype(np.float32)


def rasterize_arrays(strokes: Sequence[FloatArray]) -> npt.NDArray[np.float32]:
    """Coverage image in [0, 1], float32 (28, 28), from (n, 2) point arrays per stroke."""
    return _raster_flat(_join(strokes))


def _to_uint8(cov: npt.NDArray[np.float32]) -> npt.NDArray[np.uint8]:
    return np.rint(cov * 255.0).astype(np.uint8)


def rasterize(strokes: Drawing) -> npt.NDArray[np.uint8]:
    """Render *normalized* strokes (0..255 units, e.g. from :func:`normalize` or Google's
    simplified data) like Google's ``numpy_bitmap``: uint8 (28, 28), ink 255 on 0.

    The bounding box is centred on the 256-unit canvas; coordinates outside 0..255 are not
    rescaled (use :func:`drawing_to_image` for drawings in any coordinate space).
    """
    return _to_uint8(_raster_flat(_parse(strokes)))


#: drawings rasterized together by :func:`drawings_to_images` (bounds temporary memory)
_BATCH = 128


def drawings_to_images(drawings: Sequence[Drawing]) -> npt.NDArray[np.uint8]:
    """``drawing_to_image`` of many drawings, (N, 28, 28) uint8, identical pixels.

    Normalization and rasterization run vectorized over up to 128 drawings at a time, which
    amortizes numpy's per-call overhead: use this to batch across players.
    """
    out = np.zeros((len(drawings), IMAGE_SIZE * IMAGE_SIZE), dtype=np.uint8)
    parsed = [(i, f) for i, f in enumerate(_parse(d) for d in drawings) if f[0].shape[0]]
    for c in range(0, len(parsed), _BATCH):
        chunk = parsed[c : c + _BATCH]
        idx = np.array([i for i, _ in chunk], dtype=np.intp)
        pts = np.concatenate([f[0] for _, f in chunk])
        n_pts = np.array([f[0].shape[0] for _, f in chunk])
        n_str = np.array([f[1].size - 1 for _, f in chunk])
        pt_off = np.repeat(np.concatenate(([0], np.cumsum(n_pts)[:-1])), n_str)
        bounds = np.concatenate([f[1][:-1] for _, f in chunk]) + pt_off
        bounds = np.append(bounds, pts.shape[0]).astype(np.intp)
        sb = np.concatenate(([0], np.cumsum(n_str))).astype(np.intp)
        flat = _normalize_batch((pts, bounds), sb)
        out[idx] = _to_uint8(_raster_batch(flat, sb).astype(np.float32))
    return out.reshape(len(drawings), IMAGE_SIZE, IMAGE_SIZE)


def drawing_to_image(drawing: Drawing) -> npt.NDArray[np.uint8]:
    """The 28x28 uint8 image the classifier sees for a drawing in any coordinate space:
    ``rasterize(normalize(drawing))`` (computed without the int-list round trip)."""
    return _to_uint8(_raster_flat(_normalize_flat(_parse(drawing))))
