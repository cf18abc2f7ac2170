"""Per-client-address limits, counted over every server process in Redis (docs/SECURITY.md).

* **Sockets per address** (``max_connections_per_ip``): each process keeps its count of open
  sockets per address in the hash ``P addr:<ip>`` (field = process id). The total counts only
  processes whose heartbeat is alive, so a crashed process's sockets stop counting by themselves.
  When an address is at its limit, a new socket does not simply get refused — that let idle
  sockets lock real players out: the address's **oldest socket that has not joined a room** on
  this process is closed (4003) to make room. Joined players are never closed by this limit;
  only when this process has no idle socket of the address to close is the new one refused
  (4003). Idle sockets live at most ``join_timeout_seconds`` anyway.
* **Joins per address** (``join_attempts_per_minute``): a sliding 60 s window in the sorted set
  ``P addr:<ip>:joins``, checked and updated by one script, so every process shares it.

Counting is best effort across processes (two sockets admitted at the same instant on two
processes may both see room for one more); it never refuses a joined player.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger("game_server.address_limits")

JOIN_WINDOW_MS = 60_000
KEEP_MS = 86_400_000  # a socket count key outlives any socket of a live process

# KEYS: joins zset;  ARGV: now_ms, window_ms, limit, member
JOIN_ATTEMPT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[2]))
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""


class AddressSocket(Protocol):
    @property
    def idle(self) -> bool:
        """Open, and neither joined nor joining a room."""

    def evict(self) -> None:
        """Close this socket to make room for a newer one of its address (4003)."""


class AddressLimits:
    def __init__(
        self,
        redis: aioredis.Redis,
        prefix: str,
        proc_id: str,
        max_sockets: int,
        joins_per_minute: int,
        alive: Callable[[Sequence[str]], Awaitable[set[str]]],
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.proc_id = proc_id
        self.max_sockets = max_sockets
        self.joins_per_minute = joins_per_minute
        self._alive = alive
        self.local: dict[
            str, list[AddressSocket]
        ] = {}  # ip -> this process's sockets, oldest first
        self._ids = itertools.count()

    def _key(self, ip: str) -> str:
        return f"{self.prefix}addr:{ip}"

    def count(self) -> int:
        """Sockets open on this process."""
        return sum(len(socks) for socks in self.local.values())

    async def _total(self, ip: str) -> int:
        """Open sockets of ``ip`` on every live process."""
        counts = await self.redis.hgetall(self._key(ip))
        if not counts:
            return 0
        alive = await self._alive(sorted(counts))
        dead = [proc for proc in counts if proc not in alive]
        if dead:
            await self.redis.hdel(self._key(ip), *dead)
        return sum(int(n) for proc, n in counts.items() if proc in alive)

    async def admit(self, ip: str, sock: AddressSocket) -> bool:
        """Count ``sock`` for ``ip``, evicting the address's oldest idle socket if it is at its
        limit; False (refuse ``sock``) when there is none to evict."""
        local = self.local.setdefault(ip, [])
        try:
            total = await self._total(ip)
        except (RedisError, OSError):
            log.warning("Redis unavailable: counting sockets of %s on this process only", ip)
            total = len(local)
        if total >= self.max_sockets:
            victim = next((s for s in local if s.idle), None)
            if victim is None:
                if not local:
                    del self.local[ip]
                return False
            local.remove(victim)
            victim.evict()  # it still counts in Redis until its own release()
        local.append(sock)
        await self._add(ip, 1)
        return True

    async def release(self, ip: str, sock: AddressSocket) -> None:
        """``sock`` closed."""
        local = self.local.get(ip, [])
        if sock in local:
            local.remove(sock)
        if not local:
            self.local.pop(ip, None)
        await self._add(ip, -1)

    async def _add(self, ip: str, n: int) -> None:
        key = self._key(ip)
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hincrby(key, self.proc_id, n)
                pipe.pexpire(key, KEEP_MS)
                left, _ = await pipe.execute()
            if int(left) <= 0:
                await self.redis.hdel(key, self.proc_id)
        except (RedisError, OSError):
            log.warning("Redis unavailable: socket count of %s not updated", ip)

    async def allow_join_attempt(self, ip: str, now_ms: int) -> bool:
        """At most ``joins_per_minute`` joins per address over all processes (sliding 60 s)."""
        member = f"{self.proc_id}:{next(self._ids)}"
        ok = await self.redis.eval(
            JOIN_ATTEMPT, 1, f"{self._key(ip)}:joins", now_ms, JOIN_WINDOW_MS,
            self.joins_per_minute, member,
        )  # fmt: skip
        return bool(ok)
