"""Running the classifier for live guesses without stalling the event loop.

* Coalescing: at most one request is pending per (room, player); a newer drawing replaces the
  pending one (newest state wins).
* Batching: one loop takes every pending request once per tick (``inference_tick_ms``) and runs
  them as one batch in a dedicated worker thread (rasterize + MLP; numpy and torch release the
  GIL), so the event loop keeps relaying ink while the model runs. At most one batch is in
  flight; requests arriving meanwhile wait for the next batch.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt

from game_server.rules import FinalGuess, Guess, Stroke

log = logging.getLogger("game_server.inference")

TOP_K = 3


@dataclass(frozen=True, slots=True)
class Request:
    room: str
    player_id: str
    round_no: int
    seq: int
    at: int
    drawing: list[Stroke]  # strokes of [x, y, t] points (a copy)


@dataclass(frozen=True, slots=True)
class Result:
    request: Request
    guess: Guess


def to_model_drawing(strokes: Sequence[Stroke]) -> list[list[list[float]]]:
    """Strokes of ``[x, y, t]`` points -> the model's ``[[xs], [ys]]`` strokes."""
    return [[[p[0] for p in s], [p[1] for p in s]] for s in strokes if s]


def images_of(drawings: Sequence[Sequence[Stroke]]) -> npt.NDArray[np.uint8]:
    """The 28x28 images the AI sees, rendered in one vectorized batch across players."""
    from model import drawings_to_images

    return drawings_to_images([to_model_drawing(d) for d in drawings])


def classify(classifier: Any, drawings: Sequence[Sequence[Stroke]]) -> tuple[Any, Any]:
    """(probabilities (N, labels), images (N, 28, 28) uint8) for drawings; runs in a thread."""
    images = images_of(drawings)
    if hasattr(classifier, "predict_images"):
        probs = classifier.predict_images(images)
    else:
        probs = classifier.predict([to_model_drawing(d) for d in drawings])
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
    def __init__(self, classifier: Any, tick_ms: int) -> None:
        self.classifier = classifier
        self.labels: list[str] = list(classifier.labels)
        self.tick_s = tick_ms / 1000.0
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference")
        self._pending: dict[tuple[str, str], tuple[Request, Callable[[Result], None]]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.batches = 0
        self.inferred = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="inference")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._executor.shutdown(wait=True, cancel_futures=True)

    def request(self, req: Request, deliver: Callable[[Result], None]) -> None:
        """Queue ``req``; replaces a pending request of the same player."""
        self._pending[(req.room, req.player_id)] = (req, deliver)
        self._wake.set()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            if self.tick_s > 0:
                await asyncio.sleep(self.tick_s)  # gather one tick's requests into a batch
            self._wake.clear()
            batch, self._pending = list(self._pending.values()), {}
            if not batch:
                continue
            try:
                probs, _ = await loop.run_in_executor(
                    self._executor, classify, self.classifier, [r.drawing for r, _ in batch]
                )
            except Exception:
                log.exception("inference failed for a batch of %d", len(batch))
                continue
            self.batches += 1
            self.inferred += len(batch)
            for (req, deliver), row in zip(batch, probs, strict=True):
                try:
                    empty = not any(req.drawing)
                    guesses = [] if empty else top_guesses(self.labels, row)
                    deliver(Result(req, Guess(guesses, partial(self.classifier.recognizes, row))))
                except Exception:
                    log.exception("delivering a guess failed")

    async def final(self, drawings: dict[str, list[Stroke]]) -> dict[str, FinalGuess]:
        """The AI's verdict (top guesses + image) on each final drawing of a round."""
        if not drawings:
            return {}
        ids = list(drawings)
        loop = asyncio.get_running_loop()
        probs, images = await loop.run_in_executor(
            self._executor, classify, self.classifier, [drawings[i] for i in ids]
        )
        out: dict[str, FinalGuess] = {}
        for i, pid in enumerate(ids):
            empty = not any(drawings[pid])
            out[pid] = FinalGuess(
                guesses=[] if empty else top_guesses(self.labels, probs[i]),
                recognizes=partial(self.classifier.recognizes, probs[i]),
                image=png_base64(images[i]),
            )
        return out
