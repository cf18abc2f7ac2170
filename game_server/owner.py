"""The owner of a room: the one process that runs its rules and timers, one tick at a time.

:class:`Owners` (one per process) claims rooms: a room that has sockets on this process but no
lease holder is claimed with :func:`lease.acquire`; then a :class:`RoomActor` loads the room from
Redis (state, command cursor, ink log). Commands reach the actor's inbox in arrival order, as
typed :class:`protocol.Command` objects: directly from sockets on this process (the owner-local
fast path), or from the room's command stream (``XREAD``) for sockets on other processes.

The process ticks (``tick_ms`` after the first input of an idle moment; no tick while idle).
One tick, for every room with input or a due timer:

1. apply the inbox's commands to the :class:`rules.Room`, in order;
2. run the AI once on every drawing that changed, and on every drawing idle for ``settle_ms``
   with its live belief settled (:meth:`rules.Room.settle_due`), across all rooms of the
   process: ONE batched model call (:meth:`InferenceRunner.guesses`), and apply the guesses
   (recognition, scores);
3. end a round that is due, after applying every command that already arrived (the inbox and the
   room's stream read to its end: commands count by their arrival time, also for a new owner
   taking over after the deadline), run the room's timers;
4. persist what changed in one fenced Lua script (``store.PERSIST``): the tick's ink ops, the
   command cursor, the room state only when the game changed (never for ink or guesses alone),
   and publish the events when sockets of other processes listen — so a command's effects are
   durable before they are announced, and a stale owner can neither write nor announce;
5. hand the events (one ``frame`` of ink and guesses, other messages in order) to this process's
   sockets directly, then post score awards and the finished rounds' records of prompt
   difficulty (each idempotent; both pending lists are part of the state).

Steps 4-5 of a room (its commit: Redis round trips) overlap the next tick: the tick loop starts
each room's commit and goes on, so the next tick's model call runs while the previous tick's
writes are in flight. A room whose commit is still running is not ticked (its input waits in its
inbox, a due timer stays due) until the commit lands, so each room's steps stay in order: one
commit in flight per room, its state durable before its next tick's effects.

One task renews the leases of every room of the process every ``lease_ms / 3``, in ONE
pipelined round trip (:func:`lease.renew_all`), so renewals neither wait for a task per room nor
for pooled connections, and then checks in one more which processes with sockets in its rooms
are alive; when a renewal or a fenced write fails the actor stops at once, dropping
its in-memory state (the room in Redis is never half-written).

Backpressure: a room's inbox holds at most about ``inbox_limit`` commands. Beyond it the readers
of its local sockets wait (:meth:`RoomActor.room_for_input`) before they read their next message,
so uvicorn stops reading those sockets and TCP pushes back on the clients, and the room's stream
reader waits before its next ``XREAD``; the next tick takes the inbox and lets them read again.
Nothing is dropped or reordered: a socket's messages wait, in order, in its TCP buffers.

Admission (:mod:`overload`): after each tick and each upkeep the process measures how long its
oldest unhandled input has waited and how many inboxes are full. While it is overloaded it lists
itself off the processes with spare capacity (``spare``, renewed with the heartbeat), and
:meth:`Owners.ensure` hands a room without an owner to one of those (``handoff``: each of them
waits on it with ``BZPOPMIN`` and the one that pops the room claims it) instead of claiming it;
with no spare process it claims as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from redis.exceptions import RedisError

from game_server import lease as leases
from game_server import protocol
from game_server.clock import Clock
from game_server.config import Settings
from game_server.frames import Event, Header, TickOutput, dumps, encode_event
from game_server.inference import InferenceRunner, Sketch
from game_server.overload import LoadMeter, Sample
from game_server.prompts import PromptBook
from game_server.rules import (
    NO_GUESS,
    Archive,
    Broadcast,
    Effect,
    Guess,
    Guessed,
    Infer,
    InkOp,
    Room,
    Send,
    changes_state,
)
from game_server.store import Fenced, Store

log = logging.getLogger("game_server.owner")

HANDOFF_WAIT_S = 1.0  # how long one wait for a handed-off room blocks (BZPOPMIN)


@dataclass(frozen=True, slots=True)
class Alive:
    """Inbox item: the live processes among those with sockets in the room, as seen by a check
    issued when the room had received ``mark`` commands: a socket heard from after that (e.g. its
    ``Reattach`` once its paused process is back) is alive whatever the check saw."""

    procs: set[str]
    mark: int


class Lost:
    """Inbox item: the lease is lost."""


Item = tuple[protocol.Command, str | None] | Alive | Lost  # (command, stream id or None)


def event_header(e: Broadcast | Send) -> Header:
    if isinstance(e, Broadcast):
        header: Header = {"kind": e.msg["type"]}
        if e.exclude is not None:
            header["x"] = e.exclude
        return header
    header = {"to": e.conn, "kind": e.msg["type"] if e.msg else None}
    if e.close is not None:
        header["close"] = e.close
    if e.msg is not None and e.msg["type"] == "welcome":
        header["player_id"] = e.msg["player_id"]
    return header


def wire_op(op: dict[str, Any]) -> dict[str, Any]:
    """An ink-log op as sent in a ``frame`` (without the player, seq and arrival time)."""
    if op["op"] == "points":
        return {"op": "points", "stroke": op["stroke"], "points": op["points"]}
    return {"op": op["op"]}


class RoomActor:
    def __init__(
        self,
        owners: Owners,
        code: str,
        lease: leases.Lease,
        room: Room,
        cursor: str,
    ) -> None:
        self.owners = owners
        self.code = code
        self.lease = lease
        self.room = room
        self.cursor = cursor  # the last applied command of the stream
        self._saved_cursor = cursor
        self._after = cursor  # the last stream command read
        self.inbox: list[Item] = []
        self.arrivals = 0  # commands received so far
        self._heard: dict[str, int] = {}  # conn -> arrival number of its latest command
        self._has_room = asyncio.Event()  # the inbox is under ``inbox_limit``
        self._has_room.set()
        self.senders: set[str] = set()  # local connections whose commands this tick applies
        self.stopped = False
        self.fresh = True  # a new owner: refresh guesses and persist on the first tick
        self.sketches: dict[str, Sketch] = {}
        for p in room.players.values():
            for i, stroke in enumerate(p.strokes):
                self.sketch(p.id).apply_points(i, stroke)
        self._tasks: list[asyncio.Task[Any]] = []
        self._public_count: int | None = None

    @property
    def store(self) -> Store:
        return self.owners.store

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._read_commands(), name=f"cmds-{self.code}"),
            # a new owner checks at once which processes of the room's sockets are dead
            asyncio.create_task(self.owners.check_processes([self]), name=f"dead-{self.code}"),
        ]

    async def stop(self, release: bool) -> None:
        # the loops of the tasks also stop on ``stopped``: redis-py may turn a cancellation
        # into a ConnectionError, which they catch and retry
        self.stopped = True
        self._has_room.set()  # waiting readers go on (their commands go to the stream now)
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        if release:
            with contextlib.suppress(RedisError, OSError):
                await leases.release(
                    self.store.redis, self.store.room_key(self.code, "lease"), self.lease
                )

    # ------------------------------------------------------------------ inputs

    def submit(self, cmd: protocol.Command, stream_id: str | None = None) -> None:
        self.inbox.append((cmd, stream_id))
        self.arrivals += 1
        self._heard[cmd.conn] = self.arrivals
        if len(self.inbox) >= self.owners.settings.inbox_limit:
            self._has_room.clear()
        self.owners.wake()

    @property
    def full(self) -> bool:
        """The inbox is at ``inbox_limit``: the room's readers wait."""
        return not self._has_room.is_set()

    async def room_for_input(self) -> None:
        """Return once the inbox is under ``inbox_limit`` (or the actor stopped): a socket's
        reader waits here before reading its next message (backpressure)."""
        await self._has_room.wait()

    def lose(self) -> None:
        """The lease is lost: close the fast path at once (:meth:`Owners.local` no longer
        returns this actor, so commands go to the room's stream); the next tick drops it."""
        self.stopped = True
        self.post(Lost())

    def post(self, item: Alive | Lost) -> None:
        self.inbox.append(item)
        self.owners.wake()

    async def read_backlog(self) -> None:
        """Every command already waiting in the stream, into the inbox: for a new owner before
        the fast path opens, and before a round ends (:meth:`timers`)."""
        while entries := await self.store.read_commands(self.code, self._after, block_ms=None):
            self._take(entries)

    def _take(self, entries: list[tuple[str, protocol.Command]]) -> None:
        # the reader's XREAD may return entries read meanwhile by read_backlog: skip those
        for msg_id, cmd in entries:
            if stream_after(msg_id, self._after):
                self._after = msg_id
                self.submit(cmd, msg_id)

    async def _read_commands(self) -> None:
        while not self.stopped:
            await self.room_for_input()
            try:
                entries = await self.store.read_commands(self.code, self._after, block_ms=1000)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("room %s: reading commands failed", self.code, exc_info=True)
                await asyncio.sleep(0.2)  # Redis trouble: back off, then read again
                continue
            self._take(entries)

    # ------------------------------------------------------------------ one tick

    def due(self, now: int) -> bool:
        if self.inbox or self.fresh or self.room.round_due(now):
            return True
        wake = self.room.next_wakeup()
        return wake is not None and wake <= now

    def apply_inbox(self, now: int) -> list[Effect]:
        """Step 1 of a tick: the inbox's commands, in order. Raises :class:`Fenced`."""
        items, self.inbox = self.inbox, []
        self._has_room.set()
        effects: list[Effect] = []
        for i, item in enumerate(items):
            if isinstance(item, Lost):
                # what was not applied stays in the inbox: its local senders are told
                # ``unavailable`` (Owners._failed) instead of never hearing back
                self.inbox = items[i + 1 :] + self.inbox
                raise Fenced(self.code)
            if isinstance(item, Alive):
                heard = {c for c, n in self._heard.items() if n > item.mark}
                effects += self.room.disconnect_dead(now, item.procs, heard)
                continue
            cmd, stream_id = item
            try:
                effects += self._apply(now, cmd)
            except Exception:  # a bug, not bad input (validated at the socket): skip it
                log.exception("room %s: applying %r failed", self.code, cmd.msg)
                error = protocol.error_message("internal", "could not apply that")
                effects.append(Send(cmd.conn, error))
            if stream_id is not None:
                self.cursor = stream_id
            elif not isinstance(cmd.msg, protocol.Disconnect):
                self.senders.add(cmd.conn)
        if self.fresh:
            effects += [Infer(p.id) for p in self.room.players.values() if p.strokes]
        return effects

    def follow(self, effects: list[Effect]) -> dict[str, int]:
        """Keep the sketches in step with ``effects``' ink; the players to run the AI on (with
        the round they drew in)."""
        infer: dict[str, int] = {}
        for e in effects:
            if isinstance(e, InkOp):
                op = e.op
                if op is None:
                    self.sketches = {}
                    continue
                sketch = self.sketch(op["p"])
                sketch.arrived_at = op["at"]
                if op["op"] == "points":
                    sketch.apply_points(op["stroke"], op["points"])
                elif op["op"] == "undo":
                    sketch.undo()
                else:
                    sketch.clear()
            elif isinstance(e, Infer) and e.player_id in self.room.players:
                infer[e.player_id] = self.room.round
        return infer

    def sketch(self, player_id: str) -> Sketch:
        sketch = self.sketches.get(player_id)
        if sketch is None:
            sketch = self.sketches[player_id] = Sketch()
        return sketch

    def apply_guesses(self, now: int, guesses: list[tuple[str, int, Guess]]) -> list[Effect]:
        """Step 2: the AI's guesses (player, round drawn in, top guesses)."""
        room = self.room
        effects: list[Effect] = []
        for pid, round_no, top in guesses:
            p = room.players.get(pid)
            if p is not None:
                top = top if p.strokes else NO_GUESS  # an empty drawing has no guesses
                effects += room.apply_guess(now, pid, round_no, p.seq, p.last_update_at, top)
        # every guess first (one frame), then what they caused (recognitions)
        return sorted(effects, key=lambda e: not isinstance(e, Guessed))

    async def timers(self, now: int) -> list[Effect]:
        """Step 3: the end of a round that is due, then the room's other timers (their ink
        followed by the sketches). Raises :class:`Fenced`.

        Before a round ends, every command that already arrived is applied, by arrival time:
        the inbox (local commands that came during this tick) and the room's stream, read to
        its end (e.g. for a new owner taking over after the deadline, commands sent before it
        that its reader has not read yet); the rules refuse updates that arrived (``at``) after
        the deadline."""
        room = self.room
        effects: list[Effect] = []
        if room.round_due(now):
            await self.read_backlog()
            effects += self.apply_inbox(now)
            self.follow(effects)
        if room.round_due(now):
            ended = await self._end_round(now)
            self.follow(ended)
            effects += ended
        later = room.tick(now)
        self.follow(later)
        return effects + later

    async def _end_round(self, now: int) -> list[Effect]:
        room = self.room
        finals = await self.owners.runner.final(
            {p.id: self.sketches[p.id] if p.strokes else None for p in room.seated()}
        )
        effects: list[Effect] = []
        # updates that arrived before the deadline count even if the AI had not seen them yet
        for p in room.seated():
            final = finals.get(p.id)
            if final and final.guesses and p.recognized_elapsed is None and p.last_update_at:
                effects += room.apply_guess(now, p.id, room.round, p.seq, p.last_update_at, final)
        return effects + room.end_round(now, finals)

    def _apply(self, now: int, cmd: protocol.Command) -> list[Effect]:
        room, conn, at = self.room, cmd.conn, cmd.at
        match cmd.msg:
            case protocol.Points(seq=seq, stroke=stroke, points=points):
                return room.points(at, conn, seq, stroke, points)
            case protocol.Undo(seq=seq):
                return room.undo(at, conn, seq)
            case protocol.Clear(seq=seq):
                return room.clear(at, conn, seq)
            case protocol.Join(name=name, spectator=spectator, resume=resume, key=key):
                token = f"{self.code}.{secrets.token_urlsafe(24)}"
                return room.join(
                    now, conn, name, spectator=spectator, resume=resume, new_token=token, key=key
                )
            case protocol.Disconnect():
                return room.disconnect(now, conn)
            case protocol.Resync():
                return room.resync(now, conn)
            case protocol.Reattach(token=token):
                return room.reattach(now, conn, token)
            case protocol.Leave():
                return room.leave(now, conn)
            case protocol.SettingsMsg(rounds=rounds, seconds=seconds, mode=mode, difficulty=level):
                return room.change_settings(now, conn, rounds, seconds, mode, level)
            case protocol.Start():
                return room.start(now, conn)
            case protocol.PlayAgain():
                return room.play_again(now, conn)
            case protocol.Kick(player_id=pid):
                return room.kick(now, conn, pid)
            case protocol.Chat(text=text):
                return room.chat(at, conn, text)
        raise AssertionError(f"unhandled command {cmd.msg!r}")  # pragma: no cover

    async def commit(self, effects: list[Effect]) -> None:
        """Steps 4 and 5: persist what changed, announce, post awards. Raises :class:`Fenced`."""
        room = self.room
        out = TickOutput()
        ink: list[str] = []
        reset = False
        for e in effects:
            if isinstance(e, Archive):  # before the events announce it (idempotent)
                await self.store.archive_game(e.game_id, e.part, e.record)
            elif isinstance(e, InkOp):
                if e.op is None:
                    reset, ink = True, []
                    out.flush()
                else:
                    ink.append(dumps(e.op))
                    out.ink(e.op["p"], wire_op(e.op))
            elif isinstance(e, Guessed):
                out.guess(e.player_id, e.seq, e.guesses)
            elif isinstance(e, Broadcast | Send):
                out.message(event_header(e), e.msg)
        events = out.finish()
        changed = self.fresh or changes_state(effects)
        publish = self._remote_listeners(events)
        if changed or ink or reset or publish or self.cursor != self._saved_cursor:
            if changed and room.public:
                await self._update_public_count()
            origin = self.owners.proc_id
            await self.store.persist(
                self.code,
                self.lease.epoch,
                room.to_dict() if changed else None,
                self.cursor,
                reset_ink=reset,
                ink=ink,
                game_id=room.game_id,
                scores=room.scores() if changed else {},
                events=[encode_event({**h, "o": origin}, p) for h, p in events] if publish else [],
            )
            self._saved_cursor = self.cursor
            self.fresh = False
        self.senders.clear()
        self.owners.deliver(self.code, events)
        # after the state (with its pending awards) is durable: count them, once
        if room.pending_awards:
            posted: set[str] = set()
            for a in list(room.pending_awards):
                try:
                    await self.store.award(**a)
                    posted.add(a["award_id"])
                except (RedisError, OSError):
                    log.warning("room %s: award %s not posted yet", self.code, a["award_id"])
            room.awards_posted(posted)
        # the same for the finished rounds' figures of prompt difficulty: counted once each
        if room.pending_stats:
            await self.owners.prompts.post(room)

    def _remote_listeners(self, events: list[Event]) -> bool:
        """Whether any of ``events`` is for a socket on another process."""
        mine = self.owners.proc_id + ":"
        if not events:
            return False
        for header, _ in events:
            to = header.get("to")
            if to is not None and not to.startswith(mine):
                return True
        broadcast = any("to" not in header for header, _ in events)
        return broadcast and any(not c.startswith(mine) for c in self.room.connected_conns())

    async def _update_public_count(self) -> None:
        # the quick-play directory is advisory (the owner still checks capacity); update it
        # before the welcome goes out so the next quick-play join sees this room
        room = self.room
        count = len(room.seated()) if not room.is_abandoned() else 0
        if count != self._public_count:
            with contextlib.suppress(RedisError, OSError):
                await self.store.set_public_count(self.code, count)
            self._public_count = count


