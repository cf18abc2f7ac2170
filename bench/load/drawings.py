"""The drawings simulated players stream: real Quick, Draw! drawings of the prompt, cut into the
``points`` batches a browser would send (:func:`bench.data.protocol_updates`), encoded once."""

from __future__ import annotations

import json
import random

from bench.data import load_category, protocol_updates

# one update: (time since the drawing started in ms, stroke index, JSON of its points)
Update = tuple[float, int, str]


def points_message(seq: int, update: Update) -> str:
    """The ``points`` message of ``update`` with ``seq``."""
    _, stroke, points = update
    return f'{{"type":"points","seq":{seq},"stroke":{stroke},"points":{points}}}'


class Library:
    """Real drawings per prompt, with their update batches precomputed and pre-encoded."""

    def __init__(self, interval_ms: float, seed: int) -> None:
        self.interval_ms = interval_ms
        self.rng = random.Random(seed)
        self._cache: dict[str, list[list[Update]]] = {}

    def updates_for(self, word: str) -> list[Update]:
        """A random real drawing of ``word`` (empty when there is none)."""
        pool = self._cache.get(word)
        if pool is None:
            pool = []
            for drawing in load_category(word):
                updates = protocol_updates(drawing, self.interval_ms)
                if updates:
                    pool.append(
                        [(t, si, json.dumps(pts, separators=(",", ":"))) for t, si, pts in updates]
                    )
            self._cache[word] = pool
        return self.rng.choice(pool) if pool else []
