"""The "Beat the AI" mode inside a room (rules.Room with beat.Turn), with an injected clock."""

from __future__ import annotations

import json
from typing import Any

from game_server.rules import (
    DRAWING,
    GAME_OVER,
    INTERMISSION,
    Archive,
    Award,
    Broadcast,
    Room,
    changes_state,
)
from game_server.scoring import recognition_points
from tests.game_server.test_rules import T0, finals, guess, join, make_room, msgs, sent_to

TURN_MS = 20_000


def beat_game(players: int = 3, rounds: int = 1, **settings: Any) -> tuple[Room, list[str]]:
    room = make_room(**settings)
    ids = [
        join(room, f"n:{i + 1}", name)[0] for i, name in enumerate(["ada", "bob", "cy"][:players])
    ]
    room.change_settings(T0, "n:1", rounds, TURN_MS // 1000, "beat", "mixed")
    room.start(T0, "n:1")
    return room, ids


def conn_of(room: Room, pid: str) -> str:
    conn = room.players[pid].conn
    assert conn is not None
    return conn


def draw(room: Room, pid: str, at: int) -> None:
    assert not msgs(room.points(at, conn_of(room, pid), 1, 0, [[0, 0, 0], [5, 5, 9]]), "error")


def test_settings_choose_the_mode_and_difficulty() -> None:
    room = make_room()
    join(room, "n:1", "ada")
    effects = room.change_settings(T0, "n:1", 2, 30, "beat", "hard")
    assert msgs(effects, "settings") == [
        {"type": "settings", "rounds": 2, "seconds": 30, "mode": "beat", "difficulty": "hard"}
    ]
    room.change_settings(T0, "n:1", 3, 30)  # mode and difficulty kept
    assert (room.mode, room.level, room.rounds) == ("beat", "hard", 3)


def test_players_take_turns_and_only_the_drawer_sees_the_word() -> None:
    room = make_room()
    a, _ = join(room, "n:1", "ada")
    b, _ = join(room, "n:2", "bob")
    room.change_settings(T0, "n:1", 1, 20, "beat", None)
    effects = room.start(T0, "n:1")
    [public] = [e for e in effects if isinstance(e, Broadcast) and e.msg["type"] == "round_started"]
    assert public.exclude == "n:1"
    assert public.msg["prompt"] is None and public.msg["drawer"] == a
    assert public.msg["hint"] == "_" * len(room.prompt or "")
    assert (public.msg["turn"], public.msg["turns"]) == (1, 2)
    [mine] = [m for m in sent_to(effects, "n:1") if m["type"] == "round_started"]
    assert mine["prompt"] == room.prompt
    assert room.snapshot(T0, room.players[a])["prompt"] == room.prompt
    assert room.snapshot(T0, room.players[b])["prompt"] is None
    assert room.snapshot(T0, room.players[b])["turn"]["drawer"] == a
    # the guesser cannot draw
    [err] = msgs(room.points(T0 + 10, "n:2", 1, 0, [[0, 0, 0]]), "error")
    assert err["code"] == "not_drawer"
    # time runs out: bob draws next, in the same round
    now = room.deadline or 0
    assert room.round_due(now)
    ended = msgs(room.end_round(now, finals(room)), "round_ended")[0]
    assert ended["drawer"] == a and ended["winner"] is None and ended["turn"] == 1
    assert room.phase == INTERMISSION and ended["next_round_at"] is not None
    started = msgs(room.tick(ended["next_round_at"]), "round_started")[0]
    assert started["drawer"] == b and started["round"] == 1 and started["turn"] == 2
    now = room.deadline or 0
    msgs_end = msgs(room.end_round(now, finals(room)))
    assert [m["type"] for m in msgs_end] == ["round_ended", "game_ended"]
    assert room.phase == GAME_OVER


def test_a_person_who_guesses_first_beats_the_ai() -> None:
    room, (a, b, c) = beat_game()
    word = room.prompt or ""
    draw(room, a, T0 + 1000)
    close = word[:-1] + ("x" if word[-1] != "x" else "y")
    effects = room.chat(T0 + 2000, "n:2", close.upper())
    assert sent_to(effects, "n:2")[0] == {"type": "close_guess", "text": close.upper()}
    assert msgs(effects, "chat")[0]["text"] == close.upper()  # a near miss is still chat
    effects = room.chat(T0 + 5000, "n:2", word)
    assert not msgs(effects, "chat")  # a correct guess is never shown
    [got] = msgs(effects, "guessed")
    points = recognition_points(15_000, TURN_MS, True)
    drawer_points = recognition_points(15_000, TURN_MS, False) // 2
    assert got == {
        "type": "guessed",
        "player_id": b,
        "elapsed_ms": 5000,
        "points": points,
        "first": True,
        "score": points,
        "drawer_points": drawer_points,
        "drawer_score": drawer_points,
    }
    assert word not in json.dumps([e.msg for e in effects if isinstance(e, Broadcast)])
    assert {e.name: e.points for e in effects if isinstance(e, Award)} == {
        "bob": points,
        "ada": drawer_points,
    }
    assert room.snapshot(T0, room.players[b])["prompt"] == word  # bob knows it now
    # bob may chat, but not the word; the drawer may not say it either
    assert msgs(room.chat(T0 + 5100, "n:2", f"so a {word}!"), "error")[0]["code"] == "reveals_word"
    assert msgs(room.chat(T0 + 5200, "n:1", word), "error")[0]["code"] == "reveals_word"
    assert msgs(room.chat(T0 + 5300, "n:2", "nice one"), "chat")
    # the AI recognizes the drawing later: too late to score, but it ends the turn
    late = room.apply_guess(T0 + 6100, a, 1, 1, T0 + 6000, guess(word, 0.9))
    assert msgs(late, "recognized")[0]["points"] == 0 and room.ai_score == 0
    assert room.round_due(T0 + 6100)
    ended = msgs(room.end_round(T0 + 6100, finals(room)), "round_ended")[0]
    assert ended["winner"] == b and ended["ai_elapsed_ms"] == 6000
    assert ended["guessers"] == [{"player_id": b, "elapsed_ms": 5000, "points": points}]
    assert [r["player_id"] for r in ended["results"]] == [a]
    assert ended["results"][0]["points"] == drawer_points
    assert ended["scores"] == {a: drawer_points, b: points, c: 0, "ai": 0}


def test_the_turn_ends_when_every_guesser_got_it() -> None:
    room, (a, _b, _c) = beat_game()
    word = room.prompt or ""
    draw(room, a, T0 + 1000)
    room.chat(T0 + 2000, "n:2", word)
    assert not room.round_due(T0 + 2000)
    room.chat(T0 + 3000, "n:3", word)
    assert room.round_due(T0 + 3000)
    ended = msgs(room.end_round(T0 + 3000, finals(room)), "round_ended")[0]
    assert [g["elapsed_ms"] for g in ended["guessers"]] == [2000, 3000]


def test_the_ai_first_wins_the_race_and_stands_on_the_scoreboard() -> None:
    room, (a, b) = beat_game(players=2, rounds=1)
    word = room.prompt or ""
    draw(room, a, T0 + 4000)
    effects = room.apply_guess(T0 + 4100, a, 1, 1, T0 + 4000, guess(word, 0.8))
    [rec] = msgs(effects, "recognized")
    points = recognition_points(16_000, TURN_MS, False)
    assert rec["points"] == points and rec["first"] and rec["score"] == points
    assert not [e for e in effects if isinstance(e, Award)]  # the AI is not on leaderboards
    assert room.round_due(T0 + 4100)
    # a guess after the AI got it is too late
    assert msgs(room.chat(T0 + 4150, "n:2", word), "guessed") == []
    ended = msgs(room.end_round(T0 + 4200, finals(room)), "round_ended")[0]
    assert ended["winner"] == "ai" and ended["scores"] == {a: 0, b: 0, "ai": points}
    assert room.chat(T0 + 4300, "n:2", word)  # between turns the word is just chat
    room.tick(ended["next_round_at"])
    assert room.turn is not None and room.turn.drawer == b
    word2 = room.prompt or ""
    draw(room, b, T0 + 9000)
    room.chat(T0 + 9000, "n:1", word2)
    end = msgs(room.end_round(T0 + 9500, finals(room)))
    game = next(m for m in end if m["type"] == "game_ended")
    assert game["ai_score"] == points
    remaining = room.round_started_at + TURN_MS - (T0 + 9000)
    ada = recognition_points(remaining, TURN_MS, True)
    bob = recognition_points(remaining, TURN_MS, False) // 2
    assert game["versus_ai"] == [
        {"player_id": a, "name": "ada", "score": ada, "margin": ada - points},
        {"player_id": b, "name": "bob", "score": bob, "margin": bob - points},
    ]
    assert {r["player_id"] for r in game["ranking"]} == {a, b, "ai"}


def test_hints_reveal_letters_on_the_room_timer() -> None:
    room, _ = beat_game(players=2)
    assert room.turn is not None
    at = room.next_wakeup()
    assert at is not None and at == room.turn.hint_times()[0] < (room.deadline or 0)
    assert not msgs(room.tick(at - 1), "hint")
    [hint] = msgs(room.tick(at), "hint")
    assert hint["hint"].count("_") == len(room.prompt or "") - 1 - (room.prompt or "").count(" ")


def test_chat_is_rate_limited_per_player() -> None:
    room, _ = beat_game(players=2)
    for i in range(5):
        assert msgs(room.chat(T0 + i, "n:2", f"line {i}"), "chat")
    [err] = msgs(room.chat(T0 + 100, "n:2", "one more"), "error")
    assert err["code"] == "rate_limited" and err["ref"] == "chat"
    assert msgs(room.chat(T0 + 100, "n:1", "drawer may still chat"), "chat")
    assert msgs(room.chat(T0 + 3000, "n:2", "again"), "chat")


def test_spectators_chat_but_cannot_guess() -> None:
    room, _ = beat_game(players=2)
    join(room, "n:9", "eve", spectator=True)
    word = room.prompt or ""
    assert msgs(room.chat(T0 + 10, "n:9", word), "error")[0]["code"] == "reveals_word"
    assert msgs(room.chat(T0 + 20, "n:9", "go go"), "chat")[0]["name"] == "eve"


def test_a_new_owner_continues_the_turn_from_the_stored_state() -> None:
    room, (a, b, _c) = beat_game()
    draw(room, a, T0 + 1000)
    room.chat(T0 + 2000, "n:2", room.prompt or "")
    room.tick(room.turn.hint_times()[0] if room.turn else 0)
    state = json.loads(json.dumps(room.to_dict()))
    again = Room.from_dict(state, room.settings, room.labels)
    assert again.turn == room.turn and again.drawn == [a] and again.mode == "beat"
    assert again.deck == room.deck and again.scores() == room.scores()
    assert again.phase == DRAWING and not again.round_due(T0 + 2100)
    again.chat(T0 + 2200, "n:3", room.prompt or "")
    assert again.round_due(T0 + 2200) and b in again.turn.guessed


def test_each_finished_round_is_recorded_once_for_prompt_difficulty() -> None:
    room, (a, _b, _c) = beat_game(players=3)
    draw(room, a, T0 + 1000)
    room.apply_guess(T0 + 2100, a, 1, 1, T0 + 2000, guess(room.prompt or "", 0.9))
    room.end_round(T0 + 2200, finals(room))
    [record] = room.pending_stats
    assert record == {
        "id": f"ABCDEFGH:{room.game_id}:1:1",
        "prompt": room.prompt,
        "drawings": 1,
        "elapsed_ms": [2000],
    }
    assert room.end_round(T0 + 2300, finals(room)) == []  # not twice
    room.stats_posted({record["id"]})
    assert room.pending_stats == []
    # a turn nobody drew in tells nothing about the prompt
    room.tick(room.next_round_at or 0)
    room.end_round(room.deadline or 0, finals(room))
    assert room.pending_stats == []


def test_draw_mode_records_every_drawing_of_the_round() -> None:
    room = make_room()
    join(room, "n:1", "ada")
    join(room, "n:2", "bob")
    join(room, "n:3", "cy")
    room.start(T0, "n:1")
    for i, conn in enumerate(["n:1", "n:2"]):
        room.points(T0 + 1000 * (i + 1), conn, 1, 0, [[0, 0, 0]])
    room.apply_guess(T0 + 1500, "p1", 1, 1, T0 + 1000, guess(room.prompt or "", 0.9))
    room.end_round(room.deadline or 0, finals(room))
    [record] = room.pending_stats
    assert record["id"] == f"ABCDEFGH:{room.game_id}:1"
    assert (record["drawings"], record["elapsed_ms"]) == (2, [1000])


def test_dealing_uses_the_beliefs_and_the_host_level() -> None:
    room = make_room()
    join(room, "n:1", "ada")
    # "tree" is known to be hard, the others easy
    room.beliefs = {w: (1000.0, 1.0) for w in room.labels} | {"tree": (1.0, 1000.0)}
    room.change_settings(T0, "n:1", 1, 20, None, "hard")
    room.start(T0, "n:1")
    assert room.prompt == "tree"
    room.end_round(room.deadline or 0, finals(room))
    room.change_settings(T0, "n:1", 3, 20, None, "easy")
    room.start(T0 + 60_000, "n:1")
    assert room.prompt != "tree" and "tree" not in room.deck


def test_a_drawer_who_drops_keeps_the_turn_and_who_is_away_misses_theirs() -> None:
    room, (a, b, c) = beat_game()
    word = room.prompt
    room.disconnect(T0 + 1000, "n:1")  # the drawer drops: the turn goes on
    assert not room.round_due(T0 + 1000)
    effects = room.join(
        T0 + 2000, "n:4", "ada", resume="ABCDEFGH.tok-n:1-xxxxxxxxxxxx", new_token="x"
    )
    [welcome] = sent_to(effects, "n:4")
    assert welcome["snapshot"]["prompt"] == word and welcome["snapshot"]["turn"]["drawer"] == a
    draw(room, a, T0 + 2500)
    room.disconnect(T0 + 3000, "n:2")  # bob is away when his turn would come: cy draws next
    ended = msgs(room.end_round(room.deadline or 0, finals(room)), "round_ended")[0]
    started = msgs(room.tick(ended["next_round_at"]), "round_started")[0]
    assert started["drawer"] == c and (started["turn"], started["turns"]) == (2, 2)
    room.leave(T0 + 30_000, "n:3")  # the drawer leaves: the turn is over
    assert room.round_due(T0 + 30_000) and b in room.players


def test_a_turn_runs_on_the_rounds_clock_after_the_get_ready() -> None:
    room, (_a, b) = beat_game(players=2, ready_seconds=3.0)
    turn = room.turn
    assert turn is not None and room.round_started_at == T0 + 3000
    assert (turn.started_at, turn.deadline) == (room.round_started_at, room.deadline)
    assert all(T0 + 3000 < t < (room.deadline or 0) for t in turn.hint_times())
    assert room.snapshot(T0, room.players[b])["starts_at"] == T0 + 3000
    [got] = msgs(room.chat(T0 + 8000, "n:2", room.prompt or ""), "guessed")
    assert got["elapsed_ms"] == 5000
    assert got["points"] == recognition_points(TURN_MS - 5000, TURN_MS, True)


def test_chat_lines_leave_the_stored_state_alone() -> None:
    room, _ = beat_game()
    word = room.prompt or ""
    assert not changes_state(room.chat(T0 + 100, "n:2", "a potato?"))
    assert not changes_state(room.chat(T0 + 200, "n:2", word[:-1] + "#"))  # close_guess
    assert not changes_state(room.chat(T0 + 300, "n:1", word))  # reveals_word
    assert changes_state(room.chat(T0 + 400, "n:2", word))  # guessed: scores changed
    assert room.turn is not None
    assert changes_state(room.tick(room.turn.hint_times()[0]))  # a letter revealed


def test_each_turn_is_kept_apart_in_the_gallery() -> None:
    room, (a, b) = beat_game(players=2)
    draw(room, a, T0 + 1000)
    first = room.end_round(room.deadline or 0, finals(room))
    room.tick(room.next_round_at or 0)
    draw(room, b, (room.round_started_at or 0) + 1000)
    last = room.end_round(room.deadline or 0, finals(room))
    parts = {e.part: e.record for e in first + last if isinstance(e, Archive)}
    assert sorted(parts) == ["meta", "r1.1", "r1.2"]
    assert (parts["r1.1"]["turn"], parts["r1.1"]["drawer"]) == (1, a)
    assert [r["player_id"] for r in parts["r1.2"]["results"]] == [b]
    assert {r["player_id"] for r in parts["meta"]["ranking"]} == {a, b, "ai"}
    assert parts["meta"]["ai_score"] == 0 and len(parts["meta"]["versus_ai"]) == 2