def stream_after(a: str, b: str) -> bool:
    """Whether stream id ``a`` comes after ``b`` (ids are ``<ms>-<seq>``)."""
    ams, _, aseq = a.partition("-")
    bms, _, bseq = b.partition("-")
    return (int(ams), int(aseq or 0)) > (int(bms), int(bseq or 0))


class Owners:
    """This process's owned rooms, their ticks, and claiming of rooms without an owner."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        clock: Clock,
        runner: InferenceRunner,
        proc_id: str,
        rooms_wanted: Callable[[], list[str]],
        deliver: Callable[[str, list[Event]], None],
        heartbeat: Callable[[], Awaitable[None]],
        events_ready: Callable[[], bool] = lambda: True,
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.runner = runner
        self.proc_id = proc_id
        self.rooms_wanted = rooms_wanted
        self.deliver = deliver
        self.heartbeat = heartbeat  # liveness.Liveness.beat: re-announces sockets after a lapse
        self.events_ready = events_ready
        self.actors: dict[str, RoomActor] = {}
        self._claiming: set[str] = set()
        self._claim_task: asyncio.Task[None] | None = None
        self._tick_task: asyncio.Task[None] | None = None
        self._upkeep_task: asyncio.Task[None] | None = None
        self._handoff_task: asyncio.Task[None] | None = None
        self._claims_stopped = False  # redis-py may turn a cancellation into a ConnectionError
        self._closing = False
        self._work = asyncio.Event()
        self._first_input = 0.0
        self._handling_since: float | None = None  # the first input of the running tick
        self._committing: dict[str, asyncio.Task[None]] = {}  # rooms whose commit is in flight
        self.load = LoadMeter.of(settings)
        self._publishing: asyncio.Task[None] | None = None
        self._publish_lock = asyncio.Lock()  # the newest state is the last one written
        self.rng = random.Random(secrets.randbits(64))
        self.prompts = PromptBook(store, runner.labels)

    def start(self) -> None:
        self._claim_task = asyncio.create_task(self._claim_loop(), name="claim")
        self._tick_task = asyncio.create_task(self._tick_loop(), name="tick")
        self._upkeep_task = asyncio.create_task(self._upkeep_loop(), name="upkeep")
        self._handoff_task = asyncio.create_task(self._handoff_loop(), name="handoff")

    async def close(self) -> None:
        """Stop claiming; a last tick applies, stores and announces what is in the inboxes
        (e.g. the disconnects of the sockets closed at shutdown); then release every room."""
        self._claims_stopped = True
        for task in (self._claim_task, self._upkeep_task, self._handoff_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._tick_task is not None:
            self._closing = True
            self._work.set()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._tick_task
        await self.commits()
        for actor in list(self.actors.values()):
            await actor.stop(release=True)
        self.actors.clear()
        if self._publishing is not None:
            await asyncio.gather(self._publishing, return_exceptions=True)
        await self.publish_load(closing=True)

    def local(self, code: str) -> RoomActor | None:
        """The actor of ``code`` if this process owns it (the owner-local fast path)."""
        actor = self.actors.get(code)
        return actor if actor is not None and not actor.stopped else None

    def wake(self) -> None:
        """Input arrived: tick ``tick_ms`` after the first input since the last tick."""
        if not self._work.is_set():
            self._first_input = asyncio.get_running_loop().time()
            self._work.set()

    # ------------------------------------------------------------------ ticking

    async def _tick_loop(self) -> None:
        loop = asyncio.get_running_loop()
        tick_s = self.settings.tick_ms / 1000
        last_ticks = 3
        while True:
            if not self._work.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._work.wait(), self._until_next_timer())
            if self._work.is_set():
                delay = self._first_input + tick_s - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                self._handling_since = self._first_input
            self._work.clear()
            try:
                await self.tick(overlap=not self._closing)
            except Exception:
                log.exception("a tick failed")
            self.measure_load()
            self._handling_since = None
            if self._closing:
                last_ticks -= 1  # until the inboxes are empty, a few ticks at most
                if last_ticks == 0 or not any(a.inbox for a in self.actors.values()):
                    return

    def measure_load(self) -> None:
        """Feed the load meter (after each tick and each upkeep); log and publish a change."""
        now = asyncio.get_running_loop().time()
        waiting = [] if self._handling_since is None else [self._handling_since]
        if self._work.is_set():  # input that came after the running tick started
            waiting.append(self._first_input)
        lag_ms = max(0.0, (now - min(waiting)) * 1000 - self.settings.tick_ms) if waiting else 0.0
        full = sum(1 for a in self.actors.values() if a.full)
        if not self.load.observe(self.clock.now_ms(), Sample(lag_ms, full)):
            return
        if self.load.overloaded:
            log.warning(
                "overloaded: input waits %.0f ms beyond the tick, %d full inboxes; "
                "new rooms go to other processes or are refused (server_busy)",
                lag_ms,
                full,
            )
        else:
            log.info("no longer overloaded: taking new rooms again")
        if self._publishing is None or self._publishing.done():
            self._publishing = asyncio.create_task(self.publish_load(), name="load")

    async def publish_load(self, closing: bool = False) -> None:
        """Tell the other processes whether this one has spare capacity."""
        async with self._publish_lock:
            spare = not (self.load.overloaded or closing)
            with contextlib.suppress(RedisError, OSError):
                await self.store.publish_load(
                    self.proc_id, spare, self.clock.now_ms(), self.settings.lease_ms * 2
                )

    async def spare_elsewhere(self) -> bool:
        """Whether another live process is not overloaded."""
        spare = await self.store.spare_processes(self.clock.now_ms())
        return bool(spare - {self.proc_id})

    def _until_next_timer(self) -> float | None:
        now = self.clock.now_ms()
        times = [
            wake
            for a in self.actors.values()
            if (wake := a.room.next_wakeup()) is not None
            # a room already due whose commit is in flight is woken when it lands (_committed)
            and not (wake <= now and a.code in self._committing)
        ]
        return self.clock.seconds_until(min(times)) if times else None

    async def tick(self, overlap: bool = False) -> None:
        """One tick of every room with input or a due timer (see the module docstring); with
        ``overlap`` the rooms' commits are started, not awaited (:meth:`commits`)."""
        if not overlap:
            await self.commits()  # a tick applies to rooms whose last commit landed
        now = self.clock.now_ms()
        work: list[tuple[RoomActor, list[Effect], dict[str, int]]] = []
        settle: set[tuple[str, str]] = set()
        due = [a for a in self.actors.values() if a.code not in self._committing and a.due(now)]
        for actor in due:
            try:
                effects = actor.apply_inbox(now)
            except Exception as exc:
                await self._failed(actor, exc)
                continue
            infer = actor.follow(effects)
            # drawings idle for settle_ms: in the same batch, their beliefs settled (rules.py)
            for pid in actor.room.settle_due(now):
                infer.setdefault(pid, actor.room.round)
                settle.add((actor.code, pid))
            work.append((actor, effects, infer))
            # one loop pass between rooms: a big tick (past capacity) never holds the loop for
            # long, so lease renewals and socket reads go on during it
            await asyncio.sleep(0)
        if not work:
            return
        jobs = [(actor, pid, rnd) for actor, _, infer in work for pid, rnd in infer.items()]
        found: dict[str, list[tuple[str, int, Guess]]] = {}
        try:
            tops = await self.runner.guesses(
                [actor.sketch(pid) for actor, pid, _ in jobs],
                [(actor.code, pid) in settle for actor, pid, _ in jobs],
            )
        except Exception:
            log.exception("inference failed for a batch of %d", len(jobs))
        else:
            for (actor, pid, rnd), top in zip(jobs, tops, strict=True):
                found.setdefault(actor.code, []).append((pid, rnd, top))
        ready: list[tuple[RoomActor, list[Effect]]] = []
        for actor, effects, _ in work:
            if actor.stopped:
                continue
            try:
                effects += actor.apply_guesses(now, found.get(actor.code, []))
                later = await actor.timers(now)
            except Exception as exc:
                await self._failed(actor, exc)
                continue
            ready.append((actor, effects + later))
        for actor, effects in ready:
            task = asyncio.create_task(self._commit(actor, effects), name=f"commit-{actor.code}")
            self._committing[actor.code] = task
            task.add_done_callback(lambda _, code=actor.code: self._committed(code))
        if not overlap:
            await self.commits()

    async def commits(self, *codes: str) -> None:
        """Wait for the commits in flight (those started by the ticks so far) of the rooms
        ``codes`` (default: every room) to land."""
        while tasks := [t for c, t in self._committing.items() if not codes or c in codes]:
            await asyncio.gather(*tasks, return_exceptions=True)

    def _committed(self, code: str) -> None:
        """A room's commit landed: its input that came meanwhile (or a timer that fell due)
        gets the next tick, also when the room has a new actor by now (dropped and claimed
        again while the commit was in flight)."""
        self._committing.pop(code, None)
        actor = self.actors.get(code)
        if actor is not None and not actor.stopped and actor.due(self.clock.now_ms()):
            self.wake()

    async def _commit(self, actor: RoomActor, effects: list[Effect]) -> None:
        try:
            await actor.commit(effects)
        except Exception as exc:
            await self._failed(actor, exc)
            return
        if actor.room.is_abandoned() and not actor.inbox:
            log.info("room %s: abandoned, releasing ownership", actor.code)
            await self.dropped(actor, release=True)

    async def _failed(self, actor: RoomActor, exc: Exception) -> None:
        # commands of this process's sockets were not stored: tell their senders (commands of
        # other processes stay in the stream for the next owner)
        error = dumps(protocol.error_message("unavailable", "the game store is unavailable; retry"))
        waiting = {i[0].conn for i in actor.inbox if isinstance(i, tuple) and i[1] is None}
        conns = actor.senders | waiting
        self.deliver(actor.code, [({"to": c, "kind": "error"}, error) for c in sorted(conns)])
        if isinstance(exc, Fenced):
            log.warning("room %s: fenced off (another process owns it)", actor.code)
            await self.dropped(actor, release=False)
        elif isinstance(exc, RedisError | OSError):
            # Redis went away mid-write: the room stays as last committed; reclaimed later.
            log.warning("room %s: Redis unavailable; dropping the room from memory", actor.code)
            await self.dropped(actor, release=True)
        else:
            log.error("room %s: owner failed; dropping the room", actor.code, exc_info=exc)
            await self.dropped(actor, release=True)

    # ------------------------------------------------------------------ claiming

    async def _claim_loop(self) -> None:
        period = self.settings.lease_ms / 3000
        while True:
            await asyncio.sleep(period)
            try:
                await self.heartbeat()
                await self.publish_load()
                for code in self.rooms_wanted():
                    await self.ensure(code)
                await self.prompts.refresh_if_due(self.clock.now_ms())
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("claim loop: Redis unavailable", exc_info=True)

    async def _handoff_loop(self) -> None:
        """While this process is not overloaded, claim the rooms that overloaded processes
        hand off (:meth:`ensure`), as soon as one is handed off. A room whose claim did not
        happen is handed off again by the claim loop of the process that wants it."""
        period = self.settings.lease_ms / 3000
        while not self._claims_stopped:
            if self.load.overloaded or not self.events_ready():
                await asyncio.sleep(period)
                continue
            try:
                code = await self.store.next_handoff(HANDOFF_WAIT_S)
                if code is not None:
                    await self.ensure(code)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("handoff loop: Redis unavailable", exc_info=True)
                await asyncio.sleep(period)

    async def _upkeep_loop(self) -> None:
        """Every ``lease_ms / 3``, for all rooms of the process at once: renew their leases,
        then disconnect the sockets of dead processes from them (one round trip each). A fixed
        schedule: a late wake-up or a slow round trip does not push the next one back."""
        loop = asyncio.get_running_loop()
        period = self.settings.lease_ms / 3000
        due = loop.time() + period
        while True:
            await asyncio.sleep(due - loop.time())
            due = max(due + period, loop.time())
            try:
                await self.renew_leases()
                await self.check_processes(list(self.actors.values()))
                self.measure_load()  # also while a tick runs long
            except Exception:  # a bug: log it, and keep renewing
                log.exception("upkeep failed")

    async def check_processes(self, actors: list[RoomActor]) -> None:
        """Tell each of ``actors`` which processes with sockets in its room are alive (their
        heartbeat keys, one pipelined round trip): it disconnects the sockets of the others."""
        procs = {a: {c.rsplit(":", 1)[0] for c in a.room.connected_conns()} for a in actors}
        marks = {a: a.arrivals for a in actors}  # what each room had received before we asked
        wanted = sorted(set().union(*procs.values()))
        if not wanted:
            return
        try:
            alive = await self.store.alive_processes(wanted)
        except (RedisError, OSError):
            return  # Redis trouble: nobody is taken for dead
        for actor, mine in procs.items():
            if not actor.stopped and not mine <= alive:
                actor.post(Alive(mine & alive, marks[actor]))

    async def renew_leases(self) -> None:
        """Renew the lease of every room of the process in one round trip; a room whose
        renewal failed (or could not be sent) stops at once (:meth:`RoomActor.lose`). Also
        called after this process's heartbeat lapsed (a pause), before its sockets re-announce
        themselves, so that they reach the new owner of a room it lost."""
        actors = [a for a in self.actors.values() if not a.stopped]
        held = [(self.store.room_key(a.code, "lease"), a.lease) for a in actors]
        try:
            renewed = await leases.renew_all(self.store.redis, held, self.settings.lease_ms)
        except (RedisError, OSError):
            log.warning("lease renewal failed for %d rooms", len(actors))
            renewed = [False] * len(actors)
        for actor, ok in zip(actors, renewed, strict=True):
            if not ok and not actor.stopped:
                log.warning("room %s: lease lost (epoch %d)", actor.code, actor.lease.epoch)
                actor.lose()

    async def ensure(self, code: str) -> None:
        """Make sure someone owns ``code``: claim it if its lease is free. While this process
        is overloaded and another one is not, hand it to those instead (they claim it)."""
        if code in self.actors or code in self._claiming:
            return
        if not self.events_ready():
            return  # our own sockets would miss the room's events: claim once pub/sub is back
        lease_key = self.store.room_key(code, "lease")
        if await self.store.redis.exists(lease_key):
            return
        if self.load.overloaded and await self.spare_elsewhere():
            await self.store.hand_off(code, self.clock.now_ms())
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
            room.beliefs = self.prompts.beliefs
            room.replay_ink(ink)
            actor = RoomActor(self, code, lease, room, cmd_id)
            await actor.read_backlog()
            self.actors[code] = actor
            log.info("room %s: owned by %s (epoch %d)", code, self.proc_id, lease.epoch)
            actor.start()
            self.wake()  # its first tick: refresh guesses, persist, arm its timers
        finally:
            self._claiming.discard(code)

    async def dropped(self, actor: RoomActor, release: bool) -> None:
        if self.actors.get(actor.code) is actor:
            del self.actors[actor.code]
        await actor.stop(release=release)
