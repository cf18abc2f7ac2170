"""The rules of one room, driven with an injected clock and no I/O."""

from __future__ import annotations

import gc
import json
import random
from typing import Any

import pytest

from game_server import protocol
from game_server.config import Settings
from game_server.rules import (
    DRAWING,
    GAME_OVER,
    INTERMISSION,
    LOBBY,
    Archive,
    Award,
    Broadcast,
    Effect,
    FinalGuess,
    Guess,
    Guessed,
    Infer,
    InkOp,
    Room,
    Send,
    changes_state,
)
from game_server.scoring import FIRST_BONUS, recognition_points

LABELS = ["cat", "dog", "tree", "house"]
T0 = 1_700_000_000_000


def make_room(public: bool = False, **overrides: Any) -> Room:
    """A room without a get-ready delay unless ``ready_seconds`` is given."""
    overrides = {"ready_seconds": 0.0, **overrides}
    settings = Settings.from_env({}, intermission_seconds=2.0, resume_seconds=60, **overrides)
    return Room("ABCDEFGH", settings, LABELS, public=public, rng=random.Random(7))


def msgs(effects: list[Effect], kind: str | None = None) -> list[dict[str, Any]]:
    out = [e.msg for e in effects if isinstance(e, Broadcast | Send) and e.msg is not None]
    return [m for m in out if kind is None or m["type"] == kind]


def sent_to(effects: list[Effect], conn: str) -> list[dict[str, Any]]:
    return [e.msg for e in effects if isinstance(e, Send) and e.conn == conn and e.msg]


def join(room: Room, conn: str, name: str, now: int = T0, **kw: Any) -> tuple[str, str]:
    effects = room.join(now, conn, name, new_token=f"ABCDEFGH.tok-{conn}-xxxxxxxxxxxx", **kw)
    welcome = sent_to(effects, conn)[0]
    assert welcome["type"] == "welcome", welcome
    return welcome["player_id"], welcome["resume_token"]


def guess(label: str, p: float) -> Guess:
    """Top guesses with ``label`` first; a rule that recognizes ``label`` when p >= 0.3."""
    return Guess(
        [{"label": label, "p": p}, {"label": "other", "p": 0.01}], lambda x: x == label and p >= 0.3
    )


def finals(room: Room) -> dict[str, FinalGuess]:
    return {p.id: FinalGuess([], lambda _: False, image="") for p in room.seated()}


def two_player_game(rounds: int = 2, seconds: int = 20) -> tuple[Room, str, str]:
    room = make_room()
    a, _ = join(room, "n:1", "ada")
    b, _ = join(room, "n:2", "bob")
    room.change_settings(T0, "n:1", rounds, seconds)
    effects = room.start(T0, "n:1")
    assert [m["type"] for m in msgs(effects)] == ["game_started", "round_started"]
    return room, a, b


def test_first_player_is_host_and_joins_are_announced() -> None:
    room = make_room()
    effects = room.join(T0, "n:1", "ada", new_token="ABCDEFGH.t1xxxxxxxxxxxxxxx")
    welcome = sent_to(effects, "n:1")[0]
    assert welcome["snapshot"]["host"] == welcome["player_id"] == "p1"
    assert welcome["snapshot"]["phase"] == LOBBY
    effects = room.join(T0, "n:2", "bob", new_token="ABCDEFGH.t2xxxxxxxxxxxxxxx")
    joined = [e for e in effects if isinstance(e, Broadcast)]
    assert joined[0].msg["player"]["name"] == "bob"
    assert joined[0].exclude == "n:2"
    assert room.host == "p1"


