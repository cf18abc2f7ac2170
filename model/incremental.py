"""Per-player incremental rasterizer: the image of a drawing being streamed, redoing only
what an update changed.

:class:`IncrementalRaster` keeps a drawing's raw strokes and, next to them:

* per stroke, its finite raw points in a growing float64 buffer (``apply_points`` converts
  the new points to floats and updates the raw bounding boxes in plain Python; the buffer is
  filled at the next :meth:`~IncrementalRaster.image`), and its simplified points (resample
  + RDP + round, :func:`model.raster._simplify`) with their box, valid while the
  normalization (top-left corner and scale of the raw bounding box) stays the same.  An
  update re-simplifies only the strokes it touched (the active one); a change of the
  bounding box's corner or longer side re-simplifies every stroke;
* the union of the finished strokes' simplified boxes, so that the canvas offset (centre
  of the simplified bounding box) costs one union per update;
* the product ``prod(1 - coverage)`` of the finished strokes (all but the last non-empty
  one), valid while the canvas offset stays the same.  An update rasterizes only the active
  stroke and composites it over that product straight into the uint8 image;
* the last image, returned as is while nothing changed.

A stroke's simplification and coverage never depend on the other strokes, so they are
computed per stroke with the reference's arithmetic: numba kernels that transcribe
:mod:`model.raster`'s vectorized steps operation for operation (when numba is installed), or
those numpy functions themselves.  The OVER product is accumulated stroke after stroke in
drawing order as the reference's, so :meth:`IncrementalRaster.image` is pixel-identical to
:func:`model.drawing_to_image` of the strokes so far (tested on every prefix of real
drawings, both paths).  Work happens lazily in :meth:`~IncrementalRaster.image`, so several
updates between two images cost one refresh.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Sequence
from math import inf
from typing import Any

import numpy as np
import numpy.typing as npt

from model.raster import (
    _RDP_EPSILON,
    _REACH,
    _SCALE,
    _SIMPLIFIED_MAX,
    IMAGE_SIZE,
    FloatArray,
    _canvas_offset,
    _join,
    _simplify,
    _split,
    _stroke_coverage,
    _to_uint8,
)

__all__ = ["IncrementalRaster"]

_NPIX = IMAGE_SIZE * IMAGE_SIZE

#: numba is optional (extra "fast"); it is imported at the first compiled image()
HAVE_NUMBA = importlib.util.find_spec("numba") is not None


@functools.cache
def _kernels() -> tuple[Any, Any]:
    """The two kernels below compiled by numba (IEEE semantics: no fastmath, so no contraction
    into fused multiply-adds and no reassociation), loaded from numba's cache when there."""
    import numba

    jit = numba.njit(cache=True, nogil=True)
    return jit(_simplify_kernel), jit(_paint_kernel)


Box = tuple[float, float, float, float]  # min x, min y, max x, max y

# ------------------------------------------------------------------ compiled kernels
#
# Scalar transcriptions of model.raster's vectorized steps for ONE stroke, doing the same
# IEEE operations in the same order, so that their results are bit-identical (tested against
# the numpy path and drawing_to_image).


