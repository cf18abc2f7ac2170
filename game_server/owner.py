"""The owner of a room: the one process that runs its rules and timers.

:class:`Owners` (one per process) claims rooms: a room that has sockets on this process but no
lease holder is claimed with :func:`lease.acquire`; then a :class:`RoomActor` loads the room from
Redis (state + ink log), and serially:

1. reads client commands from the room's command stream (``XREAD`` after the last applied id),
   inference results and timer wake-ups;
2. applies them to the :class:`rules.Room`;
3. persists the new state, the last applied command id, ink and scores, and publishes the events,
   all in one fenced Lua script (``store.PERSIST``) — so a command's effects are durable and
   announced exactly once, and a stale owner can neither write nor announce;
4. posts score awards to the leaderboards (idempotent; pending awards are part of the state, so a
   new owner finishes what a dead one started).

The lease is renewed every ``lease_ms / 3``; when renewal or a fenced write fails the actor stops
at once, dropping its in-memory state (the room in Redis is never half-written).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from redis.exceptions import RedisError

from game_server import lease as leases
from game_server import protocol
from game_server.clock import Clock
from game_server.config import Settings
from game_server.hub import encode_event
from game_server.inference import InferenceRunner, Request, Result
from game_server.rules import (
    Award,
    Broadcast,
    Effect,
    Infer,
    InkOp,
    Room,
    Send,
)
from game_server.store import Fenced, Store

log = logging.getLogger("game_server.owner")

DEAD_CHECK_MS = 1000


def effects_to_events(effects: list[Effect]) -> list[str]:
    events: list[str] = []
    for e in effects:
        if isinstance(e, Broadcast):
            header: dict[str, Any] = {"kind": e.msg["type"]}
            if e.exclude is not None:
                header["x"] = e.exclude
            events.append(encode_event(header, e.msg))
        elif isinstance(e, Send):
            header = {"to": e.conn, "kind": e.msg["type"] if e.msg else None}
            if e.close is not None:
                header["close"] = e.close
            if e.msg is not None and e.msg["type"] == "welcome":
                header["player_id"] = e.msg["player_id"]
            events.append(encode_event(header, e.msg))
    return events


class RoomActor:
    def __init__(
        self,
        owners: Owners,
        code: str,
        lease: leases.Lease,
        room: Room,
        cmd_id: str,
    ) -> None:
        self.owners = owners
        self.code = code
        self.lease = lease
        self.room = room
        self.cmd_id = cmd_id
        self.queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.stopped = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self._public_count: int | None = None

    @property
    def store(self) -> Store:
        return self.owners.store

    @property
    def clock(self) -> Clock:
        return self.owners.clock

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._main(), name=f"room-{self.code}"),
            asyncio.create_task(self._read_commands(), name=f"cmds-{self.code}"),
            asyncio.create_task(self._renew(), name=f"lease-{self.code}"),
        ]

    async def stop(self, release: bool) -> None:
        self.stopped.set()
        current = asyncio.current_task()
        for t in self._tasks:
            if t is not current:
                t.cancel()
        for t in self._tasks:
            if t is not current:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
        if release:
            with contextlib.suppress(RedisError, OSError):
                await leases.release(
                    self.store.redis, self.store.room_key(self.code, "lease"), self.lease
                )

    # ------------------------------------------------------------------ inputs

    async def _read_commands(self) -> None:
        after = self.cmd_id
        while True:
            try:
                entries = await self.store.read_commands(self.code, after, block_ms=1000)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("room %s: reading commands failed", self.code, exc_info=True)
                await asyncio.sleep(0.2)  # Redis trouble: back off, then read again
                continue
            for msg_id, cmd in entries:
                after = msg_id
                self.queue.put_nowait(("cmd", (msg_id, cmd)))

    async def _renew(self) -> None:
        redis = self.store.redis
        key = self.store.room_key(self.code, "lease")
        ttl = self.owners.settings.lease_ms
        while True:
            await asyncio.sleep(ttl / 3000)
            try:
                ok = await leases.renew(redis, key, self.lease, ttl)
            except (RedisError, OSError):
                log.warning("room %s: lease renewal failed", self.code)
                ok = False
            if not ok:
                log.warning("room %s: lease lost (epoch %d)", self.code, self.lease.epoch)
                self.queue.put_nowait(("lost", None))
                return

    def _deliver_guess(self, result: Result) -> None:
        if not self.stopped.is_set():
            self.queue.put_nowait(("guess", result))

    # ------------------------------------------------------------------ main loop

    async def _main(self) -> None:
        try:
            await self._loop()
        except asyncio.CancelledError:
            raise
        except Fenced:
            log.warning("room %s: fenced off (another process owns it)", self.code)
            await self.owners.dropped(self, release=False)
        except (RedisError, OSError):
            # Redis went away mid-write: the room stays as last committed; reclaimed later.
            log.warning("room %s: Redis unavailable; dropping the room from memory", self.code)
            await self.owners.dropped(self, release=True)
        except Exception:
            log.exception("room %s: owner failed; dropping the room from memory", self.code)
            await self.owners.dropped(self, release=True)

    async def _loop(self) -> None:
        room = self.room
        now = self.clock.now_ms()
        # a new owner: drop sockets of dead processes, re-run pending awards, refresh guesses
        effects = await self._check_dead(now)
        for pid in list(room.players):
            if room.players[pid].strokes:
                effects.append(Infer(pid))
        await self._commit(effects, self.cmd_id, force=True)
        next_dead_check = now + DEAD_CHECK_MS
        while True:
            timeout = self._timeout(next_dead_check)
            try:
                first = await asyncio.wait_for(self.queue.get(), timeout=timeout)
                items = [first]
                while not self.queue.empty():
                    items.append(self.queue.get_nowait())
            except TimeoutError:
                items = []
            now = self.clock.now_ms()
            effects = []
            cmd_id = self.cmd_id
            for kind, value in items:
                if kind == "lost":
                    raise Fenced(self.code)
                if kind == "cmd":
                    if not _stream_after(value[0], cmd_id):
                        continue  # already applied by _catch_up
                    cmd_id, cmd = value
                    effects += self._apply(now, cmd)
                elif kind == "guess":
                    r: Result = value
                    req = r.request
                    effects += room.apply_guess(
                        now, req.player_id, req.round_no, req.seq, req.at, r.guesses
                    )
            if now >= next_dead_check:
                effects += await self._check_dead(now)
                next_dead_check = now + DEAD_CHECK_MS
            if room.round_due(now):
                caught, cmd_id = await self._catch_up(now, cmd_id)
                effects += caught
                if room.round_due(now):
                    effects += await self._end_round(now)
            effects += room.tick(now)
            if room.round_due(now):  # e.g. a new round nobody can draw in yet: not possible,
                effects += await self._end_round(now)  # but keep the invariant explicit
            await self._commit(effects, cmd_id)
            if room.is_abandoned() and self.queue.empty():
                log.info("room %s: abandoned, releasing ownership", self.code)
                await self.owners.dropped(self, release=True)
                return

    async def _catch_up(self, now: int, after: str) -> tuple[list[Effect], str]:
        """Apply every command already in the room's stream after ``after`` before a round
        ends: they arrived (``at``) before ``now``, maybe before the deadline, and must count —
        e.g. for a new owner taking over after the deadline, whose reader has not read them
        yet. Returns their effects and the id of the last one."""
        effects: list[Effect] = []
        while entries := await self.store.read_commands(self.code, after, block_ms=None):
            for msg_id, cmd in entries:
                after = msg_id
                effects += self._apply(now, cmd)
        return effects, after

    def _timeout(self, next_dead_check: int) -> float:
        wake = self.room.next_wakeup()
        target = next_dead_check if wake is None else min(wake, next_dead_check)
        return self.clock.seconds_until(target)

    async def _check_dead(self, now: int) -> list[Effect]:
        procs = sorted({c.rsplit(":", 1)[0] for c in self.room.connected_conns()})
        if not procs:
            return []
        alive = await self.store.alive_processes(procs)
        return self.room.disconnect_dead(now, alive)

    async def _end_round(self, now: int) -> list[Effect]:
        room = self.room
        drawings = {p.id: room.drawing_of(p.id) for p in room.seated()}
        finals = await self.owners.runner.final(drawings)
        effects: list[Effect] = []
        # updates that arrived before the deadline count even if the AI had not seen them yet
        for p in room.seated():
            final = finals.get(p.id)
            if final and final.guesses and p.recognized_elapsed is None and p.last_update_at:
                effects += room.apply_guess(
                    now, p.id, room.round, p.seq, p.last_update_at, final.guesses
                )
        return effects + room.end_round(now, finals)

    def _apply(self, now: int, cmd: dict[str, Any]) -> list[Effect]:
        room = self.room
        conn: str = cmd["conn"]
        at: int = cmd.get("at", now)
        kind = cmd["k"]
        try:
            if kind == "join":
                token = f"{self.code}.{secrets.token_urlsafe(24)}"
                return room.join(
                    now,
                    conn,
                    cmd["name"],
                    spectator=cmd.get("spectator", False),
                    resume=cmd.get("resume"),
                    new_token=token,
                )
            if kind == "disconnect":
                return room.disconnect(now, conn)
            if kind == "resync":
                return room.resync(now, conn)
            if kind == "reattach":
                return room.reattach(now, conn, cmd["token"])
            if kind == "leave":
                return room.leave(now, conn)
            if kind == "settings":
                return room.change_settings(now, conn, cmd["rounds"], cmd["seconds"])
            if kind == "start":
                return room.start(now, conn)
            if kind == "play_again":
                return room.play_again(now, conn)
            if kind == "kick":
                return room.kick(now, conn, cmd["player_id"])
            if kind == "points":
                return room.points(at, conn, cmd["seq"], cmd["stroke"], cmd["points"])
            if kind == "undo":
                return room.undo(at, conn, cmd["seq"])
            if kind == "clear":
                return room.clear(at, conn, cmd["seq"])
        except (KeyError, TypeError, ValueError):
            log.exception("room %s: malformed command %r", self.code, kind)
            return [Send(conn, protocol.error_message("internal", "could not apply that"))]
        log.error("room %s: unknown command %r", self.code, kind)
        return []

    async def _commit(self, effects: list[Effect], cmd_id: str, force: bool = False) -> None:
        if not effects and cmd_id == self.cmd_id and not force:
            return
        room = self.room
        reset = False
        ink: list[str] = []
        for e in effects:
            if isinstance(e, InkOp):
                if e.op is None:
                    reset, ink = True, []
                else:
                    ink.append(_dumps(e.op))
        if room.public:
            # the quick-play directory is advisory (the owner still checks capacity); update it
            # before the welcome goes out so the next quick-play join sees this room
            count = len(room.seated()) if not room.is_abandoned() else 0
            if count != self._public_count:
                with contextlib.suppress(RedisError, OSError):
                    await self.store.set_public_count(self.code, count)
                self._public_count = count
        await self.store.persist(
            self.code,
            self.lease.epoch,
            room.to_dict(),
            cmd_id,
            reset_ink=reset,
            ink=ink,
            game_id=room.game_id,
            scores=room.scores(),
            events=effects_to_events(effects),
        )
        self.cmd_id = cmd_id
        # after the state (with its pending awards) is durable: count them, once
        if room.pending_awards:
            posted: set[str] = set()
            for a in list(room.pending_awards):
                try:
                    await self.store.award(a["award_id"], a["name"], a["points"], a["day"])
                    posted.add(a["award_id"])
                except (RedisError, OSError):
                    log.warning("room %s: award %s not posted yet", self.code, a["award_id"])
            room.awards_posted(posted)
        for e in effects:
            if isinstance(e, Infer):
                self._request_inference(e.player_id)
            elif isinstance(e, Award):
                pass  # posted above from room.pending_awards

    def _request_inference(self, player_id: str) -> None:
        p = self.room.players.get(player_id)
        if p is None:
            return
        self.owners.runner.request(
            Request(
                room=self.code,
                player_id=player_id,
                round_no=self.room.round,
                seq=p.seq,
                at=p.last_update_at,
                drawing=self.room.drawing_of(player_id),
            ),
            self._deliver_guess,
        )


def _stream_after(a: str, b: str) -> bool:
    """Whether stream id ``a`` comes after ``b`` (ids are ``<ms>-<seq>``)."""
    ams, _, aseq = a.partition("-")
    bms, _, bseq = b.partition("-")
    return (int(ams), int(aseq or 0)) > (int(bms), int(bseq or 0))


def _dumps(obj: Any) -> str:
    import json

    return json.dumps(obj, separators=(",", ":"))


class Owners:
    """This process's owned rooms, and claiming of rooms without an owner."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        clock: Clock,
        runner: InferenceRunner,
        proc_id: str,
        rooms_wanted: Callable[[], list[str]],
        heartbeat: Callable[[], Awaitable[None]],
        events_ready: Callable[[], bool] = lambda: True,
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.runner = runner
        self.proc_id = proc_id
        self.rooms_wanted = rooms_wanted
        self.events_ready = events_ready
        # liveness.Liveness.beat: also re-announces our sockets after a lapse
        self.heartbeat = heartbeat
        self.actors: dict[str, RoomActor] = {}
        self._claiming: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self.rng = random.Random(secrets.randbits(64))

    def start(self) -> None:
        self._task = asyncio.create_task(self._claim_loop(), name="claim")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for actor in list(self.actors.values()):
            await actor.stop(release=True)
        self.actors.clear()

    async def _claim_loop(self) -> None:
        period = self.settings.lease_ms / 3000
        while True:
            await asyncio.sleep(period)
            try:
                await self.heartbeat()
                for code in self.rooms_wanted():
                    await self.ensure(code)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("claim loop: Redis unavailable", exc_info=True)

    async def ensure(self, code: str) -> None:
        """Make sure someone owns ``code``: claim it if its lease is free."""
        if code in self.actors or code in self._claiming:
            return
        if not self.events_ready():
            return  # our own sockets would miss the room's events: claim once pub/sub is back
        lease_key = self.store.room_key(code, "lease")
        if await self.store.redis.exists(lease_key):
            return
        self._claiming.add(code)
        try:
            lease = await leases.acquire(
                self.store.redis,
                lease_key,
                self.store.room_key(code, "epoch"),
                self.proc_id,
                self.settings.lease_ms,
                self.settings.room_ttl_seconds * 1000,
            )
            if lease is None:
                return
            loaded = await self.store.load_room(code)
            if loaded is None:
                await leases.release(self.store.redis, lease_key, lease)
                return
            state, cmd_id, ink = loaded
            room = Room.from_dict(state, self.settings, self.runner.labels, rng=self.rng)
            room.replay_ink(ink)
            actor = RoomActor(self, code, lease, room, cmd_id)
            self.actors[code] = actor
            log.info("room %s: owned by %s (epoch %d)", code, self.proc_id, lease.epoch)
            actor.start()
        finally:
            self._claiming.discard(code)

    async def dropped(self, actor: RoomActor, release: bool) -> None:
        if self.actors.get(actor.code) is actor:
            del self.actors[actor.code]
        await actor.stop(release=release)
