"""Redis keys and the atomic operations on them.

Every key starts with ``settings.redis_prefix``. All keys of one room carry the room code as a
hash tag (``{CODE}``) so they live in one cluster slot and one Lua script can touch them all;
leaderboard keys share the tag ``{lb}``.

=================================  =====================================================
``P room:{C}:state``               string, JSON: the room (rules.Room.to_dict) + ``cmd_id``
``P room:{C}:ink``                 list of JSON ink ops of the current round
``P room:{C}:cmd``                 stream of client commands for the owner (XADD / XREAD)
``P room:{C}:lease``               ``"<owner> <epoch>"``, PX = lease_ms (lease.py)
``P room:{C}:epoch``               fencing counter, INCR on every lease acquisition
``P room:{C}:scores:<game>``       sorted set: the scores of one game
``P room:{C}:events``              pub/sub channel: events for every process's sockets
``P {lb}:all`` / ``P {lb}:day:D``  sorted sets: leaderboards all-time / per UTC day
``P {lb}:awarded:D``               set of award ids already counted (idempotency)
``P public``                       hash: open public room code -> seated players
``P proc:<id>``                    a live server process (heartbeat, PX)
=================================  =====================================================
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis

from game_server.config import Settings

DAY_KEEP_MS = 3 * 86_400_000

# KEYS: state, ink, epoch, scores, cmd
# ARGV: epoch, state_json, ttl_ms, reset_ink, channel, cmd_id, n_ink, ink..., n_scores,
#       (member, score)..., n_events, events...
PERSIST = """
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return 0 end
local ttl = ARGV[3]
redis.call('SET', KEYS[1], ARGV[2], 'PX', ttl)
redis.call('PEXPIRE', KEYS[3], ttl)
if ARGV[4] == '1' then redis.call('DEL', KEYS[2]) end
local i = 7
local n = tonumber(ARGV[i])
for j = 1, n do redis.call('RPUSH', KEYS[2], ARGV[i + j]) end
if n > 0 or ARGV[4] == '1' then redis.call('PEXPIRE', KEYS[2], ttl) end
i = i + n + 1
n = tonumber(ARGV[i])
for j = 1, n do
  redis.call('ZADD', KEYS[4], ARGV[i + 2 * j], ARGV[i + 2 * j - 1])
end
if n > 0 then redis.call('PEXPIRE', KEYS[4], ttl) end
i = i + 2 * n + 1
n = tonumber(ARGV[i])
for j = 1, n do redis.call('PUBLISH', ARGV[5], ARGV[i + j]) end
if ARGV[6] ~= '0-0' and redis.call('EXISTS', KEYS[5]) == 1 then
  redis.call('XTRIM', KEYS[5], 'MINID', ARGV[6])
  redis.call('PEXPIRE', KEYS[5], ttl)