def test_full_game_with_recognitions_and_timeouts() -> None:
    room, a, b = two_player_game(rounds=2, seconds=20)
    prompt1 = room.prompt
    assert room.phase == DRAWING and prompt1 in LABELS
    assert room.deadline == T0 + 20_000
    # ada draws; the AI recognizes her at 5 s
    e = room.points(T0 + 5000, "n:1", 1, 0, [[1, 2, 0], [3, 4, 10]])
    assert any(isinstance(x, Infer) for x in e)
    ink = [x.op for x in e if isinstance(x, InkOp)]
    assert ink == [
        {
            "p": a,
            "op": "points",
            "stroke": 0,
            "points": [[1, 2, 0], [3, 4, 10]],
            "seq": 1,
            "at": T0 + 5000,
        }
    ]
    assert not msgs(e) and not changes_state(e)  # ink is announced in the frame, not the state
    e = room.apply_guess(T0 + 5100, a, 1, 1, T0 + 5000, guess(prompt1, 0.9))
    rec = msgs(e, "recognized")[0]
    expected = recognition_points(15_000, 20_000, first=True)
    assert rec["points"] == expected == 100 + 675 + FIRST_BONUS
    assert rec["first"] is True and rec["elapsed_ms"] == 5000
    awards = [x for x in e if isinstance(x, Award)]
    assert awards[0].points == expected and awards[0].name == "ada"
    # her drawing is locked now
    e = room.points(T0 + 5200, "n:1", 2, 0, [[5, 5, 20]])
    assert msgs(e)[0]["code"] == "drawing_locked"
    assert not room.round_due(T0 + 6000)
    # bob is guessed wrong, then recognized at 10 s without the first bonus
    room.points(T0 + 9000, "n:2", 1, 0, [[1, 1, 0], [9, 9, 5]])
    e = room.apply_guess(T0 + 9050, b, 1, 1, T0 + 9000, guess("nope", 0.99))
    assert e == [Guessed(b, 1, guess("nope", 0.99).guesses)]
    assert not changes_state(e)
    room.points(T0 + 10_000, "n:2", 2, 1, [[2, 2, 1]])
    e = room.apply_guess(T0 + 10_050, b, 1, 2, T0 + 10_000, guess(prompt1, 0.5))
    assert msgs(e, "recognized")[0]["points"] == recognition_points(10_000, 20_000, False)
    # everyone recognized: the round ends early
    assert room.round_due(T0 + 10_050)
    e = room.end_round(T0 + 10_050, finals(room))
    ended = msgs(e, "round_ended")[0]
    assert room.phase == INTERMISSION
    assert ended["next_round_at"] == T0 + 10_050 + 2000
    results = {r["player_id"]: r for r in ended["results"]}
    assert results[a]["recognized"] and results[a]["strokes"] == [[[1, 2, 0], [3, 4, 10]]]
    assert results[b]["elapsed_ms"] == 10_000
    assert room.next_wakeup() == T0 + 12_050
    # intermission over: round 2 with another prompt; nobody draws; time runs out
    assert room.tick(T0 + 12_049) == []
    e = room.tick(T0 + 12_050)
    started = msgs(e, "round_started")[0]
    assert started["round"] == 2 and started["prompt"] != prompt1
    assert started["deadline"] == T0 + 12_050 + 20_000
    assert any(isinstance(x, InkOp) and x.op is None for x in e)
    assert not room.round_due(T0 + 32_049)
    assert room.round_due(T0 + 32_050)
    e = room.end_round(T0 + 32_050, finals(room))
    assert room.phase == GAME_OVER
    ranking = msgs(e, "game_ended")[0]["ranking"]
    assert [r["player_id"] for r in ranking] == [a, b]
    assert ranking[0]["score"] == expected
    # play again: back to the lobby with zero scores, then a new game
    e = room.play_again(T0 + 40_000, "n:1")
    assert msgs(e, "lobby")[0]["scores"] == {a: 0, b: 0}
    e = room.start(T0 + 41_000, "n:1")
    assert room.round == 1 and room.phase == DRAWING


def test_late_update_after_deadline_is_refused_but_earlier_update_counts() -> None:
    room, a, _b = two_player_game(seconds=20)
    deadline = room.deadline
    assert deadline is not None
    room.points(deadline - 1, "n:1", 1, 0, [[0, 0, 0], [5, 5, 1]])
    e = room.points(deadline, "n:1", 2, 0, [[6, 6, 2]])
    assert msgs(e)[0]["code"] == "bad_phase"
    # the AI finishes after the deadline, but the update arrived before it: it counts
    e = room.apply_guess(deadline + 30, a, 1, 1, deadline - 1, guess(room.prompt or "", 0.8))
    assert msgs(e, "recognized")[0]["points"] == 100 + FIRST_BONUS


