"""The per-tick owner (game_server/owner.py) driven tick by tick: real Redis, the shipped model, no
sockets (the events this process's sockets would get are collected as they are handed over)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import numpy as np
import pytest
import redis.asyncio as aioredis

from game_server import lease as leases
from game_server import protocol, scoring
from game_server.clock import Clock
from game_server.config import Settings
from game_server.frames import Event, Frame
from game_server.inference import MAX_LEAD_MS, InferenceRunner, top_guesses
from game_server.owner import Owners, RoomActor
from game_server.rules import Room
from game_server.store import Store
from model import drawing_to_image

PROC = "proc0"


class CountingStore(Store):
    """The real store, counting the persist scripts it runs."""

    persists = 0

    async def persist(self, *args: Any, **kwargs: Any) -> None:
        self.persists += 1
        await super().persist(*args, **kwargs)


def heartbeat(store: Store, proc: str) -> Callable[[], Awaitable[Any]]:
    """``proc``'s heartbeat (as ``liveness.Liveness.beat`` keeps it): its sockets stay seated."""
    return lambda: store.redis.set(store.proc_key(proc), "1", px=600_000)


@pytest.fixture
async def owners(game_settings: Settings, classifier: Any) -> AsyncIterator[Owners]:
    assert game_settings.redis_url is not None
    client = aioredis.Redis.from_url(game_settings.redis_url, decode_responses=True)
    store = CountingStore(client, game_settings)
    await heartbeat(store, PROC)()  # this "process" is alive: its sockets stay seated
    runner = InferenceRunner(classifier)
    delivered: list[tuple[str, Event]] = []
    o = Owners(
        game_settings,
        store,
        Clock(),
        runner,
        PROC,
        lambda: [],
        lambda code, events: delivered.extend((code, e) for e in events),
        heartbeat(store, PROC),
    )
    o.delivered = delivered  # type: ignore[attr-defined]
    yield o
    await o.close()
    await runner.close()
    await client.aclose()


async def new_room(owners: Owners, code: str) -> None:
    room = Room(code, owners.settings, owners.runner.labels)
    assert await owners.store.create_room(code, room.to_dict())
    await owners.ensure(code)
    assert owners.local(code) is not None


def submit(owners: Owners, code: str, conn: str, msg: protocol.RoomMessage) -> None:
    actor = owners.local(code)
    assert actor is not None
    actor.submit(protocol.Command(conn, owners.clock.now_ms(), msg))


def events(owners: Owners, code: str) -> list[Event]:
    delivered: list[tuple[str, Event]] = owners.delivered  # type: ignore[attr-defined]
    got = [e for c, e in delivered if c == code]
    delivered[:] = [(c, e) for c, e in delivered if c != code]
    return got


async def started_room(owners: Owners, code: str) -> RoomActor:
    """A new room of this process with :func:`started_game`: its actor."""
    await new_room(owners, code)
    await started_game(owners, code)
    actor = owners.local(code)
    assert actor is not None
    return actor


async def started_game(owners: Owners, code: str) -> None:
    """ada (host) and bob seated, a round running."""
    submit(owners, code, f"{PROC}:1", protocol.Join(name="ada"))
    submit(owners, code, f"{PROC}:2", protocol.Join(name="bob"))
    submit(owners, code, f"{PROC}:1", protocol.Start())
    await owners.tick()
    kinds = [h["kind"] for h, _ in events(owners, code)]
    assert kinds.count("welcome") == 2 and "round_started" in kinds