end
return 1
"""

# KEYS: all, day, awarded;  ARGV: award_id, name, points, keep_ms
AWARD = """
if redis.call('SADD', KEYS[3], ARGV[1]) == 0 then return 0 end
redis.call('PEXPIRE', KEYS[3], ARGV[4])
redis.call('ZINCRBY', KEYS[1], ARGV[3], ARGV[2])
redis.call('ZINCRBY', KEYS[2], ARGV[3], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return 1
"""


class Fenced(Exception):
    """A write was refused because another process owns the room now."""


class Store:
    def __init__(self, redis: aioredis.Redis, settings: Settings) -> None:
        self.redis = redis
        self.settings = settings
        self.prefix = settings.redis_prefix

    # ------------------------------------------------------------------ key names

    def room_key(self, code: str, part: str) -> str:
        return f"{self.prefix}room:{{{code}}}:{part}"

    def channel(self, code: str) -> str:
        return self.room_key(code, "events")

    def lb_key(self, period: str, day: str | None = None) -> str:
        return f"{self.prefix}{{lb}}:all" if period == "all" else f"{self.prefix}{{lb}}:day:{day}"

    def awarded_key(self, day: str) -> str:
        return f"{self.prefix}{{lb}}:awarded:{day}"

    @property
    def public_key(self) -> str:
        return f"{self.prefix}public"

    def proc_key(self, proc_id: str) -> str:
        return f"{self.prefix}proc:{proc_id}"

    # ------------------------------------------------------------------ rooms

    async def create_room(self, code: str, room_state: dict[str, Any]) -> bool:
        body = json.dumps({"room": room_state, "cmd_id": "0-0"})
        ok = await self.redis.set(
            self.room_key(code, "state"), body, nx=True, px=self.settings.room_ttl_seconds * 1000
        )
        return bool(ok)

    async def room_exists(self, code: str) -> bool:
        return bool(await self.redis.exists(self.room_key(code, "state")))

    async def load_room(self, code: str) -> tuple[dict[str, Any], str, list[dict[str, Any]]] | None:
        """(room dict, last command id, ink ops) or None when the room is gone."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.get(self.room_key(code, "state"))
            pipe.lrange(self.room_key(code, "ink"), 0, -1)
            raw, ink = await pipe.execute()
        if raw is None:
            return None
        body = json.loads(raw)
        return body["room"], body["cmd_id"], [json.loads(op) for op in ink]

    async def persist(
        self,
        code: str,
        epoch: int,
        room_state: dict[str, Any],
        cmd_id: str,
        *,
        reset_ink: bool,
        ink: Sequence[str],
        game_id: str | None,
        scores: dict[str, int],
        events: Sequence[str],
    ) -> None:
        """Write the room, append ink, record the game's scores and publish the events, all in
        one script that first checks the fencing epoch. Raises :class:`Fenced`."""
        score_args: list[Any] = []
        if game_id is not None:
            for pid, score in scores.items():
                score_args += [pid, score]
        args: list[Any] = [
            epoch,
            json.dumps({"room": room_state, "cmd_id": cmd_id}),
            self.settings.room_ttl_seconds * 1000,
            "1" if reset_ink else "0",
            self.channel(code),
            cmd_id,
            len(ink),
            *ink,
            len(score_args) // 2,
            *score_args,
            len(events),
            *events,
        ]
        keys = [
            self.room_key(code, "state"),
            self.room_key(code, "ink"),
            self.room_key(code, "epoch"),
            self.room_key(code, f"scores:{game_id or 'none'}"),
            self.room_key(code, "cmd"),
        ]
        ok = await self.redis.eval(PERSIST, len(keys), *keys, *args)
        if not ok:
            raise Fenced(code)

    async def game_scores(self, code: str, game_id: str) -> dict[str, int]:
        rows = await self.redis.zrange(
            self.room_key(code, f"scores:{game_id}"), 0, -1, withscores=True
        )
        return {member: int(score) for member, score in rows}

    # ------------------------------------------------------------------ commands

    async def send_command(self, code: str, command: dict[str, Any]) -> str:
        key = self.room_key(code, "cmd")
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(key, {"c": json.dumps(command)}, maxlen=100_000, approximate=True)
            pipe.pexpire(key, self.settings.room_ttl_seconds * 1000)
            msg_id, _ = await pipe.execute()
        return str(msg_id)

    async def read_commands(
        self, code: str, after: str, block_ms: int | None, count: int = 500
    ) -> list[tuple[str, dict[str, Any]]]:
        reply = await self.redis.xread(
            {self.room_key(code, "cmd"): after}, count=count, block=block_ms
        )
        out: list[tuple[str, dict[str, Any]]] = []
        for _key, entries in reply or []:
            for msg_id, fields in entries:
                out.append((msg_id, json.loads(fields["c"])))
        return out

    # ------------------------------------------------------------------ leaderboards

    async def award(self, award_id: str, name: str, points: int, day: str) -> bool:
        """Add ``points`` to ``name`` on both leaderboards, once per ``award_id``."""
        keys = [self.lb_key("all"), self.lb_key("today", day), self.awarded_key(day)]
        return bool(await self.redis.eval(AWARD, 3, *keys, award_id, name, points, DAY_KEEP_MS))

    async def leaderboard(self, period: str, day: str, limit: int) -> list[dict[str, Any]]:
        rows = await self.redis.zrevrange(self.lb_key(period, day), 0, limit - 1, withscores=True)
        out: list[dict[str, Any]] = []
        prev: int | None = None
        rank = 0
        for i, (name, score) in enumerate(rows, start=1):
            if int(score) != prev:
                rank, prev = i, int(score)
            out.append({"rank": rank, "name": name, "score": int(score)})
        return out

    # ------------------------------------------------------------------ public rooms

    async def open_public_rooms(self) -> dict[str, int]:
        rows = await self.redis.hgetall(self.public_key)
        return {code: int(n) for code, n in rows.items()}

    async def set_public_count(self, code: str, seated: int) -> None:
        if seated > 0:
            await self.redis.hset(self.public_key, code, seated)
        else:
            await self.redis.hdel(self.public_key, code)

    async def forget_public(self, code: str) -> None:
        await self.redis.hdel(self.public_key, code)

    # ------------------------------------------------------------------ processes

    async def alive_processes(self, proc_ids: Sequence[str]) -> set[str]:
        if not proc_ids:
            return set()
        async with self.redis.pipeline(transaction=False) as pipe:
            for pid in proc_ids:
                pipe.exists(self.proc_key(pid))
            found = await pipe.execute()
        return {pid for pid, ok in zip(proc_ids, found, strict=True) if ok}
