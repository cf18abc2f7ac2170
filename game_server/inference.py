"""Running the classifier for live guesses without stalling the event loop.

Each player's drawing is kept, as the AI sees it, in a :class:`Sketch`
(``model.IncrementalRaster``: the exact incremental rasterizer, pixel-identical to
``model.drawing_to_image``) that follows the ink ops (``apply_points`` / ``undo`` / ``clear``)
and renders the 28x28 image on demand, redoing only what changed since the last image. Once
per tick the owners of this process hand every sketch that changed, across all their rooms, to
:meth:`InferenceRunner.guesses`: one batch rendered and classified with ONE model call in a
dedicated worker thread (numpy releases the GIL), so the event loop keeps serving sockets.
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
from model import IncrementalRaster as Sketch

__all__ = ["InferenceRunner", "Sketch", "classify", "png_base64", "top_guesses"]

log = logging.getLogger("game_server.inference")

TOP_K = 3


def classify(classifier: Any, sketches: Sequence[Sketch]) -> tuple[Any, Any]:
    """(probabilities (N, labels), images (N, 28, 28) uint8) of sketches; runs in a thread."""
    if not sketches:
        return np.zeros((0, len(classifier.labels))), np.zeros((0, 28, 28), np.uint8)
    images = np.stack([s.image() for s in sketches])
    probs = classifier.predict_images(images)
    return np.asarray(probs, dtype=np.float64), images


def top_guesses(labels: Sequence[str], probs: npt.NDArray[np.float64]) -> list[dict[str, Any]]:
    order = np.argsort(-probs, kind="stable")[:TOP_K]
    return [{"label": labels[i], "p": round(float(probs[i]), 4)} for i in order]


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
        """Before serving: render a small drawing, so that the raster's numba kernels are
        compiled (or loaded from numba's cache) now, not in the first tick (a compile takes
        seconds and would stall every room of the process)."""
        sketch = Sketch()
        sketch.apply_points(0, [[0.0, 0.0, 0.0], [40.0, 10.0, 1.0], [80.0, 60.0, 2.0]])
        sketch.apply_points(1, [[10.0, 50.0, 3.0]])
        sketch.image()

    async def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    async def guesses(self, sketches: Sequence[Sketch]) -> list[Guess]:
        """The top guesses of each (non-empty) sketch: one batch, one model call."""
        if not sketches:
            return []
        loop = asyncio.get_running_loop()
        probs, _ = await loop.run_in_executor(self._executor, classify, self.classifier, sketches)
        self.batches += 1
        self.inferred += len(sketches)
        return [
            Guess(top_guesses(self.labels, row), partial(self.classifier.recognizes, row))
            for row in probs
        ]

    async def final(self, sketches: dict[str, Sketch | None]) -> dict[str, FinalGuess]:
        """The AI's verdict (top guesses + image) on each final drawing of a round (``None``:
        an empty drawing, no guesses)."""
        drawn = {pid: s for pid, s in sketches.items() if s is not None}
        loop = asyncio.get_running_loop()
        probs, images = await loop.run_in_executor(
            self._executor, classify, self.classifier, list(drawn.values())
        )
        out = {
            pid: FinalGuess([], NO_GUESS.recognizes, png_base64(np.zeros((28, 28), np.uint8)))
            for pid in sketches
        }
        for i, pid in enumerate(drawn):
            out[pid] = FinalGuess(
                top_guesses(self.labels, probs[i]),
                partial(self.classifier.recognizes, probs[i]),
                png_base64(images[i]),
            )
        return out
