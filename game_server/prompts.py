"""A process's view of prompt difficulty: counting finished rounds and the beliefs used to deal.

:class:`PromptBook` posts a room's pending round records to Redis (``Store.record_round``,
idempotent per record id, so a round is counted once even when a new owner re-posts what a dead
one had not confirmed) and keeps, for dealing, every label's Beta belief of its recognition rate
(difficulty.posterior: the model's evaluation plus play counts), refreshed from Redis every
:data:`REFRESH_MS` and after each posted record.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from redis.exceptions import RedisError

from game_server import difficulty
from game_server.rules import Room
from game_server.store import Store

log = logging.getLogger("game_server.prompts")

REFRESH_MS = 30_000


class PromptBook:
    def __init__(self, store: Store, labels: Sequence[str]) -> None:
        self.store = store
        self.labels = list(labels)
        self.seeds = difficulty.load_seeds()
        # label -> (alpha, beta); updated in place (rooms hold this dict)
        self.beliefs: dict[str, tuple[float, float]] = {
            label: difficulty.posterior(None, self.seeds.get(label)) for label in self.labels
        }
        self._refreshed_at: int | None = None

    async def table(self) -> list[dict[str, Any]]:
        """``GET /api/prompts``: every prompt's figures, hardest first."""
        stats = await self.store.prompt_stats(self.labels)
        return difficulty.table(self.labels, stats, self.seeds)

    async def refresh(self, now: int) -> None:
        stats = await self.store.prompt_stats(self.labels)
        self.beliefs.update(
            {
                label: difficulty.posterior(stats.get(label), self.seeds.get(label))
                for label in self.labels
            }
        )
        self._refreshed_at = now

    async def refresh_if_due(self, now: int) -> None:
        if self._refreshed_at is None or now - self._refreshed_at >= REFRESH_MS:
            await self.refresh(now)

    async def post(self, room: Room) -> None:
        """Count ``room``'s finished rounds (after its state, holding them, is durable)."""
        posted: set[str] = set()
        for record in list(room.pending_stats):
            try:
                await self.store.record_round(record)
                posted.add(record["id"])
            except (RedisError, OSError):
                log.warning("room %s: round record %s not posted yet", room.code, record["id"])
        room.stats_posted(posted)
        if posted:
            self._refreshed_at = None  # refreshed on the next claim-loop pass
