"""Per-player incremental rasterizer: the image of a drawing being streamed, redoing only
what an update changed.

:class:`IncrementalRaster` keeps a drawing's raw strokes and, next to them, three caches:

* the simplified points (resample + RDP + round, :func:`model.raster._simplify`) of every
  stroke, valid while the normalization (top-left corner and scale of the raw bounding box)
  stays the same.  An update re-simplifies only the strokes it touched (the active one);
  a change of the bounding box's corner or longer side re-simplifies every stroke;
* the product ``prod(1 - coverage)`` of the finished strokes (all but the last non-empty
  one), valid while the canvas offset (centre of the simplified bounding box) stays the
  same.  An update rasterizes only the active stroke and composites it over that product;
* the last image, returned as is while nothing changed.

The arithmetic is the reference's own (:mod:`model.raster`'s functions, applied to fewer
strokes: a stroke's simplification and coverage never depend on the other strokes), and
the OVER product is accumulated stroke after stroke in drawing order as the reference's, so
:meth:`IncrementalRaster.image` is pixel-identical to :func:`model.drawing_to_image` of the
strokes so far (tested on every prefix of real drawings).  Work happens lazily in
:meth:`~IncrementalRaster.image`, so several updates between two images cost one refresh.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from model.raster import (
    _SCALE,
    IMAGE_SIZE,
    FloatArray,
    _canvas_offset,
    _join,
    _simplify,
    _split,
    _stroke_coverage,
    _to_uint8,
    _unit_scale,
)

__all__ = ["IncrementalRaster"]

_NPIX = IMAGE_SIZE * IMAGE_SIZE


class _Stroke:
    """One stroke's finite raw points (in arrival chunks) and its cached simplification."""

    __slots__ = ("chunks", "hi", "lo", "simple", "simple_hi", "simple_lo")

    def __init__(self) -> None:
        self.chunks: list[FloatArray] = []  # (n, 2) float64 finite raw (x, y)
        self.lo: FloatArray | None = None  # raw bounding box, None while the stroke is empty
        self.hi: FloatArray | None = None
        self.simple: FloatArray | None = None  # simplified points under IncrementalRaster._norm
        self.simple_lo: FloatArray | None = None
        self.simple_hi: FloatArray | None = None

    def add(self, xy: FloatArray) -> None:
        lo, hi = xy.min(axis=0), xy.max(axis=0)
        self.lo = lo if self.lo is None else np.minimum(self.lo, lo)
        self.hi = hi if self.hi is None else np.maximum(self.hi, hi)
        self.chunks.append(xy)
        self.simple = None

    def points(self) -> FloatArray:
        if len(self.chunks) > 1:
            self.chunks = [np.concatenate(self.chunks)]
        return self.chunks[0]


