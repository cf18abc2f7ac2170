"""Room ownership lease in Redis, with a fencing epoch.

* ``acquire``: ``SET lease NX PX`` inside a script that also ``INCR``s the room's epoch; the
  winner's value is ``"<owner> <epoch>"``.
* ``renew_all``: for each lease of a process, ``PEXPIRE`` only if it still holds our value
  (compare-and-set in Lua); all of them in ONE pipelined round trip, each script on its own
  room's keys.
* ``release``: ``DEL`` only if it still holds our value.

Every state write of the owner runs in a script that first checks the room's epoch equals the
owner's (see ``store.PERSIST``): once another process has acquired the lease (epoch + 1), a stale
owner's writes and publishes are refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis

from game_server.scripts import Script, run_batch

ACQUIRE = """
if redis.call('SET', KEYS[1], 'pending', 'NX', 'PX', ARGV[2]) == false then return 0 end
local e = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. e, 'PX', ARGV[2])
return e
"""

RENEW = Script("""
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
""")

RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(frozen=True, slots=True)
class Lease:
    owner: str
    epoch: int

    @property
    def value(self) -> str:
        return f"{self.owner} {self.epoch}"


async def acquire(
    redis: aioredis.Redis, lease_key: str, epoch_key: str, owner: str, ttl_ms: int, keep_ms: int
) -> Lease | None:
    """Take the lease if nobody holds it; ``keep_ms`` is the epoch key's expiry."""
    epoch = int(await redis.eval(ACQUIRE, 2, lease_key, epoch_key, owner, ttl_ms, keep_ms))
    return Lease(owner, epoch) if epoch else None


async def renew_all(
    redis: aioredis.Redis, held: Sequence[tuple[str, Lease]], ttl_ms: int
) -> list[bool]:
    """Renew every ``(lease key, lease)`` of ``held`` in one round trip: whether each still
    held. Raises when the round trip fails."""
    replies = await run_batch(redis, RENEW, [([key], [lease.value, ttl_ms]) for key, lease in held])
    return [r == 1 for r in replies]


async def release(redis: aioredis.Redis, lease_key: str, lease: Lease) -> bool:
    return bool(await redis.eval(RELEASE, 1, lease_key, lease.value))
