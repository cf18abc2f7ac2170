from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from game_server.scoring import BASE_POINTS, FIRST_BONUS, ranking, recognition_points


def test_points_formula() -> None:
    assert recognition_points(20_000, 20_000, False) == 1000
    assert recognition_points(10_000, 20_000, False) == 550
    assert recognition_points(0, 20_000, True) == BASE_POINTS + FIRST_BONUS
    assert recognition_points(-5, 20_000, False) == BASE_POINTS


@given(st.integers(-(10**6), 10**6), st.integers(1, 10**6), st.booleans())
def test_points_are_bounded(remaining: int, total: int, first: bool) -> None:
    p = recognition_points(remaining, total, first)
    assert 100 <= p <= 1000 + FIRST_BONUS


def test_ranking_shares_ranks_on_ties() -> None:
    r = ranking([("p1", "ada", 10), ("p2", "bob", 30), ("p3", "cy", 10)])
    assert [(x["player_id"], x["rank"]) for x in r] == [("p2", 1), ("p1", 2), ("p3", 2)]