def _simplify_kernel(
    xy: FloatArray, lo_x: float, lo_y: float, scale: float
) -> tuple[FloatArray, Box]:
    """Simplified points of one raw stroke scaled by ``(xy - lo) * scale``: model.raster's
    ``_simplify`` (``_resample_candidates`` + ``_rdp_keep`` + round) for a single stroke,
    and their bounding box."""
    n_in = xy.shape[0]
    x = np.empty(n_in)
    y = np.empty(n_in)
    n = 0
    for i in range(n_in):  # scale, dropping consecutive duplicates
        px = (xy[i, 0] - lo_x) * scale
        py = (xy[i, 1] - lo_y) * scale
        if n == 0 or px != x[n - 1] or py != y[n - 1]:
            x[n] = px
            y[n] = py
            n += 1
    # arc length from the first point, and the candidates (first / last resampled point of
    # every segment, then the stroke's end point)
    local = np.zeros(n)
    for i in range(1, n):
        dx = x[i] - x[i - 1]
        dy = y[i] - y[i - 1]
        seg = np.sqrt(dx * dx + dy * dy)
        local[i] = local[i - 1] + seg  # cumsum order
    cx = np.empty(2 * n)
    cy = np.empty(2 * n)
    m = 0
    for i in range(n - 1):
        dx = x[i + 1] - x[i]
        dy = y[i + 1] - y[i]
        seg = np.sqrt(dx * dx + dy * dy)
        first = np.ceil(local[i])
        last = np.ceil(local[i + 1]) - 1.0
        for k in range(2):  # candidates first (if first <= last) and last (if > first)
            pos = first if k == 0 else last
            if first <= last and (k == 0 or last > first):
                frac = (pos - local[i]) / seg if seg > 0.0 else 0.0
                cx[m] = x[i] + frac * dx
                cy[m] = y[i] + frac * dy
                m += 1
    length = local[n - 1]
    if length == 0.0 or length - (np.ceil(length) - 1.0) > 1e-9:
        cx[m] = x[n - 1]
        cy[m] = y[n - 1]
        m += 1
    # Ramer-Douglas-Peucker, first farthest point on ties
    keep = np.zeros(m, dtype=np.bool_)
    keep[0] = True
    keep[m - 1] = True
    stack = [(0, m - 1)]
    while stack:
        a, b = stack.pop()
        dx = cx[b] - cx[a]
        dy = cy[b] - cy[a]
        norm = np.sqrt(dx * dx + dy * dy)
        best = -1.0
        far = -1
        for i in range(a + 1, b):
            px = cx[i] - cx[a]
            py = cy[i] - cy[a]
            dist = np.abs(dx * py - dy * px) if norm != 0.0 else np.sqrt(px * px + py * py)
            dist /= norm if norm != 0.0 else 1.0
            if dist > best:
                best = dist
                far = i
        if far >= 0 and best > _RDP_EPSILON:
            keep[far] = True
            stack.append((a, far))
            stack.append((far, b))
    out = np.empty((keep.sum(), 2))
    k = 0
    lo_x = lo_y = _SIMPLIFIED_MAX
    hi_x = hi_y = 0.0
    for i in range(m):  # round, clip into 0..255 (np.clip(np.rint(...))), and the box
        if keep[i]:
            sx = min(max(np.rint(cx[i]), 0.0), _SIMPLIFIED_MAX)
            sy = min(max(np.rint(cy[i]), 0.0), _SIMPLIFIED_MAX)
            out[k, 0] = sx
            out[k, 1] = sy
            lo_x, lo_y, hi_x, hi_y = min(lo_x, sx), min(lo_y, sy), max(hi_x, sx), max(hi_y, sy)
            k += 1
    return out, (lo_x, lo_y, hi_x, hi_y)


