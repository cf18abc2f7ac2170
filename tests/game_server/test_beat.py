"""The rules of a "Beat the AI" turn (game_server/beat.py), with an injected clock."""

from __future__ import annotations

import random

import pytest

from game_server import beat
from game_server.scoring import FIRST_BONUS, recognition_points

T0 = 1_700_000_000_000
TURN_MS = 20_000


def turn(word: str = "cat", seed: int = 1) -> beat.Turn:
    return beat.Turn.begin("p1", word, T0, TURN_MS, random.Random(seed))


@pytest.mark.parametrize(
    ("guess", "verdict"),
    [
        ("cat", "correct"),
        ("  CAT ", "correct"),
        ("Hot  Air balloon", "correct"),
        ("hot-air balloon!", "correct"),
        ("is it a cat?", "correct"),
        ("catch", "miss"),  # the word inside another word is not a guess
        ("scatter", "miss"),
        ("cot", "close"),
        ("Cot!", "close"),
        ("cats", "close"),
        ("ca", "close"),
        ("act", "close"),  # neighbours swapped
        ("tac", "miss"),
        ("dog", "miss"),
        ("catss", "miss"),
        ("", "miss"),
    ],
)
def test_guesses_are_judged_case_and_space_insensitively(guess: str, verdict: str) -> None:
    word = "hot air balloon" if "air" in guess.lower() else "cat"
    assert beat.judge(guess, word) == verdict


def test_one_edit_apart_is_symmetric_and_exact() -> None:
    pairs = [("house", "hous"), ("house", "mouse"), ("house", "houes"), ("house", "hosue")]
    for a, b in pairs:
        assert beat.one_edit_apart(a, b) and beat.one_edit_apart(b, a)
    assert not beat.one_edit_apart("house", "house")
    assert not beat.one_edit_apart("house", "hose!")
    assert not beat.one_edit_apart("house", "ohuse!")


def test_a_chat_line_mentions_the_word_whatever_the_case_and_spacing() -> None:
    assert beat.mentions("it is a CAT!", "cat")
    assert beat.mentions("hotair balloon", "hot air balloon")
    assert beat.mentions("scatter", "cat")  # stricter than a guess: the word shows
    assert not beat.mentions("a dog", "cat")


def test_turn_order_follows_the_seats_and_skips_who_drew() -> None:
    seats = [(3, "p2"), (2, "p1"), (5, "p9")]
    assert beat.next_drawer(seats, []) == "p1"
    assert beat.next_drawer(seats, ["p1"]) == "p2"
    assert beat.next_drawer(seats, ["p1", "p2"]) == "p9"
    assert beat.next_drawer(seats, ["p1", "p2", "p9"]) is None


def test_hints_reveal_half_the_letters_at_even_times() -> None:
    t = turn("hot air balloon")
    assert t.hint() == "___ ___ _______"
    letters = len(beat.letters_of(t.word))
    assert len(t.hint_order) == letters // 2
    times = t.hint_times()
    assert times[0] == T0 + TURN_MS // (len(times) + 1)
    assert t.next_hint_at() == times[0]
    assert not t.reveal_due(times[0] - 1)
    assert t.reveal_due(times[0])
    shown = [i for i, ch in enumerate(t.hint()) if ch not in "_ "]
    assert shown == [t.hint_order[0]]
    assert t.reveal_due(times[2])
    assert t.revealed == 3
    assert not t.reveal_due(times[2])
    assert t.reveal_due(t.deadline)
    assert t.hint().count("_") == letters - len(t.hint_order)
    assert t.next_hint_at() is None


def test_hint_order_is_drawn_from_the_seeded_rng() -> None:
    assert turn("penguin", 3).hint_order == turn("penguin", 3).hint_order
    assert {tuple(turn("penguin", s).hint_order) for s in range(10)} != {
        tuple(turn("penguin", 0).hint_order)
    }


def test_a_person_first_beats_the_ai_and_the_drawer_scores_too() -> None:
    t = turn()
    points, drawer, first = t.guess(T0 + 5000, "p2")
    assert first and t.winner == "p2"
    assert points == recognition_points(15_000, TURN_MS, True)
    assert drawer == recognition_points(15_000, TURN_MS, False) // 2
    points2, _, first2 = t.guess(T0 + 10_000, "p3")
    assert not first2 and points2 == recognition_points(10_000, TURN_MS, False) < points
    assert t.guessed == {"p2": 5000, "p3": 10_000}
    assert not t.done(["p2", "p3", "p4"])
    assert t.done(["p2", "p3"])
    assert t.ai_recognized(T0 + 12_000) == 0  # too late: a person was first
    assert t.winner == "p2" and t.over and t.done(["p4"])


def test_the_ai_first_wins_the_race_and_ends_the_turn() -> None:
    t = turn()
    assert not t.done(["p2"])
    points = t.ai_recognized(T0 + 4000)
    assert points == recognition_points(16_000, TURN_MS, False) == 100 + 720
    assert points != recognition_points(16_000, TURN_MS, True) - FIRST_BONUS + 1
    assert t.winner == beat.AI_ID and t.ai_elapsed == 4000 and t.done(["p2"])


def test_a_turn_survives_a_round_trip_through_json() -> None:
    t = turn("owl")
    t.reveal_due(t.deadline)
    t.guess(T0 + 1000, "p2")
    assert beat.Turn.from_dict(t.to_dict()) == t


def test_chat_allows_five_lines_per_three_seconds() -> None:
    times: list[int] = []
    for i in range(beat.CHAT_MESSAGES):
        assert beat.chat_allowed(times, T0 + i)
        times = beat.recent_chats(times, T0 + i)
    assert not beat.chat_allowed(times, T0 + 10)
    assert not beat.chat_allowed(times, T0 + beat.CHAT_WINDOW_MS - 1)
    assert beat.chat_allowed(times, T0 + beat.CHAT_WINDOW_MS)
    assert beat.recent_chats(times, T0 + beat.CHAT_WINDOW_MS + 2) == [
        T0 + 3,
        T0 + 4,
        T0 + beat.CHAT_WINDOW_MS + 2,
    ]


def test_versus_ai_says_who_beat_it_and_by_how_much() -> None:
    rows = beat.versus_ai([("p1", "ada", 900), ("p2", "bob", 300)], 500)
    assert rows == [
        {"player_id": "p1", "name": "ada", "score": 900, "margin": 400},
        {"player_id": "p2", "name": "bob", "score": 300, "margin": -200},
    ]
