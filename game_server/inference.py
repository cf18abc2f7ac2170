"""Running the classifier for live guesses without stalling the event loop.

Each player's drawing is kept, as the AI sees it, in a :class:`Sketch`
(``model.IncrementalRaster``: the exact incremental rasterizer, pixel-identical to
``model.drawing_to_image``) that follows the ink ops (``apply_points`` / ``undo`` / ``clear``)
and renders the 28x28 image on demand, redoing only what changed since the last image. Next to
it the sketch holds the AI's live belief about the drawing (``model.Belief``, the artifact's
calibrated filter over the successive probability rows), reset with the drawing (``clear``, an
undo to empty, a new round's fresh sketch). Once per tick the owners of this process hand every
sketch that changed, across all their rooms, to :meth:`InferenceRunner.guesses`: one batch
rendered and classified with ONE model call in a dedicated worker thread (numpy releases the
GIL), so the event loop keeps serving sockets; each row then updates its sketch's belief, and
the guesses announced and the recognition rule both use the belief. The belief's clock is the
drawing's own (the points' ``t``, sent by the client), never more than ``MAX_LEAD_MS`` ahead of
the server's clock (:meth:`Sketch.belief_time`).
"""

from __future__ import annotations

import asyncio
import base64
import io
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt

from game_server.rules import NO_GUESS, FinalGuess, Guess
from model import Belief, IncrementalRaster, update_beliefs

__all__ = [
    "InferenceRunner",
    "Sketch",
    "classify",
    "png_base64",
    "top_guesses",
    "top_guesses_batch",
]

log = logging.getLogger("game_server.inference")

TOP_K = 3
MAX_LEAD_MS = 1000.0  # how far a drawing's own clock may run ahead of the server's (belief_time)


class Sketch(IncrementalRaster):
    """One player's drawing as the AI sees it, and the AI's live belief about it."""

    belief: Belief | None = None  # created by the runner with the artifact's filter
    arrived_at: int | None = None  # server time (ms) the latest ink op arrived (the owner's)
    _anchor: tuple[float, int | None] | None = None  # (t, arrival) of the first classification

    def clear(self) -> None:
        super().clear()
        if self.belief is not None:
            self.belief.reset()

    def undo(self) -> None:
        super().undo()
        if not self.strokes and self.belief is not None:
            self.belief.reset()

    def time_ms(self) -> float:
        """The drawing's own clock: the ``t`` of its latest point (0 without points)."""
        for stroke in reversed(self.strokes):
            if stroke:
                return float(stroke[-1][2])
        return 0.0

    def belief_time(self) -> float:
        """The belief's clock for the next live update: the drawing's own time (:meth:`time_ms`,
        sent by the client), but never more than ``MAX_LEAD_MS`` ahead of the server's time
        since the drawing's first classified update arrived, so that a client's clock running
        fast cannot switch the filter off (an honest client's updates arrive as they are
        drawn: its clock never leads by that much)."""
        t, at = self.time_ms(), self.arrived_at
        if self._anchor is None or self._anchor[1] is None:
            self._anchor = (t, at)
        t0, at0 = self._anchor
        if at is not None and at0 is not None:
            t = min(t, t0 + (at - at0) + MAX_LEAD_MS)
        return t


def classify(
    classifier: Any, sketches: Sequence[Sketch], settle: bool | Sequence[bool] = False
) -> tuple[Any, Any]:
    """(live beliefs (N, labels), images (N, 28, 28) uint8) of sketches: each sketch's image
    classified (one batch), and its belief updated with the row, or settled on it where
    ``settle`` says so (one flag per sketch, or one for all: the drawing is finished or idle,
    :meth:`model.Belief.settle`); runs in a thread."""
    if not sketches:
        return np.zeros((0, len(classifier.labels))), np.zeros((0, 28, 28), np.uint8)
    flags = [settle] * len(sketches) if isinstance(settle, bool) else list(settle)
    images = np.stack([s.image() for s in sketches])
    probs = np.asarray(classifier.predict_images(images), dtype=np.float64)
    beliefs = []
    for s in sketches:
        if s.belief is None:
            s.belief = classifier.new_belief()
        beliefs.append(s.belief)
    live = [i for i, f in enumerate(flags) if not f]
    out = probs.copy()
    if live:
        times = [sketches[i].belief_time() for i in live]
        out[live] = update_beliefs([beliefs[i] for i in live], probs[live], times)
    for i, f in enumerate(flags):
        if f:
            out[i] = beliefs[i].settle(probs[i])
    return out, images