def _paint_kernel(
    pts: FloatArray,
    off_x: float,
    off_y: float,
    prod: FloatArray,
    out: npt.NDArray[np.uint8],
    alone: bool,
) -> None:
    """``_stroke_coverage`` of one simplified stroke placed at ``(pts + off) * _SCALE``,
    then composited: with an empty ``out``, the stroke joins the OVER product
    (``prod *= 1 - coverage``); else ``out`` gets the image ``1 - prod * (1 - coverage)``
    (the coverage itself when the stroke is ``alone``) as ``_to_uint8`` of its float32."""
    n = pts.shape[0]
    px = np.empty(n)
    py = np.empty(n)
    for i in range(n):
        px[i] = (pts[i, 0] + off_x) * _SCALE
        py[i] = (pts[i, 1] + off_y) * _SCALE
    per = np.zeros(_NPIX)
    for s in range(max(n - 1, 1)):
        e = min(s + 1, n - 1)  # a one-point stroke is the dot segment (p0, p0)
        ax, ay, bx, by = px[s], py[s], px[e], py[e]
        x0 = min(max(int(np.ceil(min(ax, bx) - _REACH - 0.5)), 0), IMAGE_SIZE - 1)
        y0 = min(max(int(np.ceil(min(ay, by) - _REACH - 0.5)), 0), IMAGE_SIZE - 1)
        x1 = min(max(int(np.floor(max(ax, bx) + _REACH - 0.5)), -1), IMAGE_SIZE - 1)
        y1 = min(max(int(np.floor(max(ay, by) + _REACH - 0.5)), -1), IMAGE_SIZE - 1)
        dx = bx - ax
        dy = by - ay
        len2 = dx * dx + dy * dy
        for iy in range(y0, y1 + 1):
            qy = (iy + 0.5) - ay
            for ix in range(x0, x1 + 1):
                qx = (ix + 0.5) - ax
                t = (qx * dx + qy * dy) / len2 if len2 > 0.0 else 0.0
                t = min(max(t, 0.0), 1.0)
                ex = qx - t * dx
                ey = qy - t * dy
                cov = min(max(_REACH - np.sqrt(ex * ex + ey * ey), 0.0), 1.0)
                j = iy * IMAGE_SIZE + ix
                if cov > per[j]:
                    per[j] = cov
    if out.size == 0:
        for j in range(_NPIX):
            prod[j] *= 1.0 - per[j]
        return
    for j in range(_NPIX):  # np.rint(float32(v) * 255.0) in float32, then uint8
        v = np.float32(per[j] if alone else 1.0 - prod[j] * (1.0 - per[j]))
        out[j] = np.uint8(np.rint(v * np.float32(255.0)))


def _union(a: Box | None, b: Box) -> Box:
    if a is None:
        return b
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def _box(xy: FloatArray) -> Box:
    lo, hi = xy.min(axis=0).tolist(), xy.max(axis=0).tolist()
    return (lo[0], lo[1], hi[0], hi[1])


_TEXT = frozenset((str, bytes))  # not rows of numbers, though indexable
_NO_IMAGE = np.zeros(0, dtype=np.uint8)  # _paint_kernel's ``out`` for a finished stroke


class _Stroke:
    """One stroke's finite raw points and its cached simplification."""

    __slots__ = ("box", "buf", "n", "pending", "simple", "simple_box")

    def __init__(self) -> None:
        self.buf = np.empty((0, 2))  # the first ``n`` rows: (x, y) float64 finite raw points
        self.n = 0
        self.pending: list[tuple[float, float]] = []  # raw points not yet in ``buf``
        self.box: Box | None = None  # of the raw points, None while the stroke is empty
        self.simple: FloatArray | None = None  # simplified points under IncrementalRaster._norm
        self.simple_box: Box = (0.0, 0.0, 0.0, 0.0)

    def add(self, xy: list[tuple[float, float]]) -> Box | None:
        """Append the finite ones of points ``xy``; the stroke's new raw box (None when none
        of them is finite: nothing changed)."""
        lx, ly, hx, hy = self.box or (inf, inf, -inf, -inf)
        finite = True
        for x, y in xy:
            if x - x or y - y:  # nan, not 0.0: a non-finite coordinate
                finite = False
                continue
            if x < lx:
                lx = x
            if x > hx:
                hx = x
            if y < ly:
                ly = y
            if y > hy:
                hy = y
        if not finite:
            xy = [(x, y) for x, y in xy if not (x - x or y - y)]
            if not xy:
                return None
        self.box = box = (lx, ly, hx, hy)
        self.pending += xy
        self.simple = None
        return box

    def points(self) -> FloatArray:
        """(n, 2) C-contiguous view of the raw points (the pending ones appended)."""
        if self.pending:
            end = self.n + len(self.pending)
            if end > len(self.buf):  # grow geometrically: amortized O(1) copies per point
                buf = np.empty((max(2 * end, 64), 2))
                buf[: self.n] = self.buf[: self.n]
                self.buf = buf
            self.buf[self.n : end] = self.pending
            self.n, self.pending = end, []
        return self.buf[: self.n]

    def set_simple(self, simple: FloatArray, box: Box) -> None:
        self.simple, self.simple_box = simple, box