async def test_many_updates_in_one_tick_make_one_frame_one_persist_one_model_call(
    owners: Owners, recognizable: dict[str, Any]
) -> None:
    # the test's own clock: however slow this machine, the idle tick below comes before the
    # drawings are idle for settle_ms (which would run the model on them once more)
    owners.clock = SetClock(owners.clock.now_ms())
    codes = ["TICKAAAA", "TICKBBBB"]
    for code in codes:
        await new_room(owners, code)
        await started_game(owners, code)
    store = owners.store
    assert isinstance(store, CountingStore)
    state_before = {c: await store.redis.get(store.room_key(c, "state")) for c in codes}
    persists, batches = store.persists, owners.runner.batches

    # one tick's worth of input: 12 updates of ada and 3 of bob, in both rooms
    drawing = next(iter(recognizable.values()))[0]
    ada_points = [p for stroke in drawing[:1] for p in stroke][:12]
    for code in codes:
        for i, point in enumerate(ada_points):
            submit(owners, code, f"{PROC}:1", protocol.Points(i + 1, 0, (tuple(point),)))
        for i in range(3):
            submit(owners, code, f"{PROC}:2", protocol.Points(i + 1, 0, ((i, i, i),)))
    await owners.tick()

    assert store.persists == persists + 2  # one per room
    assert owners.runner.batches == batches + 1  # ONE model call for both rooms
    for code in codes:
        got = events(owners, code)
        assert [h["kind"] for h, _ in got] == ["frame"]  # one frame for the whole tick
        frame = got[0][1]
        assert isinstance(frame, Frame)
        full = json.loads(frame.text_for(None) or "")
        assert [op["points"] for op in full["ink"]["p1"]] == [[list(p)] for p in ada_points]
        assert len(full["ink"]["p2"]) == 3
        assert full["guesses"]["p1"]["seq"] == 12 and full["guesses"]["p2"]["seq"] == 3
        assert len(full["guesses"]["p1"]["guesses"]) == 3
        # each socket's frame leaves its own player's ink out, and keeps every guess
        for me, other in (("p1", "p2"), ("p2", "p1")):
            mine = json.loads(frame.text_for(me) or "")
            assert list(mine["ink"]) == [other]
            assert mine["guesses"] == full["guesses"]
        # the ink went to the ink log; the room state was not rewritten for ink and guesses
        assert await store.redis.llen(store.room_key(code, "ink")) == 15
        assert await store.redis.get(store.room_key(code, "state")) == state_before[code]

    # an idle tick does nothing at all
    await owners.tick()
    assert store.persists == persists + 2
    assert owners.runner.batches == batches + 1


async def test_a_refused_update_splits_the_frame_in_order(owners: Owners) -> None:
    code = "TICKCCCC"
    await new_room(owners, code)
    await started_game(owners, code)
    submit(owners, code, f"{PROC}:1", protocol.Points(1, 0, ((1, 1, 0),)))
    submit(owners, code, f"{PROC}:2", protocol.Points(1, 5, ((1, 1, 0),)))  # bad stroke
    submit(owners, code, f"{PROC}:1", protocol.Points(2, 0, ((2, 2, 5),)))
    await owners.tick()
    got = events(owners, code)
    assert [h["kind"] for h, _ in got] == ["frame", "error", "frame"]
    assert got[1][0]["to"] == f"{PROC}:2"
    first, last = got[0][1], got[2][1]
    assert isinstance(first, Frame) and isinstance(last, Frame)
    assert json.loads(first.text_for(None) or "") == {
        "type": "frame",
        "ink": {"p1": [{"op": "points", "stroke": 0, "points": [[1, 1, 0]]}]},
    }
    second = json.loads(last.text_for(None) or "")
    assert second["ink"] == {"p1": [{"op": "points", "stroke": 0, "points": [[2, 2, 5]]}]}
    assert list(second["guesses"]) == ["p1"] and second["guesses"]["p1"]["seq"] == 2


def hold_persists(store: Store, code: str) -> tuple[asyncio.Event, asyncio.Event]:
    """Hold the writes of room ``code`` at a gate: (gate, held); ``held`` is set when the first
    write waits, and every write of the room waits until ``gate`` is set."""
    gate, held = asyncio.Event(), asyncio.Event()
    real_persist = store.persist

    async def held_persist(room: str, *args: Any, **kwargs: Any) -> None:
        if room == code:
            held.set()
            await gate.wait()
        await real_persist(room, *args, **kwargs)

    store.persist = held_persist  # type: ignore[method-assign]
    return gate, held