@pytest.mark.parametrize(
    ("conn", "action", "code"),
    [
        ("n:2", lambda r, c: r.start(T0, c), "not_host"),
        ("n:2", lambda r, c: r.change_settings(T0, c, 3, 20), "not_host"),
        ("n:1", lambda r, c: r.points(T0, c, 1, 0, [[1, 1, 0]]), "bad_phase"),
        ("n:9", lambda r, c: r.undo(T0, c, 1), "not_joined"),
        ("n:1", lambda r, c: r.play_again(T0, c), "bad_phase"),
        ("n:1", lambda r, c: r.kick(T0, c, "p77"), "no_such_player"),
    ],
)
def test_refused_commands_answer_only_the_sender(conn: str, action: Any, code: str) -> None:
    room = make_room()
    join(room, "n:1", "ada")
    join(room, "n:2", "bob")
    before = json.dumps(room.to_dict(), sort_keys=True)
    effects = action(room, conn)
    assert len(effects) == 1 and isinstance(effects[0], Send) and effects[0].conn == conn
    assert effects[0].msg is not None and effects[0].msg["code"] == code
    assert json.dumps(room.to_dict(), sort_keys=True) == before


def test_a_drawing_as_parsed_is_not_tracked_by_the_garbage_collector() -> None:
    """The points a room keeps are the parsed immutable tuples: a collection stops tracking
    them, so however much is drawn, collections do not get longer (docs/BENCHMARKS.md)."""
    room, a, _ = two_player_game()
    settings = room.settings
    for seq in range(1, 4):
        raw = json.dumps({"type": "points", "seq": seq, "stroke": 0, "points": [[seq, 2.5, seq]]})
        msg = protocol.parse_client_message(raw, settings)
        assert isinstance(msg, protocol.Points)
        room.points(T0 + seq, "n:1", msg.seq, msg.stroke, msg.points)
    gc.collect()
    (stroke,) = room.players[a].strokes
    assert [list(p) for p in stroke] == [[1, 2.5, 1], [2, 2.5, 2], [3, 2.5, 3]]
    assert not any(gc.is_tracked(p) for p in stroke)


def test_strokes_undo_clear_and_limits() -> None:
    room, a, _ = two_player_game()
    room.points(T0 + 1, "n:1", 1, 0, [[0, 0, 0]])
    room.points(T0 + 2, "n:1", 2, 0, [[1, 1, 1]])
    room.points(T0 + 3, "n:1", 3, 1, [[5, 5, 2]])
    assert room.players[a].strokes == [[[0, 0, 0], [1, 1, 1]], [[5, 5, 2]]]
    assert msgs(room.points(T0 + 4, "n:1", 4, 3, [[1, 1, 1]]))[0]["code"] == "bad_stroke"
    assert msgs(room.points(T0 + 4, "n:1", 4, 0, [[1, 1, 1]]))[0]["code"] == "bad_stroke"
    e = room.undo(T0 + 5, "n:1", 5)
    assert [x.op for x in e if isinstance(x, InkOp)] == [
        {"p": a, "op": "undo", "seq": 5, "at": T0 + 5}
    ]
    assert room.players[a].strokes == [[[0, 0, 0], [1, 1, 1]]]
    room.clear(T0 + 6, "n:1", 6)
    assert room.players[a].strokes == [] and room.players[a].n_points == 0
    limit = room.settings.max_points_per_drawing
    pts = [[0, 0, 0]] * room.settings.max_points_per_update
    n = 0
    stroke = 0
    while n + len(pts) <= limit:
        e = room.points(T0 + 7, "n:1", 7, stroke, pts)
        assert not msgs(e, "error"), msgs(e, "error")
        n += len(pts)
        stroke = 1 if stroke == 0 else stroke
        stroke = len(room.players[a].strokes) - 1
    e = room.points(T0 + 8, "n:1", 8, stroke, pts)
    assert msgs(e)[0]["code"] == "too_many_points"


