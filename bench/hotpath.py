"""Our per-update server path, re-created from its parts for the micro-benchmark.

For every ``points`` message of a drawing player the server: parses and validates the JSON,
appends the points to the drawing, normalizes the whole drawing so far
(``model.normalize_arrays``), rasterizes it to 28x28 (``model.rasterize_arrays``), runs the
MLP on it, serializes the ``guess`` message and the relayed ``ink`` message, and frames them
once per recipient (fan-out). This module does exactly that with the shipped model code, so
the cost can be measured (and profiled) without a network; :mod:`bench.load` measures the
real server end to end.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from time import perf_counter_ns
from typing import Any

import numpy as np
from websockets.frames import Frame, Opcode

from model.raster import normalize_arrays, rasterize_arrays

__all__ = ["RoomPath", "ServerFunctionsPath", "deflate_extension", "frame_text", "points_message"]


def frame_text(payload: bytes, extensions: Sequence[Any] = ()) -> bytes:
    """One unmasked server->client WebSocket text frame (what uvicorn writes per recipient);
    ``extensions``: that recipient's negotiated permessage-deflate, if any."""
    return Frame(Opcode.TEXT, payload).serialize(mask=False, extensions=list(extensions))


def deflate_extension() -> Any:
    """A server-side permessage-deflate as browsers negotiate it (context takeover, 15 bits)."""
    from websockets.extensions.permessage_deflate import PerMessageDeflate

    return PerMessageDeflate(False, False, 15, 15)


def direct_normalize(strokes: Sequence[Sequence[Sequence[float]]]) -> list[np.ndarray]:
    """Proposal for the live path: only the affine part of Google's recipe (top-left align,
    longer side -> 0..255), no resampling and no RDP. At 28x28 the dropped steps move pixels
    by well under one pixel (RDP epsilon 2 units = 0.18 px)."""
    arrays = [np.column_stack((np.asarray(s[0], float), np.asarray(s[1], float))) for s in strokes]
    arrays = [a for a in arrays if len(a)]
    if not arrays:
        return []
    allpts = np.concatenate(arrays)
    lo = allpts.min(axis=0)
    extent = float((allpts.max(axis=0) - lo).max())
    scale = 255.0 / extent if extent > 0.0 else 1.0
    return [(a - lo) * scale for a in arrays]


