"""Redis keys and the atomic operations on them.

Every key starts with ``settings.redis_prefix``. All keys of one room carry the room code as a
hash tag (``{CODE}``) so they live in one cluster slot and one Lua script can touch them all;
leaderboard keys share the tag ``{lb}``.

=================================  =====================================================
``P room:{C}:state``               string, JSON: the room (rules.Room.to_dict)
``P room:{C}:ink``                 list of JSON ink ops of the current round
``P room:{C}:cmd``                 stream of commands for the owner from other processes
``P room:{C}:cursor``              id of the last command of the stream the owner applied
``P room:{C}:lease``               ``"<owner> <epoch>"``, PX = lease_ms (lease.py)
``P room:{C}:epoch``               fencing counter, INCR on every lease acquisition
``P room:{C}:scores:<game>``       sorted set: the scores of one game
``P room:{C}:events``              pub/sub channel: events for every process's sockets
``P {lb}:all`` / ``P {lb}:day:D``  sorted sets: leaderboards all-time / per UTC day, by player
                                   identity (rules.identity)
``P {lb}:names``                   hash: player identity -> the name it last scored under
``P {lb}:awarded:D``               set of award ids already counted (idempotency)
``P game:<id>``                    hash: a game's gallery, ``r<n>`` (``r<n>.<turn>`` in
                                   "beat") -> round record, ``meta`` -> ranking;
                                   PX = game_ttl_seconds from its last round
``P public``                       hash: open public room code -> seated players
``P proc:<id>``                    a live server process (heartbeat, PX)
``P {prompts}:stats:<label>``      hash: ``rounds``, ``drawings``, ``recognized``, ``h0``..
                                   ``h9`` (difficulty.BUCKETS_MS histogram of recognition times)
``P {prompts}:counted:<round>``    a round record already counted (idempotency, 1 day)
=================================  =====================================================
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from game_server import difficulty
from game_server.config import Settings
from game_server.frames import dumps
from game_server.protocol import Command, decode_command
from game_server.scripts import Script, run_batch

DAY_KEEP_MS = 3 * 86_400_000

# KEYS: state, ink, epoch, scores, cmd, cursor
# ARGV: epoch, state_json ('' = unchanged), ttl_ms, reset_ink, channel, cursor, n_ink, ink...,
#       n_scores, (member, score)..., n_events, events...
PERSIST = """
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return 0 end
local ttl = ARGV[3]
if ARGV[2] ~= '' then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ttl)
  redis.call('PEXPIRE', KEYS[3], ttl)
end
if ARGV[4] == '1' then redis.call('DEL', KEYS[2]) end
local i = 7
local n = tonumber(ARGV[i])
if n > 0 then redis.call('RPUSH', KEYS[2], unpack(ARGV, i + 1, i + n)) end
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
if ARGV[6] ~= '0-0' and redis.call('GET', KEYS[6]) ~= ARGV[6] then
  redis.call('SET', KEYS[6], ARGV[6], 'PX', ttl)
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('PEXPIRE', KEYS[3], ttl)
  if redis.call('EXISTS', KEYS[5]) == 1 then
    redis.call('XTRIM', KEYS[5], 'MINID', ARGV[6])
    redis.call('PEXPIRE', KEYS[5], ttl)
  end
