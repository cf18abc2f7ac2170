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
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "IMAGE_SIZE",
    "RASTER_VERSION",
    "DrawingError",
    "drawing_to_image",
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


def _stroke_points(stroke: Any) -> FloatArray:
    """One stroke -> (n, 2) float64 array with non-finite points removed."""
    try:
        arr = np.asarray(stroke, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DrawingError(f"stroke is not [xs, ys] or [xs, ys, ts] of numbers: {exc}") from exc
    if arr.ndim != 2 or arr.shape[0] not in (2, 3):
        raise DrawingError(
            f"stroke must be [xs, ys] or [xs, ys, ts] of equal lengths, got shape {arr.shape}"
        )
    pts = arr[:2].T
    finite = np.isfinite(pts).all(axis=1)
    if not finite.all():
        pts = pts[finite]
    return pts


def _parse(drawing: Drawing) -> list[FloatArray]:
    if drawing is None:
        raise DrawingError("drawing is None")
    if isinstance(drawing, np.ndarray) and drawing.dtype != object and drawing.ndim == 3:
        strokes = [drawing[i] for i in range(drawing.shape[0])]
    else:
        try:
            strokes = list(drawing)
        except TypeError as exc:
            raise DrawingError("drawing must be a sequence of strokes") from exc
    out = []
    for stroke in strokes:
        pts = _stroke_points(stroke)
        if len(pts):
            out.append(pts)
    return out


# --------------------------------------------------------------------------- normalize


def _resample(pts: FloatArray, spacing: float) -> FloatArray:
    """Points every ``spacing`` units along the polyline, plus its last point."""
    if len(pts) < 2:
        return pts
    seg = np.hypot(np.diff(pts[:, 0]), np.diff(pts[:, 1]))
    cum = np.concatenate(([0.0], np.cumsum(seg)))
    total = cum[-1]
    if total <= 0.0:
        return pts[:1]
    pos = np.arange(0.0, total, spacing)
    if total - pos[-1] > 1e-9:
        pos = np.append(pos, total)
    # np.interp needs increasing xp; zero-length segments give repeated values, which is fine
    # for positions strictly inside the non-degenerate segments.
    return np.column_stack((np.interp(pos, cum, pts[:, 0]), np.interp(pos, cum, pts[:, 1])))


def _rdp_keep(pts: FloatArray, bounds: npt.NDArray[np.intp], eps: float) -> npt.NDArray[np.bool_]:
    """Ramer-Douglas-Peucker over several concatenated polylines at once.

    ``bounds`` holds the start index of every polyline plus ``len(pts)``.  All open segments
    are split level by level in parallel, which keeps exactly the points recursive RDP keeps
    (each half is simplified independently of the others).  Distances are to the infinite
    line through the segment's ends (Euclidean distance when they coincide), as in the
    reference ``rdp`` implementation.
    """
    n = len(pts)
    keep = np.zeros(n, dtype=bool)
    keep[bounds[:-1]] = True
    keep[bounds[1:] - 1] = True
    open_idx = np.flatnonzero(~keep)  # candidates still inside an unfinished segment
    x, y = pts[:, 0], pts[:, 1]
    while open_idx.size:
        kept = np.flatnonzero(keep)
        pos = np.searchsorted(kept, open_idx)
        a = kept[pos - 1]
        b = kept[pos]
        ax, ay = x[a], y[a]
        dx, dy = x[b] - ax, y[b] - ay
        px, py = x[open_idx] - ax, y[open_idx] - ay
        norm = np.hypot(dx, dy)
        cross = np.abs(dx * py - dy * px)
        with np.errstate(divide="ignore", invalid="ignore"):
            dist = np.where(norm > 0.0, cross / norm, np.hypot(px, py))
        # group by segment (identified by its start a; open_idx is sorted so groups are runs)
        starts = np.flatnonzero(np.concatenate(([True], a[1:] != a[:-1])))
        gmax = np.maximum.reduceat(dist, starts)
        gid = np.repeat(np.arange(starts.size), np.diff(np.append(starts, dist.size)))
        is_max = dist == gmax[gid]
        big = np.iinfo(np.intp).max
        first = np.minimum.reduceat(np.where(is_max, np.arange(dist.size), big), starts)
        split = gmax > eps
        keep[open_idx[first[split]]] = True
        still_open = split[gid]
        still_open &= ~keep[open_idx]
        open_idx = open_idx[still_open]
    return keep


def normalize_arrays(drawing: Drawing) -> list[FloatArray]:
    """Like :func:`normalize` but returns one (n, 2) float64 array (x, y) per stroke."""
    strokes = _parse(drawing)
    if not strokes:
        return []
    allpts = np.concatenate(strokes)
    lo = allpts.min(axis=0)
    extent = float((allpts.max(axis=0) - lo).max())
    scale = _SIMPLIFIED_MAX / extent if extent > 0.0 else 1.0
    strokes = [_resample((s - lo) * scale, _RESAMPLE_SPACING) for s in strokes]
    lengths = np.array([len(s) for s in strokes])
    bounds = np.concatenate(([0], np.cumsum(lengths))).astype(np.intp)
    pts = np.concatenate(strokes)
    keep = _rdp_keep(pts, bounds, _RDP_EPSILON)
    pts = np.clip(np.rint(pts), 0.0, _SIMPLIFIED_MAX)
    return [pts[bounds[i] : bounds[i + 1]][keep[bounds[i] : bounds[i + 1]]] for i in range(len(strokes))]


def normalize(drawing: Drawing) -> list[list[list[int]]]:
    """Simplify any drawing the way Google made the *simplified* Quick, Draw! data.

    Returns strokes ``[[x0, x1, ...], [y0, y1, ...]]`` of integers in 0..255 (top-left
    aligned, longer side spanning 0..255, timings dropped).  See the module docstring for
    degenerate input.
    """
    return [[s[:, 0].astype(int).tolist(), s[:, 1].astype(int).tolist()] for s in normalize_arrays(drawing)]


# --------------------------------------------------------------------------- rasterize


def rasterize_arrays(strokes: Sequence[FloatArray]) -> npt.NDArray[np.float32]:
    """Coverage image in [0, 1], float32 (28, 28), from (n, 2) point arrays."""
    strokes = [s for s in strokes if len(s)]
    if not strokes:
        return np.zeros((IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
    allpts = np.concatenate(strokes)
    # Google centres the bounding box on the 256 canvas (their code uses the max only,
    # assuming a minimum of 0, which holds for normalized strokes).
    offset = (_CANVAS - (allpts.min(axis=0) + allpts.max(axis=0))) / 2.0 + _TOTAL_PAD / 2.0

    seg_a: list[FloatArray] = []
    seg_b: list[FloatArray] = []
    seg_stroke: list[npt.NDArray[np.intp]] = []
    for i, s in enumerate(strokes):
        p = (s + offset) * _SCALE
        if len(p) == 1:
            a = b = p
        else:
            a, b = p[:-1], p[1:]
        seg_a.append(a)
        seg_b.append(b)
        seg_stroke.append(np.full(len(a), i, dtype=np.intp))
    a = np.concatenate(seg_a)
    b = np.concatenate(seg_b)
    sid = np.concatenate(seg_stroke)

    # pixels whose centre (i + 0.5) lies within _REACH of the segment's bounding box
    lo = np.ceil(np.minimum(a, b) - _REACH - 0.5).astype(np.intp)
    hi = np.floor(np.maximum(a, b) + _REACH - 0.5).astype(np.intp)
    np.clip(lo, 0, IMAGE_SIZE - 1, out=lo)
    np.clip(hi, -1, IMAGE_SIZE - 1, out=hi)
    wx = np.maximum(hi[:, 0] - lo[:, 0] + 1, 0)
    wy = np.maximum(hi[:, 1] - lo[:, 1] + 1, 0)
    count = wx * wy
    total = int(count.sum())
    if total == 0:
        return np.zeros((IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
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
    dist = np.hypot(qx - t * dx, qy - t * dy)
    cov = np.clip(_REACH - dist, 0.0, 1.0)

    n_strokes = len(strokes)
    pix = py * IMAGE_SIZE + px
    if n_strokes == 1:
        img = np.zeros(IMAGE_SIZE * IMAGE_SIZE)
        np.maximum.at(img, pix, cov)
    else:
        per = np.zeros(n_strokes * IMAGE_SIZE * IMAGE_SIZE)
        np.maximum.at(per, sid[seg] * (IMAGE_SIZE * IMAGE_SIZE) + pix, cov)
        # cairo paints each stroke OVER the previous ones: 1 - prod(1 - alpha)
        img = 1.0 - np.prod(1.0 - per.reshape(n_strokes, -1), axis=0)
    return img.reshape(IMAGE_SIZE, IMAGE_SIZE).astype(np.float32)


def _to_uint8(cov: npt.NDArray[np.float32]) -> npt.NDArray[np.uint8]:
    return np.rint(cov * 255.0).astype(np.uint8)


def rasterize(strokes: Drawing) -> npt.NDArray[np.uint8]:
    """Render *normalized* strokes (0..255 units, e.g. from :func:`normalize` or Google's
    simplified data) like Google's ``numpy_bitmap``: uint8 (28, 28), ink 255 on 0.

    The bounding box is centred on the 256-unit canvas; coordinates outside 0..255 are not
    rescaled (use :func:`drawing_to_image` for drawings in any coordinate space).
    """
    return _to_uint8(rasterize_arrays(_parse(strokes)))


def drawing_to_image(drawing: Drawing) -> npt.NDArray[np.uint8]:
    """The 28x28 uint8 image the classifier sees for a drawing in any coordinate space:
    ``rasterize(normalize(drawing))`` (computed without the int-list round trip)."""
    return _to_uint8(rasterize_arrays(normalize_arrays(drawing)))