def top_guesses(labels: Sequence[str], probs: npt.NDArray[np.float64]) -> list[dict[str, Any]]:
    """The ``TOP_K`` most likely labels of one row of probabilities (ties: lower index first)."""
    return top_guesses_batch(labels, probs[None])[0]


def top_guesses_batch(
    labels: Sequence[str], probs: npt.NDArray[np.float64]
) -> list[list[dict[str, Any]]]:
    """:func:`top_guesses` of every row of ``probs`` (N, labels): the same as a stable sort of
    each row, by selecting each row's ``TOP_K`` largest first (a row with a tie at the K-th
    value is sorted whole)."""
    n, k = probs.shape[0], min(TOP_K, probs.shape[1])
    if n == 0 or k == 0:
        return [[] for _ in range(n)]
    kth = np.partition(probs, -k, axis=1)[:, -k, None]
    chosen = probs >= kth
    exact = chosen.sum(axis=1) == k  # the K largest are unique: only they need sorting
    order = np.empty((n, k), dtype=np.intp)
    if exact.any():
        cand = np.nonzero(chosen[exact])[1].reshape(-1, k)  # ascending index: ties in order
        vals = np.take_along_axis(probs[exact], cand, axis=1)
        order[exact] = np.take_along_axis(cand, np.argsort(-vals, axis=1, kind="stable"), 1)
    if not exact.all():
        order[~exact] = np.argsort(-probs[~exact], axis=1, kind="stable")[:, :k]
    top = np.take_along_axis(probs, order, axis=1)
    return [
        [{"label": labels[i], "p": round(p, 4)} for i, p in zip(idx, ps, strict=True)]
        for idx, ps in zip(order.tolist(), top.tolist(), strict=True)
    ]


def png_base64(image: npt.NDArray[np.uint8]) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8), mode="L").save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


class InferenceRunner:
    def __init__(self, classifier: Any) -> None:
        self.classifier = classifier
        self.labels: list[str] = list(classifier.labels)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference")
        self.batches = 0
        self.inferred = 0

    def warm(self) -> None:
        """Before serving: render and classify a small drawing, so that the numba kernels of
        the raster and of the MLP's few-drawings path are compiled (or loaded from numba's
        cache) now, not in the first tick (a compile takes seconds and would stall every room
        of the process)."""
        sketch = Sketch()
        sketch.apply_points(0, [[0.0, 0.0, 0.0], [40.0, 10.0, 1.0], [80.0, 60.0, 2.0]])
        sketch.apply_points(1, [[10.0, 50.0, 3.0]])
        self.classifier.predict_images(sketch.image()[None])

    async def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    async def guesses(
        self, sketches: Sequence[Sketch], settle: Sequence[bool] | None = None
    ) -> list[Guess]:
        """The top guesses of each (non-empty) sketch: one batch, one model call; the beliefs
        of those flagged in ``settle`` (idle drawings) settled on their row."""
        if not sketches:
            return []
        loop = asyncio.get_running_loop()
        probs, _ = await loop.run_in_executor(
            self._executor, classify, self.classifier, sketches, settle or False
        )
        self.batches += 1
        self.inferred += len(sketches)
        recognizes = self.classifier.recognizes
        return [
            Guess(top, partial(recognizes, row))
            for top, row in zip(top_guesses_batch(self.labels, probs), probs, strict=True)
        ]

    async def final(self, sketches: dict[str, Sketch | None]) -> dict[str, FinalGuess]:
        """The AI's verdict (top guesses + image) on each final drawing of a round (``None``:
        an empty drawing, no guesses), its belief settled on the finished drawing."""
        drawn = {pid: s for pid, s in sketches.items() if s is not None}
        loop = asyncio.get_running_loop()
        probs, images = await loop.run_in_executor(
            self._executor, partial(classify, self.classifier, list(drawn.values()), settle=True)
        )
        out = {
            pid: FinalGuess([], NO_GUESS.recognizes, png_base64(np.zeros((28, 28), np.uint8)))
            for pid in sketches
        }
        tops = top_guesses_batch(self.labels, probs)
        for i, pid in enumerate(drawn):
            out[pid] = FinalGuess(
                tops[i],
                partial(self.classifier.recognizes, probs[i]),
                png_base64(images[i]),
            )
        return out