async def test_a_room_is_not_ticked_again_before_its_commit_lands_others_are(
    owners: Owners,
) -> None:
    """Commits overlap the next tick (the tick loop's ``overlap``), one commit in flight per
    room: a room whose write is slow keeps its new input in its inbox meanwhile, while the other
    rooms go on; once the write lands, the room's frames come in order."""
    slow, quick = "TICKSLOW", "TICKQUIK"
    for code in (slow, quick):
        await new_room(owners, code)
        await started_game(owners, code)
    store = owners.store
    gate, held = hold_persists(store, slow)

    def frame_seqs(code: str) -> list[int]:
        return [
            json.loads(frame.text_for(None) or "")["guesses"]["p1"]["seq"]
            for header, frame in events(owners, code)
            if header["kind"] == "frame" and isinstance(frame, Frame)
        ]

    try:
        for code in (slow, quick):
            submit(owners, code, f"{PROC}:1", protocol.Points(1, 0, ((1, 1, 0), (9, 9, 5))))
        await owners.tick(overlap=True)
        await held.wait()  # the slow room's commit is in flight, held at its write
        await owners.commits(quick)  # the quick room's lands meanwhile
        for code in (slow, quick):
            submit(owners, code, f"{PROC}:1", protocol.Points(2, 0, ((20, 30, 40),)))
        await owners.tick(overlap=True)
        await owners.commits(quick)
        slow_actor = owners.local(slow)
        assert slow_actor is not None
        assert len(slow_actor.inbox) == 1  # not ticked: its second update waits
        assert slow_actor.room.players["p1"].seq == 1
        assert frame_seqs(quick) == [1, 2]
        assert frame_seqs(slow) == []  # nothing announced before it is durable
    finally:
        gate.set()
    await owners.tick()  # waits for the commit in flight, then ticks the slow room
    assert frame_seqs(slow) == [1, 2]
    loaded = await store.load_room(slow)
    assert loaded is not None
    assert [op["seq"] for op in loaded[2]] == [1, 2]


async def test_a_room_claimed_again_while_its_old_commit_is_in_flight_is_woken_when_it_lands(
    owners: Owners,
) -> None:
    """The room is dropped and claimed again (a new actor) while its old actor's commit is held
    at its write: the ticks skip the room until that commit lands, and then the tick loop is
    woken for the NEW actor's input (it was not: the room waited for the next input)."""
    code = "TICKAGIN"
    await new_room(owners, code)
    await started_game(owners, code)
    gate, held = hold_persists(owners.store, code)
    try:
        submit(owners, code, f"{PROC}:1", protocol.Points(1, 0, ((1, 1, 0),)))
        await owners.tick(overlap=True)
        await held.wait()
        old = owners.local(code)
        assert old is not None
        await owners.dropped(old, release=True)
        await owners.ensure(code)
        new = owners.local(code)
        assert new is not None and new is not old
        submit(owners, code, f"{PROC}:1", protocol.Points(2, 0, ((5, 5, 10),)))
        await owners.tick(overlap=True)  # the old commit is in flight: the room is skipped
        assert len(new.inbox) == 1
        owners._work.clear()  # (the tick loop's flag: that tick consumed the wake-up)
    finally:
        gate.set()
    await owners.commits(code)  # the old commit lands (fenced off: the room has a new owner)
    assert owners._work.is_set()  # the tick loop is woken for the new actor's input
    await owners.tick()
    assert not new.inbox and new.room.players["p1"].seq == 2


async def test_a_new_owner_rebuilds_drawings_and_seq_from_the_ink_log(owners: Owners) -> None:
    code = "TICKDDDD"
    await new_room(owners, code)
    await started_game(owners, code)
    submit(owners, code, f"{PROC}:1", protocol.Points(4, 0, ((1, 1, 0), (5, 5, 9))))
    submit(owners, code, f"{PROC}:1", protocol.Undo(5))
    submit(owners, code, f"{PROC}:1", protocol.Points(6, 0, ((7, 7, 20),)))
    await owners.tick()
    actor = owners.local(code)
    assert actor is not None
    ada = actor.room.players["p1"]
    loaded = await owners.store.load_room(code)
    assert loaded is not None
    state, _, ink = loaded
    room = Room.from_dict(state, owners.settings, owners.runner.labels)
    room.replay_ink(ink)
    again = room.players["p1"]
    assert (again.strokes, again.seq, again.last_update_at) == (
        [[(7, 7, 20)]],  # the points as parsed live: tuples (Room.points, Room.replay_ink)
        6,
        ada.last_update_at,
    )
    assert again.strokes == ada.strokes
    # the AI's view of the drawing followed the same ops
    expected = drawing_to_image([[[p[0] for p in s], [p[1] for p in s]] for s in ada.strokes])
    assert (actor.sketches["p1"].image() == expected).all()