end
return 1
"""

# KEYS: all, day, awarded, names;  ARGV: award_id, player, name, points, keep_ms
AWARD = """
if redis.call('SADD', KEYS[3], ARGV[1]) == 0 then return 0 end
redis.call('PEXPIRE', KEYS[3], ARGV[5])
redis.call('ZINCRBY', KEYS[1], ARGV[4], ARGV[2])
redis.call('ZINCRBY', KEYS[2], ARGV[4], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
redis.call('HSET', KEYS[4], ARGV[2], ARGV[3])
return 1
"""


# KEYS: counted, stats;  ARGV: keep_ms, drawings, recognized, n, bucket...
RECORD_ROUND = """
if redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) == false then return 0 end
redis.call('HINCRBY', KEYS[2], 'rounds', 1)
redis.call('HINCRBY', KEYS[2], 'drawings', ARGV[2])
redis.call('HINCRBY', KEYS[2], 'recognized', ARGV[3])
for j = 1, tonumber(ARGV[4]) do redis.call('HINCRBY', KEYS[2], 'h' .. ARGV[4 + j], 1) end
return 1
"""
COUNTED_KEEP_MS = 86_400_000


class Fenced(Exception):
    """A write was refused because another process owns the room now."""


PERSIST_SCRIPT = Script(PERSIST)


class Store:
    def __init__(self, redis: aioredis.Redis, settings: Settings) -> None:
        self.redis = redis
        self.settings = settings
        self.prefix = settings.redis_prefix
        # persists waiting for the next pipeline: (keys, args, reply) (see persist)
        self._persists: list[tuple[list[str], list[Any], asyncio.Future[Any]]] = []
        self._flushes: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ key names

    def room_key(self, code: str, part: str) -> str:
        return f"{self.prefix}room:{{{code}}}:{part}"

    def channel(self, code: str) -> str:
        return self.room_key(code, "events")

    def lb_key(self, period: str, day: str | None = None) -> str:
        return f"{self.prefix}{{lb}}:all" if period == "all" else f"{self.prefix}{{lb}}:day:{day}"

    @property
    def names_key(self) -> str:
        return f"{self.prefix}{{lb}}:names"

    def game_key(self, game_id: str) -> str:
        return f"{self.prefix}game:{game_id}"

    def awarded_key(self, day: str) -> str:
        return f"{self.prefix}{{lb}}:awarded:{day}"

    @property
    def public_key(self) -> str:
        return f"{self.prefix}public"

    def proc_key(self, proc_id: str) -> str:
        return f"{self.prefix}proc:{proc_id}"

    @property
    def spare_key(self) -> str:
        return f"{self.prefix}spare"

    @property
    def handoff_key(self) -> str:
        return f"{self.prefix}handoff"

    # ------------------------------------------------------------------ rooms

    async def create_room(self, code: str, room_state: dict[str, Any]) -> bool:
        ok = await self.redis.set(
            self.room_key(code, "state"),
            json.dumps(room_state),
            nx=True,
            px=self.settings.room_ttl_seconds * 1000,
        )
        return bool(ok)

    async def room_exists(self, code: str) -> bool:
        return bool(await self.redis.exists(self.room_key(code, "state")))

    async def load_room(self, code: str) -> tuple[dict[str, Any], str, list[dict[str, Any]]] | None:
        """(room dict, last applied command id, ink ops) or None when the room is gone."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.get(self.room_key(code, "state"))
            pipe.get(self.room_key(code, "cursor"))
            pipe.lrange(self.room_key(code, "ink"), 0, -1)
            raw, cursor, ink = await pipe.execute()
        if raw is None:
            return None
        return json.loads(raw), cursor or "0-0", [json.loads(op) for op in ink]

    async def persist(
        self,
        code: str,
        epoch: int,
        room_state: dict[str, Any] | None,
        cursor: str,
        *,
        reset_ink: bool,
        ink: Sequence[str],
        game_id: str | None,
        scores: dict[str, int],
        events: Sequence[str],
    ) -> None:
        """Write the room (``None``: unchanged), the command cursor, append ink, record the
        game's scores and publish the events, all in one script that first checks the fencing
        epoch. Raises :class:`Fenced`."""
        score_args: list[Any] = []
        if game_id is not None:
            for pid, score in scores.items():
                score_args += [pid, score]
        args: list[Any] = [
            epoch,
            "" if room_state is None else dumps(room_state),
            self.settings.room_ttl_seconds * 1000,
            "1" if reset_ink else "0",
            self.channel(code),
            cursor,
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
            self.room_key(code, "cursor"),
        ]
        ok = await self._run_persist(keys, args)
        if not ok:
            raise Fenced(code)

    def _run_persist(self, keys: list[str], args: list[Any]) -> asyncio.Future[Any]:
        """The PERSIST script's reply. The persists of one tick's rooms (each awaited by its
        room's commit, started together) go to Redis in ONE pipeline, each script still fenced
        and atomic on its own: one round trip and one pooled connection instead of one per
        room."""
        loop = asyncio.get_running_loop()
        reply: asyncio.Future[Any] = loop.create_future()
        self._persists.append((keys, args, reply))
        if len(self._persists) == 1:  # the first of a batch: send the batch once the others
            task = loop.create_task(self._flush_persists())  # of this loop pass joined it
            self._flushes.add(task)
            task.add_done_callback(self._flushes.discard)
        return reply

    async def _flush_persists(self) -> None:
        batch, self._persists = self._persists, []
        try:
            replies = await run_batch(self.redis, PERSIST_SCRIPT, [(k, a) for k, a, _ in batch])
        except BaseException as exc:  # the whole batch failed (connection lost, cancelled)
            for *_, reply in batch:
                if not reply.done():
                    reply.set_exception(exc if isinstance(exc, Exception) else RedisError(exc))
            if not isinstance(exc, Exception):
                raise
            return
        for (*_, reply), r in zip(batch, replies, strict=True):
            if not reply.done():
                if isinstance(r, Exception):
                    reply.set_exception(r)
                else:
                    reply.set_result(r)

    async def game_scores(self, code: str, game_id: str) -> dict[str, int]:
        rows = await self.redis.zrange(
            self.room_key(code, f"scores:{game_id}"), 0, -1, withscores=True
        )
        return {member: int(score) for member, score in rows}

    # ------------------------------------------------------------------ commands

    async def send_command(self, code: str, command: bytes) -> str:
        """Append an encoded :class:`protocol.Command` to the room's command stream."""
        key = self.room_key(code, "cmd")
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(key, {"c": command}, maxlen=100_000, approximate=True)
            pipe.pexpire(key, self.settings.room_ttl_seconds * 1000)
            msg_id, _ = await pipe.execute()
        return str(msg_id)

    async def read_commands(
        self, code: str, after: str, block_ms: int | None, count: int = 500
    ) -> list[tuple[str, Command]]:
        """Commands after id ``after``; waits up to ``block_ms`` for one (``None``: no wait)."""
        reply = await self.redis.xread(
            {self.room_key(code, "cmd"): after}, count=count, block=block_ms
        )
        out: list[tuple[str, Command]] = []
        for _key, entries in reply or []:
            for msg_id, fields in entries:
                out.append((msg_id, decode_command(fields["c"])))
        return out

    # ------------------------------------------------------------------ leaderboards

    async def award(self, award_id: str, player: str, name: str, points: int, day: str) -> bool:
        """Add ``points`` to ``player`` (an identity) on both leaderboards, once per
        ``award_id``; ``name`` becomes the name shown for ``player``."""
        keys = [
            self.lb_key("all"),
            self.lb_key("today", day),
            self.awarded_key(day),
            self.names_key,
        ]
        args = (award_id, player, name, points, DAY_KEEP_MS)
        return bool(await self.redis.eval(AWARD, len(keys), *keys, *args))

    async def leaderboard(self, period: str, day: str, limit: int) -> list[dict[str, Any]]:
        rows = await self.redis.zrevrange(self.lb_key(period, day), 0, limit - 1, withscores=True)
        names = await self.redis.hmget(self.names_key, [p for p, _ in rows]) if rows else []
        out: list[dict[str, Any]] = []
        prev: int | None = None
        rank = 0
        for i, ((player, score), name) in enumerate(zip(rows, names, strict=True), start=1):
            if int(score) != prev:
                rank, prev = i, int(score)
            out.append({"rank": rank, "player": player, "name": name or "?", "score": int(score)})
        return out

    # ------------------------------------------------------------------ prompt difficulty

    def prompt_key(self, label: str) -> str:
        return f"{self.prefix}{{prompts}}:stats:{label}"

    async def record_round(self, record: dict[str, Any]) -> bool:
        """Add a round record (difficulty.round_record) to its prompt's stats, once per id."""
        keys = [
            f"{self.prefix}{{prompts}}:counted:{record['id']}",
            self.prompt_key(record["prompt"]),
        ]
        buckets = [difficulty.bucket_of(ms) for ms in record["elapsed_ms"]]
        args = [COUNTED_KEEP_MS, record["drawings"], len(buckets), len(buckets), *buckets]
        return bool(await self.redis.eval(RECORD_ROUND, 2, *keys, *args))

    async def prompt_stats(self, labels: Sequence[str]) -> dict[str, difficulty.PromptStats]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for label in labels:
                pipe.hgetall(self.prompt_key(label))
            rows = await pipe.execute()
        out: dict[str, difficulty.PromptStats] = {}
        for label, row in zip(labels, rows, strict=True):
            if row:
                stats = difficulty.PromptStats(
                    int(row.get("rounds", 0)),
                    int(row.get("drawings", 0)),
                    int(row.get("recognized", 0)),
                )
                stats.histogram = [int(row.get(f"h{i}", 0)) for i in range(len(stats.histogram))]
                out[label] = stats
        return out

    # ------------------------------------------------------------------ game galleries

    async def archive_game(self, game_id: str, part: str, record: dict[str, Any]) -> None:
        """Keep one part of a game's record (idempotent: a part is written whole)."""
        key = self.game_key(game_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, part, json.dumps(record, separators=(",", ":")))
            pipe.pexpire(key, self.settings.game_ttl_seconds * 1000)
            await pipe.execute()

    async def load_game(self, game_id: str) -> dict[str, Any] | None:
        """A finished game: its ``meta`` with ``rounds`` (round records in order, a "beat" round's
        turns ``r<round>.<turn>`` one after another), or None."""
        parts = await self.redis.hgetall(self.game_key(game_id))
        if "meta" not in parts:
            return None
        game = json.loads(parts.pop("meta"))
        rounds = sorted(
            ([int(n) for n in k[1:].split(".")], json.loads(v))
            for k, v in parts.items()
            if k[:1] == "r"
        )
        game["rounds"] = [r for _, r in rounds]
        return game

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

    async def publish_load(self, proc_id: str, spare: bool, now_ms: int, ttl_ms: int) -> None:
        """List a process among those with spare capacity until ``now_ms + ttl_ms`` (renewed
        with its heartbeat), or take it off the list (overloaded, or closing)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            if not spare:
                pipe.zrem(self.spare_key, proc_id)
            else:
                pipe.zadd(self.spare_key, {proc_id: now_ms + ttl_ms})
            pipe.zremrangebyscore(self.spare_key, "-inf", now_ms)
            await pipe.execute()

    async def room_owners(self, codes: Sequence[str]) -> dict[str, str | None]:
        """The process holding each room's lease (None: no owner)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for code in codes:
                pipe.get(self.room_key(code, "lease"))
            values = await pipe.execute()
        return {c: v.split()[0] if v else None for c, v in zip(codes, values, strict=True)}

    async def spare_processes(self, now_ms: int) -> set[str]:
        """The live processes that are not overloaded."""
        return set(await self.redis.zrangebyscore(self.spare_key, now_ms, "+inf"))

    async def hand_off(self, code: str, now_ms: int) -> None:
        """Ask a process with spare capacity to claim ``code`` (an overloaded one does not)."""
        await self.redis.zadd(self.handoff_key, {code: now_ms}, nx=True)

    async def next_handoff(self, timeout_s: float) -> str | None:
        """Take the oldest room handed off (waiting up to ``timeout_s`` for one): each goes to
        exactly one process."""
        popped = await self.redis.bzpopmin(self.handoff_key, timeout_s)
        return str(popped[1]) if popped else None