def test_spectators_watch_but_cannot_draw() -> None:
    room, _a, _b = two_player_game()
    s, _ = join(room, "n:3", "eve", spectator=True)
    assert msgs(room.points(T0 + 1, "n:3", 1, 0, [[1, 1, 0]]))[0]["code"] == "spectator"
    assert s not in room.scores()
    assert room.snapshot(T0)["spectators"][0]["id"] == s


def test_capacity_is_enforced() -> None:
    room = make_room(room_capacity=2)
    join(room, "n:1", "a")
    join(room, "n:2", "b")
    e = room.join(T0, "n:3", "c", new_token="ABCDEFGH.t3xxxxxxxxxxxxxxxxx")
    assert msgs(e)[0]["code"] == "room_full"


def test_host_hand_over_on_leave_and_kick() -> None:
    room = make_room()
    a, _ = join(room, "n:1", "ada")
    b, _ = join(room, "n:2", "bob")
    c, _ = join(room, "n:3", "cy")
    e = room.kick(T0, "n:1", b)
    assert any(isinstance(x, Send) and x.conn == "n:2" and x.close == 4001 for x in e)
    assert msgs(e, "player_left") == [{"type": "player_left", "player_id": b, "reason": "kicked"}]
    e = room.leave(T0, "n:1")
    assert msgs(e, "host_changed") == [{"type": "host_changed", "player_id": c}]
    assert room.host == c and a not in room.players


def test_resume_keeps_seat_and_score_then_times_out() -> None:
    room, a, _b = two_player_game()
    prompt = room.prompt or ""
    room.points(T0 + 1000, "n:1", 1, 0, [[0, 0, 0], [1, 1, 1]])
    room.apply_guess(T0 + 1100, a, 1, 1, T0 + 1000, guess(prompt, 0.9))
    score = room.players[a].score
    assert score > 0
    e = room.disconnect(T0 + 2000, "n:1")
    assert msgs(e, "player_status")[0]["connected"] is False
    assert room.host == "p2"  # the host dropped: hand-over to a connected player
    # resume on another connection (e.g. another process)
    token = "ABCDEFGH.tok-n:1-xxxxxxxxxxxx"
    e = room.join(T0 + 3000, "m:7", "whatever", resume=token, new_token="unused")
    welcome = sent_to(e, "m:7")[0]
    assert welcome["player_id"] == a and welcome["resume_token"] == token
    snap = welcome["snapshot"]
    assert snap["drawings"][a] == [[[0, 0, 0], [1, 1, 1]]]
    assert next(p for p in snap["players"] if p["id"] == a)["score"] == score
    # a second resume replaces the first connection (closed with 4002)
    e = room.join(T0 + 3500, "m:8", "x", resume=token, new_token="unused")
    assert any(isinstance(x, Send) and x.conn == "m:7" and x.close == 4002 for x in e)
    # a bad token is refused
    e = room.join(T0, "m:9", "x", resume="ABCDEFGH.nope-nope-nope-nope", new_token="u")
    assert msgs(e)[0]["code"] == "bad_resume"
    # gone for longer than resume_seconds: the seat is freed
    room.disconnect(T0 + 4000, "m:8")
    assert room.next_wakeup() == min(room.deadline or 0, T0 + 4000 + 60_000)
    e = room.tick(T0 + 64_000)
    assert msgs(e, "player_left")[0] == {"type": "player_left", "player_id": a, "reason": "timeout"}


def test_dead_process_connections_are_disconnected() -> None:
    room = make_room()
    join(room, "procA:1", "ada")
    join(room, "procB:1", "bob")
    e = room.disconnect_dead(T0, {"procB"})
    assert msgs(e, "player_status") == [
        {"type": "player_status", "player_id": "p1", "connected": False}
    ]
    # a socket heard from since the processes were looked up is alive, whatever they said
    join(room, "procC:1", "cy")
    assert room.disconnect_dead(T0, {"procB"}, heard={"procC:1"}) == []
    assert room.players["p3"].conn == "procC:1"