async def test_a_room_taken_over_ticks_without_waiting_for_input(owners: Owners) -> None:
    code = "TICKEEEE"
    await new_room(owners, code)
    await started_game(owners, code)
    submit(owners, code, f"{PROC}:1", protocol.Points(1, 0, ((1, 1, 0), (9, 9, 5))))
    await owners.tick()
    actor = owners.local(code)
    assert actor is not None
    await owners.dropped(actor, release=True)  # the owner goes away between two ticks

    # another process claims the room; nobody sends anything: its first tick still runs
    frames: asyncio.Queue[Frame] = asyncio.Queue()

    def deliver(_code: str, events: list[Event]) -> None:
        for _, payload in events:
            if isinstance(payload, Frame):
                frames.put_nowait(payload)

    other = Owners(
        owners.settings,
        owners.store,
        owners.clock,
        owners.runner,
        "proc1",
        lambda: [],
        deliver,
        heartbeat(owners.store, "proc1"),
    )
    other.start()
    try:
        await other.ensure(code)
        frame = await asyncio.wait_for(frames.get(), 30)
        # the new owner refreshed the AI's guess on ada's drawing as stored
        assert frame.guess_seq("p1") == 1
    finally:
        await other.close()


async def test_closing_applies_and_stores_what_the_inboxes_hold(owners: Owners) -> None:
    code = "TICKFFFF"
    actor = await started_room(owners, code)
    await owners.dropped(actor, release=True)
    other = Owners(
        owners.settings,
        owners.store,
        owners.clock,
        owners.runner,
        "proc1",
        list,
        lambda c, e: None,
        heartbeat(owners.store, "proc1"),
    )
    other.start()
    await other.ensure(code)
    # the process shuts down right after its sockets closed: their disconnects are not lost
    actor = other.local(code)
    assert actor is not None
    actor.submit(protocol.Command(f"{PROC}:2", other.clock.now_ms(), protocol.Disconnect()))
    await other.close()
    loaded = await owners.store.load_room(code)
    assert loaded is not None
    bob = next(p for p in loaded[0]["players"] if p["id"] == "p2")
    assert bob["conn"] is None and bob["disconnected_at"] is not None


async def test_a_round_ends_after_the_commands_that_arrived_before_its_deadline(
    owners: Owners,
) -> None:
    """Points that arrived (``at``) before the deadline but are still in the room's stream when
    the round is due (e.g. a new owner taking over after the deadline, or a reader whose
    XREAD has not returned yet) are applied before the round ends, once."""
    code = "TICKGGGG"
    actor = await started_room(owners, code)
    actor._tasks[0].cancel()  # the stream's reader: it will not have read them
    now = owners.clock.now_ms()
    late = protocol.Command(f"{PROC}:2", now - 20, protocol.Points(1, 0, ((3, 4, 0),)))
    msg_id = await owners.store.send_command(code, protocol.encode_command(late))
    actor.room.deadline = now - 10  # the deadline passed meanwhile
    await owners.tick()
    got = events(owners, code)
    assert not [h for h, _ in got if h["kind"] == "error"]  # no bad_phase
    ended = next(json.loads(str(p)) for h, p in got if h["kind"] == "round_ended")
    bob = next(r for r in ended["results"] if r["player_id"] == "p2")
    assert bob["strokes"] == [[[3, 4, 0]]]
    # stored as applied: a next owner does not apply it again
    assert await owners.store.redis.get(owners.store.room_key(code, "cursor")) == msg_id


async def test_local_commands_behind_a_lost_lease_are_answered(owners: Owners) -> None:
    """The lease is lost with a local command queued behind the loss: the room is dropped and
    the command's sender is told (``unavailable``), not left waiting."""
    code = "TICKHHHH"
    actor = await started_room(owners, code)
    actor.lose()
    actor.submit(protocol.Command(f"{PROC}:1", owners.clock.now_ms(), protocol.Undo(1)))
    await owners.tick()
    got = [(h.get("to"), json.loads(str(p))["code"]) for h, p in events(owners, code)]
    assert got == [(f"{PROC}:1", "unavailable")]
    assert owners.local(code) is None and code not in owners.actors


