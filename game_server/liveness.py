"""This process's heartbeat, and the seats its sockets lose while it does not beat.

Room owners take a process for dead when its heartbeat key ``P proc:<id>`` (PX 2 × lease) is
gone, and mark its players disconnected. A process that was only *paused* (SIGSTOP, a long GC or
swap stall, a VM migration) or cut off from Redis for a while comes back with its sockets still
open, but their seats are marked disconnected: every command would get ``not_joined`` and the
seats would expire after ``resume_seconds``.

So each beat is ``SET ... GET``: when the previous value is gone, the heartbeat had lapsed.
Then, first, this process checks the leases of the rooms it owns (``on_lapse``: a room taken
over meanwhile is dropped, so its sockets' commands go to the new owner, through the room's
stream, not to a stale local actor); second, every joined socket of the process re-announces its
seat to its room (a :class:`protocol.Reattach` command, with its resume token) before it sends
anything else: the owner seats it again, with its score and drawing (or does nothing if the seat
was never taken away). A socket's commands go through :meth:`Liveness.ensure` first, so after a
pause a command can never reach the owner before its socket's ``Reattach``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol

import redis.asyncio as aioredis

log = logging.getLogger("game_server.liveness")


class Reattachable(Protocol):
    async def reattach(self) -> None:
        """Re-announce this socket's seat to its room's owner."""


class Liveness:
    def __init__(
        self,
        redis: aioredis.Redis,
        key: str,
        ttl_ms: int,
        sockets: Callable[[], Iterable[Reattachable]],
        on_lapse: Callable[[], Awaitable[None]],
    ) -> None:
        self.redis = redis
        self.key = key
        self.ttl_ms = ttl_ms
        self.sockets = sockets
        self.on_lapse = on_lapse
        self._last_ok: float | None = None  # monotonic time of the last successful beat
        self._lock = asyncio.Lock()
        self._lapsed = False

    async def beat(self) -> None:
        """Refresh the heartbeat; re-announce every socket if it had lapsed."""
        async with self._lock:
            await self._beat()

    async def ensure(self) -> None:
        """Call before sending a socket's command: beats first if the heartbeat may have lapsed."""
        if self._fresh():
            return
        async with self._lock:  # behind a beat in progress (and its re-announcements)
            if not self._fresh():
                await self._beat()

    def _fresh(self) -> bool:
        # beats come every lease / 3; older than half the key's TTL (one lease): check first
        return self._last_ok is not None and time.monotonic() - self._last_ok < self.ttl_ms / 2000

    async def _beat(self) -> None:
        previous = await self.redis.set(self.key, "1", px=self.ttl_ms, get=True)
        if previous is None and self._last_ok is not None:
            self._lapsed = True
        if self._lapsed:  # until every socket re-announced itself (retried on the next beat)
            await self.on_lapse()
            socks = list(self.sockets())
            log.warning("heartbeat had lapsed: re-announcing %d socket(s)", len(socks))
            for sock in socks:
                await sock.reattach()
            self._lapsed = False
        self._last_ok = time.monotonic()