def test_a_socket_taken_for_dead_reattaches_with_score_and_drawing() -> None:
    room, a, b = two_player_game()
    token_a = "ABCDEFGH.tok-n:1-xxxxxxxxxxxx"
    room.points(T0 + 1000, "n:1", 1, 0, [[0, 0, 0], [1, 1, 1]])
    room.apply_guess(T0 + 1100, a, 1, 1, T0 + 1000, guess(room.prompt or "", 0.9))
    score = room.players[a].score
    # still seated: nothing to do, nothing announced
    assert room.reattach(T0 + 1200, "n:1", token_a) == []
    # its process was taken for dead (paused); the socket, still open, re-announces itself
    room.disconnect_dead(T0 + 2000, set())
    assert room.players[a].conn is None
    e = room.reattach(T0 + 3000, "n:1", token_a)
    welcome = sent_to(e, "n:1")[0]
    assert welcome["type"] == "welcome" and welcome["player_id"] == a
    assert welcome["snapshot"]["drawings"][a] == [[[0, 0, 0], [1, 1, 1]]]
    assert room.players[a].score == score and room.players[a].conn == "n:1"
    assert msgs(e, "player_status") == [
        {"type": "player_status", "player_id": a, "connected": True}
    ]
    # a newer socket resumed the seat meanwhile: the old one is closed (4002), seat untouched
    room.disconnect(T0 + 4000, "n:2")
    room.join(T0 + 4100, "m:1", "bob", resume="ABCDEFGH.tok-n:2-xxxxxxxxxxxx", new_token="u")
    e = room.reattach(T0 + 4200, "n:2", "ABCDEFGH.tok-n:2-xxxxxxxxxxxx")
    assert e == [Send("n:2", None, close=4002)] and room.players[b].conn == "m:1"
    # the seat expired: the socket is told to join again
    room.leave(T0 + 5000, "m:1")
    e = room.reattach(T0 + 5100, "n:2", "ABCDEFGH.tok-n:2-xxxxxxxxxxxx")
    assert msgs(e)[0]["code"] == "bad_resume"


def test_round_needs_only_connected_players_recognized() -> None:
    room, a, _b = two_player_game()
    room.disconnect(T0 + 1, "n:2")
    room.points(T0 + 2, "n:1", 1, 0, [[0, 0, 0]])
    room.apply_guess(T0 + 3, a, 1, 1, T0 + 2, guess(room.prompt or "", 0.99))
    assert room.round_due(T0 + 3)


def test_state_round_trips_through_json_and_the_ink_log() -> None:
    room, a, b = two_player_game()
    log: list[dict[str, Any]] = []
    for e in [  # points as the protocol parses them: tuples
        *room.points(T0 + 1, "n:1", 1, 0, ((0, 0, 0), (2, 2, 1))),
        *room.points(T0 + 2, "n:2", 1, 0, ((9, 9, 0),)),
        *room.points(T0 + 3, "n:2", 2, 1, ((8, 8, 1),)),
        *room.undo(T0 + 4, "n:2", 3),
        *room.points(T0 + 5, "n:1", 2, 1, ((4, 4, 2),)),
    ]:
        if isinstance(e, InkOp) and e.op is not None:
            log.append(json.loads(json.dumps(e.op)))
    state = json.loads(json.dumps(room.to_dict()))
    copy = Room.from_dict(state, room.settings, LABELS)
    copy.replay_ink(log)
    assert copy.snapshot(T0) == room.snapshot(T0)
    assert copy.players[a].strokes == [[(0, 0, 0), (2, 2, 1)], [(4, 4, 2)]]
    assert copy.players[b].n_points == 1
    assert copy.next_wakeup() == room.next_wakeup()


def test_prompts_setting_restricts_the_deal() -> None:
    room = make_room(prompts=("tree", "not-a-label"))
    join(room, "n:1", "ada")
    room.start(T0, "n:1")
    assert room.prompt == "tree"


def test_a_stale_guess_does_not_recognize() -> None:
    room, a, _ = two_player_game()
    room.points(T0 + 1, "n:1", 1, 0, [[0, 0, 0]])
    room.points(T0 + 2, "n:1", 2, 0, [[5, 5, 1]])
    e = room.apply_guess(T0 + 3, a, 1, 1, T0 + 1, guess(room.prompt or "", 0.99))
    assert isinstance(e[0], Guessed) and not msgs(e, "recognized")
    e = room.apply_guess(T0 + 4, a, 1, 2, T0 + 2, guess(room.prompt or "", 0.99))
    assert msgs(e, "recognized")[0]["elapsed_ms"] == 2


