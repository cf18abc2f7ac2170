"""One Lua script run for many keys in ONE pipelined round trip (``EVALSHA``; the calls that
find Redis's script cache empty, e.g. after a restart, run once more with ``EVAL`` in a second
one). Each call stays atomic and single-slot on its own; the pipeline only saves round trips and
pooled connections."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError, RedisError


@dataclass(frozen=True, slots=True)
class Script:
    text: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.text.encode()).hexdigest())


Call = tuple[Sequence[str], Sequence[Any]]  # (keys, args)


async def run_batch(redis: aioredis.Redis, script: Script, calls: Sequence[Call]) -> list[Any]:
    """The reply of each call, in order (an exception object for a call that failed). Raises
    when the round trip itself fails (connection lost, cancelled)."""
    if not calls:
        return []
    async with redis.pipeline(transaction=False) as pipe:
        for keys, args in calls:
            pipe.evalsha(script.sha, len(keys), *keys, *args)
        replies: list[Any] = await pipe.execute(raise_on_error=False)
    missing = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
    if missing:  # one more round trip for them, with the script's text (Redis caches it again)
        try:
            async with redis.pipeline(transaction=False) as pipe:
                for i in missing:
                    keys, args = calls[i]
                    pipe.eval(script.text, len(keys), *keys, *args)
                again: list[Any] = await pipe.execute(raise_on_error=False)
        except RedisError as exc:
            again = [exc] * len(missing)
        for i, reply in zip(missing, again, strict=True):
            replies[i] = reply
    return replies
