"""Real Quick, Draw! drawings for the benchmarks (read-only use of ``shared/data/quickdraw``).

Raw drawings (canvas pixels, with timings) are preferred because they are what a player's
browser streams; a category without raw drawings falls back to the simplified ones (0..255,
no timings: a synthetic 10 ms per point is used so they can still be replayed).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from training.data import data_dir, timed_strokes, vocabulary

__all__ = [
    "Drawing",
    "data_dir",
    "iter_drawings",
    "load_category",
    "protocol_updates",
    "sample_drawings",
    "stream_batches",
    "stream_updates",
    "vocabulary",
]


@dataclass(frozen=True, slots=True)
class Drawing:
    """One real drawing: strokes ``[[xs], [ys], [ts]]`` (ts in ms since the first point)."""

    word: str
    key_id: str
    strokes: list[list[list[float]]]
    source: str  # "raw" or "simplified"

    @property
    def n_points(self) -> int:
        return sum(len(s[0]) for s in self.strokes)

    @property
    def n_strokes(self) -> int:
        return len(self.strokes)

    @property
    def xy(self) -> list[list[list[float]]]:
        """Strokes without timings: ``[[xs], [ys]]``."""
        return [[s[0], s[1]] for s in self.strokes]


@cache
def _read(path: Path, source: str) -> tuple[Drawing, ...]:
    out = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            strokes = timed_strokes(rec["drawing"], source)
            if strokes:
                out.append(Drawing(rec["word"], str(rec["key_id"]), strokes, source))
    return tuple(out)


def load_category(word: str, *, limit: int | None = None) -> list[Drawing]:
    """Raw drawings of ``word``; its simplified drawings when it has no raw ones."""
    base = data_dir()
    for source in ("raw", "simplified"):
        path = base / source / f"{word}.ndjson"
        if path.is_file():
            drawings = _read(path, source)
            if drawings:
                return list(drawings[:limit])
    return []


def iter_drawings(words: Sequence[str] | None = None) -> Iterator[Drawing]:
    for word in words if words is not None else vocabulary():
        yield from load_category(word)


def sample_drawings(n: int, *, seed: int = 0, words: Sequence[str] | None = None) -> list[Drawing]:
    """``n`` drawings drawn round-robin over the categories (deterministic for a seed)."""
    rng = random.Random(seed)
    pools = [load_category(w) for w in (words if words is not None else vocabulary())]
    pools = [p for p in pools if p]
    if not pools:
        raise FileNotFoundError(f"no Quick, Draw! drawings under {data_dir()}")
    out: list[Drawing] = []
    while len(out) < n:
        for pool in rng.sample(pools, len(pools)):
            out.append(rng.choice(pool))
            if len(out) == n:
                break
    return out


def stream_batches(
    drawing: Drawing, interval_ms: float = 100.0
) -> list[tuple[float, int, int, int]]:
    """Split a drawing into the batches a client would send every ``interval_ms``.

    Returns ``(t_ms, stroke_index, start, end)`` tuples in time order (points
    ``start:end`` of that stroke): all points of one stroke whose timestamp falls into the
    same ``interval_ms`` window form one batch, and a batch never spans two strokes (a new
    stroke starts a new batch). ``t_ms`` is the time of the batch's last point (when the
    client can send it).
    """
    out: list[tuple[float, int, int, int]] = []
    for si, (xs, _ys, ts) in enumerate(drawing.strokes):
        start = 0
        n = len(xs)
        while start < n:
            window_end = (ts[start] // interval_ms + 1) * interval_ms
            end = start + 1
            while end < n and ts[end] < window_end:
                end += 1
            out.append((float(ts[end - 1]), si, start, end))
            start = end
    out.sort(key=lambda u: u[0])
    return out


def stream_updates(
    drawing: Drawing, interval_ms: float = 100.0
) -> list[tuple[float, int, list[list[float]]]]:
    """:func:`stream_batches` as ``(t_ms, stroke_index, [[xs], [ys]])``."""
    out = []
    for t, si, a, b in stream_batches(drawing, interval_ms):
        xs, ys, _ = drawing.strokes[si]
        out.append((t, si, [xs[a:b], ys[a:b]]))
    return out


def protocol_updates(
    drawing: Drawing, interval_ms: float = 100.0
) -> list[tuple[float, int, list[list[float]]]]:
    """The drawing as protocol ``points`` batches: ``(t_ms, stroke, [[x, y, t], ...])``
    (coordinates rounded to 0.1 px, times to whole ms, as a browser would send them)."""
    out = []
    for t_ms, si, a, b in stream_batches(drawing, interval_ms):
        xs, ys, ts = drawing.strokes[si]
        pts = [[round(xs[k], 1), round(ys[k], 1), int(ts[k])] for k in range(a, b)]
        out.append((t_ms, si, pts))
    return out