def test_awards_are_pending_until_posted() -> None:
    room, a, _ = two_player_game()
    room.points(T0 + 1, "n:1", 1, 0, [[0, 0, 0]])
    room.apply_guess(T0 + 2, a, 1, 1, T0 + 1, guess(room.prompt or "", 0.99))
    ids = {x["award_id"] for x in room.pending_awards}
    assert len(ids) == 1
    # a replayed guess for the same player is ignored (already recognized)
    e = room.apply_guess(T0 + 3, a, 1, 1, T0 + 1, guess(room.prompt or "", 0.99))
    assert e == []
    room.awards_posted(ids)
    assert room.pending_awards == []


def test_resync_sends_the_member_a_snapshot() -> None:
    room, _a, _b = two_player_game()
    room.points(T0 + 1, "n:1", 1, 0, [[0, 0, 0]])
    e = room.resync(T0 + 2, "n:2")
    assert sent_to(e, "n:2") == [{"type": "snapshot", "snapshot": room.snapshot(T0 + 2)}]
    assert room.resync(T0 + 2, "n:9") == []


# ---------------------------------------------------------------- the moments of a game


def test_get_ready_delays_the_round_clock() -> None:
    room = make_room(ready_seconds=3.0)
    join(room, "n:1", "ada")
    started = msgs(room.start(T0, "n:1"), "round_started")[0]
    assert started["starts_at"] == T0 + 3000
    assert started["deadline"] == T0 + 3000 + room.seconds * 1000
    assert room.snapshot(T0 + 10)["starts_at"] == T0 + 3000
    # an update during the card is accepted and scores as if made when the clock started
    room.points(T0 + 500, "n:1", 1, 0, [[0, 0, 0]])
    e = room.apply_guess(T0 + 600, "p1", 1, 1, T0 + 500, guess(room.prompt or "", 0.9))
    rec = msgs(e, "recognized")[0]
    assert rec["elapsed_ms"] == 0
    assert rec["points"] == recognition_points(room.seconds * 1000, room.seconds * 1000, True)


def autostart_room(**overrides: Any) -> Room:
    return make_room(public=True, autostart_players=2, autostart_seconds=10.0, **overrides)


def test_a_public_room_starts_by_itself_once_enough_players_are_seated() -> None:
    room = autostart_room(restart_seconds=20.0)
    join(room, "n:1", "ada")
    assert room.tick(T0) == [] and room.next_wakeup() is None
    e = room.join(T0 + 100, "n:2", "bob", new_token="ABCDEFGH.tok-n:2-xxxxxxxxxxxx")
    assert msgs(e, "autostart") == [
        {"type": "autostart", "at": T0 + 10_100, "server_time": T0 + 100}
    ]
    # the player who completed the room sees the countdown in their welcome
    assert sent_to(e, "n:2")[0]["snapshot"]["autostart_at"] == T0 + 10_100
    assert room.tick(T0 + 100) == []
    assert room.next_wakeup() == T0 + 10_100
    assert room.tick(T0 + 5000) == []  # counting down; a third player may still join
    join(room, "n:3", "cy", now=T0 + 5000)
    e = room.tick(T0 + 10_100)
    assert [m["type"] for m in msgs(e)] == ["game_started", "round_started"]
    assert room.phase == DRAWING and room.autostart_at is None
    # after the game, the next one starts by itself after restart_seconds
    room.rounds = 1
    room.end_round(T0 + 40_000, finals(room))
    assert room.phase == GAME_OVER
    assert msgs(room.tick(T0 + 40_000))[0]["at"] == T0 + 60_000
    assert [m["type"] for m in msgs(room.tick(T0 + 60_000))][:1] == ["game_started"]