class SetClock(Clock):
    """A clock the test moves."""

    def __init__(self, now_ms: int) -> None:
        super().__init__()
        self.now = now_ms

    def now_ms(self) -> int:
        return self.now


async def test_guesses_are_the_live_belief_reset_with_the_drawing(
    owners: Owners, classifier: Any, recognizable: dict[str, Any]
) -> None:
    """Tick by tick, the announced guesses are the model's live belief (``Belief``) of the
    player's updates, on the drawing's own clock (the updates arrive as they are drawn); a
    clear or an undo to empty starts it afresh from the new drawing's own row."""
    clock = SetClock(owners.clock.now_ms())
    owners.clock = clock
    code = "TICKBELF"
    actor = await started_room(owners, code)
    # a drawing of another word than the dealt prompt: never recognized, so every update of
    # the test is announced (a drawing of the prompt could be recognized part-way)
    strokes = next(d for label, d in recognizable.items() if label != actor.room.prompt)[0]
    points = [tuple(p) for s in strokes for p in s][:48]  # as one stroke, in 6 updates
    start = clock.now

    def row(pts: list[tuple[float, ...]]) -> Any:
        return classifier.predict([[[[p[0] for p in pts], [p[1] for p in pts]]]])[0]

    async def announced(*msgs: protocol.RoomMessage) -> list[dict[str, Any]]:
        for msg in msgs:
            submit(owners, code, f"{PROC}:1", msg)
        await owners.tick()
        [frame] = [e for h, e in events(owners, code) if h["kind"] == "frame"]
        assert isinstance(frame, Frame)
        return json.loads(frame.text_for(None) or "")["guesses"]["p1"]["guesses"]

    belief, raw_differs = classifier.new_belief(), False
    for u in range(6):
        clock.now = start + round(points[8 * u + 7][2])  # arrives as it is drawn
        got = await announced(protocol.Points(u + 1, 0, tuple(points[8 * u : 8 * u + 8])))
        r = row(points[: 8 * u + 8])
        assert got == top_guesses(classifier.labels, belief.update(r, points[8 * u + 7][2]))
        raw_differs |= got != top_guesses(classifier.labels, r.astype(np.float64))
    assert raw_differs  # the filter is on: the belief is not each update's own row

    # a clear (then an undo to empty) and a new stroke in the same tick: the new drawing's row
    later = [(x, y, t + 60_000) for x, y, t in points[8:24]]
    got = await announced(protocol.Clear(7), protocol.Points(8, 0, tuple(later)))
    assert got == top_guesses(classifier.labels, row(later).astype(np.float64))
    got = await announced(protocol.Undo(9), protocol.Points(10, 0, tuple(points[:8])))
    assert got == top_guesses(classifier.labels, row(points[:8]).astype(np.float64))


async def test_a_client_clock_running_fast_does_not_switch_the_belief_off(
    owners: Owners, classifier: Any, recognizable: dict[str, Any]
) -> None:
    """The belief's clock is the drawing's own, at most ``MAX_LEAD_MS`` ahead of the server's
    since the drawing's first update: points whose ``t`` jumps a minute per update, sent
    100 ms apart, are filtered as updates 100 ms apart (after one lead), not row by row."""
    clock = SetClock(owners.clock.now_ms())
    owners.clock = clock
    code = "TICKFAST"
    await new_room(owners, code)
    await started_game(owners, code)
    strokes = next(iter(recognizable.values()))[0]
    points = [tuple(p) for s in strokes for p in s][:48]
    belief, unbounded, bounded_differs = classifier.new_belief(), classifier.new_belief(), False
    for u in range(6):
        clock.now += 100
        batch = tuple((x, y, 60_000.0 * u) for x, y, _ in points[8 * u : 8 * u + 8])
        submit(owners, code, f"{PROC}:1", protocol.Points(u + 1, 0, batch))
        await owners.tick()
        [frame] = [e for h, e in events(owners, code) if h["kind"] == "frame"]
        assert isinstance(frame, Frame)
        got = json.loads(frame.text_for(None) or "")["guesses"]["p1"]["guesses"]
        pts = points[: 8 * u + 8]
        r = classifier.predict([[[[p[0] for p in pts], [p[1] for p in pts]]]])[0]
        bounded = min(60_000.0 * u, 100.0 * u + MAX_LEAD_MS)
        assert got == top_guesses(classifier.labels, belief.update(r, bounded))
        raw = top_guesses(classifier.labels, unbounded.update(r, 60_000.0 * u))
        assert raw == top_guesses(classifier.labels, r.astype(np.float64))  # the filter off
        bounded_differs |= got != raw
    assert bounded_differs