class IncrementalRaster:
    """The 28x28 image of one drawing being streamed, updated incrementally.

    ``image()`` equals ``model.drawing_to_image(strokes)`` (strokes as ``[xs, ys]``) pixel for
    pixel.  ``strokes`` holds the raw strokes so far, lists of the ``[x, y, t]`` points as
    passed to :meth:`apply_points` (not copied: do not mutate them, nor ``strokes``).
    Points with a non-finite coordinate are kept in ``strokes`` but ignored by the image, as
    the reference drops them.
    """

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        """Remove every stroke."""
        self.strokes: list[list[Sequence[float]]] = []
        self._geo: list[_Stroke] = []
        self._norm: tuple[float, float, float] | None = None  # (lo x, lo y, scale) of .simple
        self._offset: tuple[float, float] | None = None  # canvas offset of _prod
        self._prod = np.ones(_NPIX)  # prod(1 - coverage) of the non-empty strokes < _n_prod
        self._n_prod = 0
        self._image: npt.NDArray[np.uint8] | None = None

    def apply_points(self, stroke: int, points: Sequence[Sequence[float]]) -> None:
        """Append ``points`` (``[[x, y, t], ...]``, raw canvas coordinates) to stroke
        ``stroke``: ``len(strokes)`` starts a new stroke, ``len(strokes) - 1`` extends the
        last one.  Raises ``ValueError`` for another index or points that are not rows of at
        least two numbers (nothing is changed then)."""
        n = len(self.strokes)
        if stroke not in (n, n - 1) or stroke < 0:
            raise ValueError(f"stroke must be {n} (new) or {n - 1} (last), not {stroke}")
        xy = np.asarray(points, dtype=np.float64)
        if xy.size and (xy.ndim != 2 or xy.shape[1] < 2):
            raise ValueError("points must be [[x, y, t], ...]")
        if stroke == n:
            self.strokes.append([])
            self._geo.append(_Stroke())
        self.strokes[stroke].extend(points)
        if xy.size:
            xy = xy[:, :2]
            xy = xy[np.isfinite(xy).all(axis=1)]
        if len(xy):
            self._geo[stroke].add(xy)
            self._changed(stroke)

    def undo(self) -> None:
        """Remove the last stroke (nothing to do without strokes)."""
        if self.strokes:
            self.strokes.pop()
            self._geo.pop()
            self._changed(len(self.strokes))

    def image(self) -> npt.NDArray[np.uint8]:
        """(28, 28) uint8, ink 255 on 0: ``model.drawing_to_image`` of the strokes so far."""
        if self._image is None:
            self._image = self._render()
        return self._image.copy()

    # ------------------------------------------------------------------ internals

    def _changed(self, stroke: int) -> None:
        """Stroke ``stroke`` (and any after it) changed: drop what depended on it."""
        self._n_prod = min(self._n_prod, stroke)
        self._image = None

    def _render(self) -> npt.NDArray[np.uint8]:
        live = [g for g in self._geo if g.lo is not None]
        if not live:
            return np.zeros((IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
        lo = np.min([g.lo for g in live], axis=0)
        scale = float(_unit_scale((np.max([g.hi for g in live], axis=0) - lo).max()))
        norm = (float(lo[0]), float(lo[1]), scale)
        if norm != self._norm:
            self._norm, self._n_prod = norm, 0
            for g in live:
                g.simple = None
        self._simplify([g for g in live if g.simple is None], lo, scale)
        mid = np.min([g.simple_lo for g in live], axis=0) + np.max(
            [g.simple_hi for g in live], axis=0
        )
        offset = _canvas_offset(mid)
        key = (float(offset[0]), float(offset[1]))
        if key != self._offset:
            self._offset, self._n_prod = key, 0
        # finished strokes: every live stroke before the last one (by index in self._geo)
        last = len(self._geo) - 1
        while self._geo[last].lo is None:
            last -= 1
        if self._n_prod > last:  # the product holds the stroke that is active again: redo
            self._n_prod = 0
        if self._n_prod == 0:
            self._prod = np.ones(_NPIX)
        todo = [g for g in self._geo[self._n_prod : last] if g.lo is not None]
        pts, bounds = _join([g.simple for g in [*todo, self._geo[last]]])
        per = _stroke_coverage((pts + offset) * _SCALE, bounds)
        for row in per[:-1]:
            self._prod *= 1.0 - row
        self._n_prod = last
        img = per[-1] if len(live) == 1 else 1.0 - self._prod * (1.0 - per[-1])
        return _to_uint8(img.reshape(IMAGE_SIZE, IMAGE_SIZE).astype(np.float32))

    @staticmethod
    def _simplify(strokes: list[_Stroke], lo: FloatArray, scale: float) -> None:
        """Simplify ``strokes`` under the normalization ``(lo, scale)``, in one batch."""
        if not strokes:
            return
        pts, bounds = _join([g.points() for g in strokes])
        for g, s in zip(strokes, _split(_simplify(((pts - lo) * scale, bounds))), strict=True):
            g.simple, g.simple_lo, g.simple_hi = s, s.min(axis=0), s.max(axis=0)