class RoomPath:
    """The drawing state of one round and the per-update work on it."""

    def __init__(
        self,
        clf: Any,
        recipients: int = 8,
        top_k: int = 3,
        deflate: bool = False,
        direct: bool = False,
    ) -> None:
        self.clf = clf
        # direct=True: the proposed live path, raw points scaled straight into the rasterizer
        # (no 1-unit resampling, no RDP); see direct_normalize
        self.normalize = direct_normalize if direct else normalize_arrays
        self.recipients = recipients
        self.top_k = top_k
        # one compressor per recipient socket (permessage-deflate keeps a context per socket)
        self.ext = [[deflate_extension()] if deflate else [] for _ in range(recipients)]
        self.player_id = "p1"
        self.strokes: list[list[list[float]]] = []

    def reset(self) -> None:
        self.strokes = []

    def append(self, stroke_index: int, pts: Sequence[Sequence[float]]) -> None:
        """Points ``[[x, y, t], ...]`` onto stroke ``stroke_index`` (new or last)."""
        if stroke_index == len(self.strokes):
            self.strokes.append([[], []])
        elif stroke_index != len(self.strokes) - 1:
            raise ValueError("bad_stroke")
        xs, ys = self.strokes[stroke_index]
        for p in pts:
            x, y = float(p[0]), float(p[1])
            if not (math.isfinite(x) and math.isfinite(y)):
                raise ValueError("bad_points")
            xs.append(x)
            ys.append(y)

    def image(self) -> np.ndarray:
        cov = rasterize_arrays(self.normalize(self.strokes))
        return np.rint(cov * 255.0).astype(np.uint8)

    def guess_message(self, probs: np.ndarray, seq: int) -> dict[str, Any]:
        top = np.argpartition(probs, -self.top_k)[-self.top_k :]
        top = top[np.argsort(probs[top])[::-1]]
        return {
            "type": "guess",
            "player_id": self.player_id,
            "seq": seq,
            "guesses": [{"label": self.clf.labels[i], "p": round(float(probs[i]), 4)} for i in top],
        }

    def update(self, raw: str) -> int:
        """The whole server path for one ``points`` message; returns bytes framed."""
        return self.update_timed(raw)[-1]

    def update_timed(self, raw: str) -> tuple[int, ...]:
        """:meth:`update` with stage timestamps: ``(t0, parsed, normalized, rasterized,
        inferred, serialized, framed, bytes_framed)`` (``perf_counter_ns`` values)."""
        t0 = perf_counter_ns()
        msg = json.loads(raw)
        if msg.get("type") != "points":
            raise ValueError("bad_message")
        seq, stroke, pts = int(msg["seq"]), int(msg["stroke"]), msg["points"]
        if not 1 <= len(pts) <= 512:
            raise ValueError("bad_points")
        self.append(stroke, pts)
        t1 = perf_counter_ns()
        norm = self.normalize(self.strokes)
        t2 = perf_counter_ns()
        img = np.rint(rasterize_arrays(norm) * 255.0).astype(np.uint8)
        t3 = perf_counter_ns()
        probs = self.clf.predict_images(img[None])[0]
        t4 = perf_counter_ns()
        guess = json.dumps(self.guess_message(probs, seq), separators=(",", ":")).encode()
        ink = json.dumps(
            {"type": "ink", "player_id": self.player_id, "stroke": stroke, "points": pts},
            separators=(",", ":"),
        ).encode()
        t5 = perf_counter_ns()
        framed = 0
        # The others get the ink: a player's own ink is left out of the per-tick `frame` sent to
        # them (the per-update `ink` before it was echoed to the drawer too: one frame more).
        for ext in self.ext[1:]:
            framed += len(frame_text(ink, ext))
        for ext in self.ext:  # everyone sees the guess
            framed += len(frame_text(guess, ext))
        t6 = perf_counter_ns()
        return (t0, t1, t2, t3, t4, t5, t6, framed)


def points_message(seq: int, stroke: int, pts: list[list[float]]) -> str:
    """A client ``points`` message (docs/protocol.md)."""
    return json.dumps({"type": "points", "seq": seq, "stroke": stroke, "points": pts})


class ServerFunctionsPath:
    """The same per-update work done with the game server's own functions (when importable):
    ``protocol.parse_client_message``, an ``inference.Sketch`` with ``inference.classify`` +
    ``top_guesses`` (the batch path, here with one drawing), a ``frames.Frame`` with the ink and
    the guess, and the frames per recipient (the drawer's own ink left out). Redis round trips
    (command stream, persist script, pub/sub) are not included: :mod:`bench.load` measures
    those end to end."""

    def __init__(self, clf: Any, recipients: int = 8, deflate: bool = False) -> None:
        from game_server import frames, inference, protocol
        from game_server.config import Settings

        self._protocol, self._inference, self._frames = protocol, inference, frames
        self.settings = Settings()
        self.clf = clf
        self.labels = list(clf.labels)
        self.recipients = recipients
        self.ext = [[deflate_extension()] if deflate else [] for _ in range(recipients)]
        self.sketch = inference.Sketch()

    def reset(self) -> None:
        self.sketch = self._inference.Sketch()

    def update(self, raw: str) -> int:
        msg = self._protocol.parse_client_message(raw, self.settings)
        self.sketch.apply_points(msg.stroke, msg.points)
        probs, _ = self._inference.classify(self.clf, [self.sketch])
        guesses = self._inference.top_guesses(self.labels, probs[0])
        frame = self._frames.Frame(
            {"p1": [{"op": "points", "stroke": msg.stroke, "points": msg.points}]},
            {"p1": {"seq": msg.seq, "guesses": guesses}},
        )
        others = (frame.text_for(None) or "").encode()
        own = (frame.text_for("p1") or "").encode()
        framed = len(frame_text(own, self.ext[0]))
        for ext in self.ext[1:]:
            framed += len(frame_text(others, ext))
        return framed