def test_the_countdown_stops_when_players_leave_and_private_rooms_wait() -> None:
    room = autostart_room()
    join(room, "n:1", "ada")
    join(room, "n:2", "bob")
    room.tick(T0)
    room.disconnect(T0 + 1000, "n:2")
    assert msgs(room.tick(T0 + 1000)) == [
        {"type": "autostart", "at": None, "server_time": T0 + 1000}
    ]
    assert room.tick(T0 + 20_000) == [] and room.phase == LOBBY
    private = make_room(autostart_players=2)
    join(private, "n:1", "ada")
    join(private, "n:2", "bob")
    assert private.tick(T0) == [] and private.tick(T0 + 60_000) == []


def test_a_kick_holds_for_the_rest_of_the_game_by_identity() -> None:
    room = make_room(default_rounds=1)
    join(room, "n:1", "ada", key="ada-key-0123456789")
    join(room, "n:2", "bob", key="bob-key-0123456789")
    room.start(T0, "n:1")
    room.kick(T0 + 10, "n:1", "p2")
    e = room.join(
        T0 + 20, "n:3", "bob", new_token="ABCDEFGH.fresh-xxxxxxxxxxx", key="bob-key-0123456789"
    )
    err = sent_to(e, "n:3")[0]
    assert err["type"] == "error" and err["code"] == "kicked" and not msgs(e, "player_joined")
    # someone else (another key) is welcome; after the game, bob may come back
    join(room, "n:4", "bob", key="other-key-0123456789")
    room.end_round(T0 + 30_000, finals(room))
    assert room.phase == GAME_OVER
    join(room, "n:5", "bob", key="bob-key-0123456789")
    # the ban survives a new owner taking over (state round trip)
    room2 = make_room()
    join(room2, "n:1", "ada")
    join(room2, "n:2", "bob", key="bob-key-0123456789")
    room2.kick(T0, "n:1", "p2")
    restored = Room.from_dict(json.loads(json.dumps(room2.to_dict())), room2.settings, LABELS)
    e = restored.join(
        T0, "n:9", "bob", new_token="ABCDEFGH.fresh-yyyyyyyyyyy", key="bob-key-0123456789"
    )
    assert sent_to(e, "n:9")[0]["code"] == "kicked"


def test_awards_are_ranked_by_identity_not_name() -> None:
    room = make_room()
    join(room, "n:1", "Alice", key="alice-one-0123456789")
    join(room, "n:2", "Alice", key="alice-two-0123456789")
    room.start(T0, "n:1")
    for i, conn in enumerate(("n:1", "n:2"), start=1):
        room.points(T0 + 10, conn, 1, 0, [[0, 0, 0]])
        room.apply_guess(T0 + 20, f"p{i}", 1, 1, T0 + 10, guess(room.prompt or "", 0.9))
    awards = [a for a in room.pending_awards]
    assert [a["name"] for a in awards] == ["Alice", "Alice"]
    assert len({a["player"] for a in awards}) == 2
    assert all("alice" not in a["player"] for a in awards)  # only a digest of the key is kept


def test_rounds_are_archived_with_the_ai_guess_timeline() -> None:
    room, a, _ = two_player_game(rounds=1)
    prompt = room.prompt or ""
    room.points(T0 + 100, "n:1", 1, 0, [[0, 0, 0], [5, 5, 40]])
    room.apply_guess(T0 + 150, a, 1, 1, T0 + 100, guess("dog", 0.2))
    room.apply_guess(T0 + 160, a, 1, 1, T0 + 100, guess("dog", 0.21))  # same belief: no entry
    room.points(T0 + 900, "n:1", 2, 1, [[9, 9, 800]])
    room.apply_guess(T0 + 950, a, 1, 1, T0 + 900, guess("cat", 0.5))  # stale (seq 1): no entry
    room.apply_guess(T0 + 990, a, 1, 2, T0 + 900, guess(prompt, 0.9))
    e = room.end_round(T0 + 20_000, finals(room))
    archived = [x for x in e if isinstance(x, Archive)]
    assert [x.part for x in archived] == ["r1", "meta"]
    record = archived[0].record
    assert record["prompt"] == prompt and record["round"] == 1
    mine = next(r for r in record["results"] if r["player_id"] == a)
    assert [(t["t"], t["ms"], t["guesses"][0]["label"]) for t in mine["timeline"]] == [
        (40, 100, "dog"),
        (800, 900, prompt),
    ]
    assert mine["strokes"] == [[[0, 0, 0], [5, 5, 40]], [[9, 9, 800]]]
    assert archived[1].record["game_id"] == room.game_id
    assert archived[1].record["ranking"][0]["player_id"] == a
    ended = msgs(e, "game_ended")[0]
    assert ended == {
        "type": "game_ended",
        "game_id": room.game_id,
        "ranking": archived[1].record["ranking"],
    }


