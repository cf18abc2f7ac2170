"""Running the classifier for live guesses without stalling the event loop.

Each player's drawing is kept, as the AI sees it, in a :class:`Sketch` that follows the ink ops
(``apply_points`` / ``undo`` / ``clear``) and renders the 28x28 image on demand. Once per tick
the owners of this process hand every sketch that changed, across all their rooms, to
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
from typing import Any

import numpy as np
import numpy.typing as npt

from game_server.rules import FinalGuess

log = logging.getLogger("game_server.inference")

TOP_K = 3


class Sketch:
    """One player's drawing as the model sees it: strokes of ``[[xs], [ys]]``.

    ``image()`` renders the whole drawing with ``model.drawing_to_image``; the exact incremental
    rasterizer (``model.IncrementalRaster``) has the same methods and pixels.
    """

    __slots__ = ("_strokes",)

    def __init__(self) -> None:
        self._strokes: list[tuple[list[float], list[float]]] = []

    def apply_points(self, stroke: int, points: Sequence[Sequence[float]]) -> None:
        if stroke == len(self._strokes):
            self._strokes.append(([], []))
        xs, ys = self._strokes[stroke]
        xs.extend(p[0] for p in points)
        ys.extend(p[1] for p in points)

    def undo(self) -> None:
        if self._strokes:
            self._strokes.pop()

    def clear(self) -> None:
        self._strokes = []

    def image(self) -> npt.NDArray[np.uint8]:
        from model import drawing_to_image

        return drawing_to_image([[xs, ys] for xs, ys in self._strokes])

    @property
    def empty(self) -> bool:
        return not self._strokes


def classify(classifier: Any, sketches: Sequence[Sketch]) -> tuple[Any, Any]:
    """(probabilities (N, labels), images (N, 28, 28) uint8) of sketches; runs in a thread."""
    images = np.stack([s.image() for s in sketches]) if sketches else np.zeros((0, 28, 28))
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

    async def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    async def guesses(self, sketches: Sequence[Sketch]) -> list[list[dict[str, Any]]]:
        """The top guesses of each sketch ([] for an empty one): one batch, one model call."""
        if not sketches:
            return []
        loop = asyncio.get_running_loop()
        probs, _ = await loop.run_in_executor(self._executor, classify, self.classifier, sketches)
        self.batches += 1
        self.inferred += len(sketches)
        labels = self.labels
        return [
            [] if s.empty else top_guesses(labels, row)
            for s, row in zip(sketches, probs, strict=True)
        ]

    async def final(self, sketches: dict[str, Sketch]) -> dict[str, FinalGuess]:
        """The AI's verdict (top guesses + image) on each final drawing of a round."""
        if not sketches:
            return {}
        ids = list(sketches)
        loop = asyncio.get_running_loop()
        probs, images = await loop.run_in_executor(
            self._executor, classify, self.classifier, [sketches[i] for i in ids]
        )
        return {
            pid: FinalGuess(
                guesses=[] if sketches[pid].empty else top_guesses(self.labels, probs[i]),
                image=png_base64(images[i]),
            )
            for i, pid in enumerate(ids)
        }