async def test_an_idle_drawing_is_settled_and_recognized_before_the_round_ends(
    owners: Owners, classifier: Any, recognizable: dict[str, Any]
) -> None:
    """A drawing that stops while its live belief lags below the rule is settled
    ``settle_ms`` after its last update (in a tick's batch, the room's timer wakes the loop)
    and recognized then, long before the round's end, with the points of its last update."""
    clock = SetClock(owners.clock.now_ms())
    owners.clock = clock
    code = "TICKIDLE"
    actor = await started_room(owners, code)
    room = actor.room
    # a real drawing the model recognizes once finished, whose first point does not count
    label, strokes = next(
        (label, s)
        for label, found in sorted(recognizable.items())
        for s in found
        if not classifier.recognizes(classifier.predict([[[[s[0][0][0]], [s[0][0][1]]]]])[0], label)
    )
    room.prompt = label
    clock.now = room.round_started_at + 2000
    # the first point, then the rest at once, 1 ms later on the drawing's own clock: the
    # belief stays with the first point's row
    submit(owners, code, f"{PROC}:1", protocol.Points(1, 0, ((*strokes[0][0][:2], 0.0),)))
    await owners.tick()
    clock.now += 100
    rest = [strokes[0][1:], *strokes[1:]]
    for i, stroke in enumerate(rest):
        pts = tuple((p[0], p[1], 1.0) for p in stroke)
        submit(owners, code, f"{PROC}:1", protocol.Points(i + 2, i, pts))
    last_at = clock.now
    await owners.tick()
    assert "recognized" not in [h["kind"] for h, _ in events(owners, code)]
    assert room.players["p1"].n_points == sum(len(s) for s in strokes)

    wait = owners.settings.settle_ms
    assert owners._until_next_timer() == (last_at + wait - clock.now) / 1000
    clock.now = last_at + wait - 1
    await owners.tick()
    assert events(owners, code) == []  # not due yet
    batches = owners.runner.batches
    clock.now = last_at + wait
    await owners.tick()
    assert owners.runner.batches == batches + 1
    [recognized] = [json.loads(e) for h, e in events(owners, code) if h["kind"] == "recognized"]
    assert room.deadline is not None and clock.now < room.deadline and room.phase == "drawing"
    assert recognized["elapsed_ms"] == last_at - room.round_started_at
    round_ms = room.seconds * 1000
    assert recognized["points"] == scoring.recognition_points(
        room.deadline - last_at, round_ms, first=True
    )