class IncrementalRaster:
    """The 28x28 image of one drawing being streamed, updated incrementally.

    ``image()`` equals ``model.drawing_to_image(strokes)`` (strokes as ``[xs, ys]``) pixel for
    pixel.  ``strokes`` holds the raw strokes so far, lists of the ``[x, y, t]`` points as
    passed to :meth:`apply_points` (not copied: do not mutate them, nor ``strokes``).
    Points with a non-finite coordinate are kept in ``strokes`` but ignored by the image, as
    the reference drops them.
    """

    def __init__(self, *, compiled: bool = True) -> None:
        #: numba kernels (when numba is installed and ``compiled``), else the numpy functions
        #: of model.raster: the same pixels either way
        self.compiled = compiled and HAVE_NUMBA
        self.clear()

    def clear(self) -> None:
        """Remove every stroke."""
        self.strokes: list[list[Sequence[float]]] = []
        self._geo: list[_Stroke] = []
        self._box: Box | None = None  # union of the strokes' raw boxes
        self._norm: tuple[float, float, float] | None = None  # (lo x, lo y, scale) of .simple
        self._sbox: Box | None = None  # union of the simple boxes of the strokes < _n_sbox
        self._n_sbox = 0
        self._offset: tuple[float, float] | None = None  # canvas offset of _prod
        self._prod = np.ones(_NPIX)  # prod(1 - coverage) of the non-empty strokes < _n_prod
        self._n_prod = 0
        self._image: npt.NDArray[np.uint8] | None = None

    def apply_points(self, stroke: int, points: Sequence[Sequence[float]]) -> None:
        """Append ``points`` (``[[x, y, t], ...]``, raw canvas coordinates) to stroke
        ``stroke``: ``len(strokes)`` starts a new stroke, ``len(strokes) - 1`` extends the
        last one.  Raises ``ValueError`` for another index or points that are not rows of at
        least two numbers, all of one length (nothing is changed then)."""
        n = len(self.strokes)
        if stroke not in (n, n - 1) or stroke < 0:
            raise ValueError(f"stroke must be {n} (new) or {n - 1} (last), not {stroke}")
        try:
            xy = [(float(p[0]), float(p[1])) for p in points]
            widths = set(map(len, points))
        except (TypeError, ValueError, IndexError, KeyError, OverflowError) as exc:
            raise ValueError("points must be [[x, y, t], ...]") from exc
        if xy and (len(widths) != 1 or min(widths) < 2 or not _TEXT.isdisjoint(map(type, points))):
            raise ValueError("points must be [[x, y, t], ...] (rows of one length)")
        if stroke == n:
            self.strokes.append([])
            self._geo.append(_Stroke())
        self.strokes[stroke].extend(points)
        box = self._geo[stroke].add(xy) if xy else None
        if box is not None:
            self._box = _union(self._box, box)
            self._changed(stroke)

    def undo(self) -> None:
        """Remove the last stroke (nothing to do without strokes)."""
        if self.strokes:
            self.strokes.pop()
            self._geo.pop()
            self._box = None
            for g in self._geo:
                if g.box is not None:
                    self._box = _union(self._box, g.box)
            self._changed(len(self.strokes))

    def image(self) -> npt.NDArray[np.uint8]:
        """(28, 28) uint8, ink 255 on 0: ``model.drawing_to_image`` of the strokes so far."""
        if self._image is None:
            self._image = self._render()
        return self._image.copy()

    # ------------------------------------------------------------------ internals

    def _changed(self, stroke: int) -> None:
        """Stroke ``stroke`` (and any after it) changed: drop what depended on it."""
        if stroke < self._n_sbox:  # a union cannot drop a box: redo
            self._n_sbox, self._sbox = 0, None
        if stroke < self._n_prod:  # nor a product a factor
            self._n_prod = 0
        self._image = None

    def _render(self) -> npt.NDArray[np.uint8]:
        if self._box is None:
            return np.zeros((IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
        # normalization: the same IEEE operations as model.raster._normalize_batch
        lx, ly, hx, hy = self._box
        extent = max(hx - lx, hy - ly)
        norm = (lx, ly, _SIMPLIFIED_MAX / extent if extent > 0.0 else 1.0)
        if norm != self._norm:
            self._norm, self._n_sbox, self._sbox, self._n_prod = norm, 0, None, 0
            for g in self._geo:
                g.simple = None
        # the active stroke: the last live one (by index in self._geo); the live ones before
        # it are finished
        geo = self._geo
        last = len(geo) - 1
        while geo[last].box is None:
            last -= 1
        active = geo[last]
        if self._n_sbox > last:  # the union holds the stroke that is active again
            self._n_sbox, self._sbox = 0, None
        if self._n_sbox < last:  # finished strokes to simplify (if needed) and unite
            done = [g for g in geo[self._n_sbox : last] if g.box is not None]
            todo = [g for g in done if g.simple is None]
            self._simplify([*todo, active] if active.simple is None else todo, *norm)
            for g in done:
                self._sbox = _union(self._sbox, g.simple_box)
            self._n_sbox = last
        elif active.simple is None:
            self._simplify([active], *norm)
        # canvas offset: model.raster._raster_batch's
        sx, sy, tx, ty = _union(self._sbox, active.simple_box)
        offset = (_canvas_offset(sx + tx), _canvas_offset(sy + ty))
        if offset != self._offset or self._n_prod > last:  # (the product holds the active
            self._offset, self._n_prod = offset, 0  # stroke: an undo re-exposed it)
        if self._n_prod < last:  # finished strokes to multiply into the product
            if self._n_prod == 0:
                self._prod.fill(1.0)
            done = [g for g in geo[self._n_prod : last] if g.box is not None]
            self._n_prod = last
            return self._paint([*done, active], offset, self._sbox is None)
        return self._paint([active], offset, self._sbox is None)

    def _simplify(self, strokes: list[_Stroke], lo_x: float, lo_y: float, scale: float) -> None:
        """Simplify ``strokes`` under the normalization ``(lo, scale)``."""
        if self.compiled:
            kernel = _kernels()[0]
            for g in strokes:
                g.set_simple(*kernel(g.points(), lo_x, lo_y, scale))
        elif strokes:
            pts, bounds = _join([g.points() for g in strokes])
            scaled = (pts - np.array([lo_x, lo_y])) * scale
            for g, simple in zip(strokes, _split(_simplify((scaled, bounds))), strict=True):
                g.set_simple(simple, _box(simple))

    def _paint(
        self, strokes: list[_Stroke], offset: tuple[float, float], alone: bool
    ) -> npt.NDArray[np.uint8]:
        """Rasterize ``strokes`` (simplified) placed at ``(simple + offset) * scale``: all but
        the last join the product of the finished strokes, the last one is composited over
        it (``alone``: the drawing's only live stroke) into the image."""
        if self.compiled:
            kernel, prod, (off_x, off_y) = _kernels()[1], self._prod, offset
            for g in strokes[:-1]:
                kernel(g.simple, off_x, off_y, prod, _NO_IMAGE, False)
            out = np.empty(_NPIX, dtype=np.uint8)
            kernel(strokes[-1].simple, off_x, off_y, prod, out, alone)
            return out.reshape(IMAGE_SIZE, IMAGE_SIZE)
        pts, bounds = _join([g.simple for g in strokes])
        per = _stroke_coverage((pts + np.array(offset)) * _SCALE, bounds)
        for row in per[:-1]:
            self._prod *= 1.0 - row
        img = per[-1] if alone else 1.0 - self._prod * (1.0 - per[-1])
        return _to_uint8(img.reshape(IMAGE_SIZE, IMAGE_SIZE).astype(np.float32))