def test_a_room_survives_its_own_persisted_state() -> None:
    room, a, _ = two_player_game()
    room.kick(T0 + 500, "n:1", "p2")
    state = room.to_dict()  # (ink lives in the ink log, not in the state)
    again = Room.from_dict(json.loads(json.dumps(state)), room.settings, room.labels)
    assert again.to_dict() == state
    assert again.kicked and again.phase == room.phase and list(again.players) == [a]


def test_an_idle_drawing_is_due_to_be_settled_once_then_again_after_a_new_update() -> None:
    room, a, _ = two_player_game(rounds=1, seconds=20)
    wait = room.settings.settle_ms
    assert wait == 1000
    assert room.settle_due(T0 + 5000) == []  # no drawing yet: nothing to settle
    room.points(T0 + 1000, "n:1", 1, 0, [[1, 2, 0], [3, 4, 10]])
    assert room.next_wakeup() == T0 + 1000 + wait  # the room's next timer is the settle
    assert room.settle_due(T0 + 1000 + wait - 1) == []
    assert room.settle_due(T0 + 1000 + wait) == [a]  # exactly settle_ms after the update
    assert room.settle_due(T0 + 1000 + wait + 1) == []  # once
    assert room.settle_due(T0 + 9000) == []
    assert room.next_wakeup() == room.deadline
    # a new update makes it due again settle_ms after that update, not before
    room.points(T0 + 3000, "n:1", 2, 0, [[5, 5, 20]])
    assert room.next_wakeup() == T0 + 3000 + wait
    assert room.settle_due(T0 + 3000 + wait - 1) == []
    # the settled verdict may recognize it, scored at its last update's arrival
    assert room.settle_due(T0 + 3000 + wait) == [a]
    e = room.apply_guess(T0 + 4010, a, 1, 2, T0 + 3000, guess(room.prompt or "", 0.9))
    rec = msgs(e, "recognized")[0]
    assert rec["elapsed_ms"] == 3000
    assert rec["points"] == recognition_points(17_000, 20_000, first=True)


def test_a_recognized_or_empty_drawing_is_not_settled() -> None:
    room, a, _ = two_player_game(rounds=1, seconds=20)
    room.points(T0 + 1000, "n:1", 1, 0, [[1, 2, 0]])
    room.apply_guess(T0 + 1010, a, 1, 1, T0 + 1000, guess(room.prompt or "", 0.9))
    room.points(T0 + 1000, "n:2", 1, 0, [[1, 2, 0]])
    room.clear(T0 + 1500, "n:2", 2)  # bob's drawing is empty again
    assert room.next_wakeup() == room.deadline
    assert room.settle_due(T0 + 9000) == []


@pytest.mark.parametrize("settle_ms", [0, 1000])
def test_settling_only_during_a_round_and_never_with_settle_ms_zero(settle_ms: int) -> None:
    room = make_room(settle_ms=settle_ms)
    a, _ = join(room, "n:1", "ada")
    join(room, "n:2", "bob")
    room.change_settings(T0, "n:1", 2, 5)
    assert room.settle_due(T0 + 60_000) == []  # lobby
    room.start(T0, "n:1")
    room.points(T0 + 1000, "n:1", 1, 0, [[1, 2, 0]])
    assert room.settle_due(T0 + 2000) == ([a] if settle_ms else [])
    room.points(T0 + 3000, "n:1", 2, 0, [[5, 5, 20]])
    # not at or after the deadline (the round's end settles every drawing)
    assert room.settle_due(T0 + 5000) == []
    room.end_round(T0 + 5000, finals(room))
    assert room.phase == INTERMISSION
    assert room.settle_due(T0 + 6000) == []  # intermission: the drawings are gone
    assert room.next_wakeup() == room.next_round_at