def renewal_trips(redis: aioredis.Redis, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Round trips to Redis that renew leases, seen at the client: the number of renewals each
    carries, appended as they are sent (other traffic is left out)."""
    trips: list[int] = []
    real_pipeline, real_execute = redis.pipeline, redis.execute_command

    def renewals(commands: list[tuple[Any, ...]]) -> int:
        renew = {("EVALSHA", leases.RENEW.sha), ("EVAL", leases.RENEW.text)}
        return sum(1 for args in commands if args[:2] in renew)

    def pipeline(*args: Any, **kwargs: Any) -> Any:
        pipe = real_pipeline(*args, **kwargs)
        real_pipe_execute = pipe.execute

        async def execute(*a: Any, **k: Any) -> Any:
            if n := renewals([c for c, _ in pipe.command_stack]):
                trips.append(n)
            return await real_pipe_execute(*a, **k)

        pipe.execute = execute
        return pipe

    async def execute_command(*args: Any, **options: Any) -> Any:
        if renewals([args]):
            trips.append(1)
        return await real_execute(*args, **options)

    monkeypatch.setattr(redis, "pipeline", pipeline)
    monkeypatch.setattr(redis, "execute_command", execute_command)
    return trips


async def test_one_round_trip_renews_every_lease_and_a_lost_one_stops_its_room_at_once(
    owners: Owners, monkeypatch: pytest.MonkeyPatch
) -> None:
    codes = [f"LEASE{i:03d}" for i in range(12)]
    for code in codes:
        await new_room(owners, code)
        submit(owners, code, f"{PROC}:1", protocol.Join(name="ada"))
    await owners.tick()
    assert sorted(owners.actors) == codes
    store, redis = owners.store, owners.store.redis
    await owners.renew_leases()  # Redis learns the script (a cold cache costs one more trip)
    keys = {code: store.room_key(code, "lease") for code in codes}
    for key in keys.values():
        await redis.pexpire(key, 100)  # about to run out
    stolen = codes[5]  # another process took this room over meanwhile
    await redis.set(keys[stolen], "proc9 99", px=60_000)
    trips = renewal_trips(redis, monkeypatch)

    await owners.renew_leases()

    assert trips == [len(codes)]  # every room's renewal, in ONE round trip
    for code in codes:
        if code == stolen:
            assert owners.local(code) is None  # the fast path closed at once
            assert await redis.get(keys[code]) == "proc9 99"  # untouched
        else:
            assert owners.local(code) is not None
            assert await redis.pttl(keys[code]) > 100  # renewed to lease_ms
    await owners.tick()  # the next tick drops the room it lost, and only that one
    assert sorted(owners.actors) == sorted(c for c in codes if c != stolen)


async def test_one_check_disconnects_the_sockets_of_dead_processes_from_every_room(
    owners: Owners,
) -> None:
    codes = ["DEADAAAA", "DEADBBBB", "DEADCCCC"]
    for code in codes:
        await new_room(owners, code)
        submit(owners, code, f"{PROC}:1", protocol.Join(name="ada"))
        submit(owners, code, "gone:1", protocol.Join(name="bob"))  # no heartbeat: dead
    await owners.tick()
    for code in codes:
        events(owners, code)

    await owners.check_processes(list(owners.actors.values()))
    await owners.tick()

    for code in codes:
        status = [
            json.loads(str(p)) for h, p in events(owners, code) if h["kind"] == "player_status"
        ]
        assert [(s["player_id"], s["connected"]) for s in status] == [("p2", False)]


async def test_a_socket_heard_from_during_a_dead_process_check_stays_seated(
    owners: Owners, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A paused process comes back while an owner's check is looking its heartbeat up: the
    check saw it dead, but the socket's command (its ``Reattach``, then its strokes) arrived
    meanwhile. The late verdict must not unseat it again (its strokes would be refused)."""
    code = "DEADLATE"
    await new_room(owners, code)
    store = owners.store
    await heartbeat(store, "back")()
    submit(owners, code, f"{PROC}:1", protocol.Join(name="ada"))
    submit(owners, code, "back:1", protocol.Join(name="bob"))
    submit(owners, code, f"{PROC}:1", protocol.Start())
    await owners.tick()
    events(owners, code)
    actor = owners.local(code)
    assert actor is not None and actor.room.phase == "drawing"

    await store.redis.delete(store.proc_key("back"))  # "back" paused: its heartbeat lapsed
    looked_up = store.alive_processes

    async def alive_processes(procs: Any) -> set[str]:
        alive = await looked_up(procs)  # read while "back" was gone ...
        await heartbeat(store, "back")()  # ... which then beats again and sends a stroke
        submit(owners, code, "back:1", protocol.Points(1, 0, ((10, 10, 0), (20, 20, 50))))
        return alive

    monkeypatch.setattr(store, "alive_processes", alive_processes)
    await owners.check_processes([actor])
    submit(owners, code, "back:1", protocol.Points(2, 0, ((30, 30, 100),)))
    await owners.tick()

    got = events(owners, code)
    assert not [p for h, p in got if h["kind"] in ("player_status", "error")]
    assert actor.room.players["p2"].conn == "back:1"
    assert actor.room.players["p2"].strokes == [[(10, 10, 0), (20, 20, 50), (30, 30, 100)]]
