"""Scoring: points for a recognized drawing, and the end-of-game ranking.

``points = 100 + round(900 * remaining_ms / round_ms)`` (100..1000), plus ``FIRST_BONUS`` for the
first player recognized in a round. ``remaining_ms`` is measured when the update that got
recognized arrived at the server.
"""

from __future__ import annotations

from collections.abc import Iterable

BASE_POINTS = 100
SPEED_POINTS = 900
FIRST_BONUS = 50


def public() -> dict[str, int]:
    """The points formula's constants, for clients (``GET /api/config``)."""
    return {"base": BASE_POINTS, "speed": SPEED_POINTS, "first_bonus": FIRST_BONUS}


def recognition_points(remaining_ms: int, round_ms: int, first: bool) -> int:
    """Points for a drawing recognized with ``remaining_ms`` of a ``round_ms`` round left."""
    if round_ms <= 0:
        raise ValueError("round_ms must be positive")
    remaining = min(max(remaining_ms, 0), round_ms)
    points = BASE_POINTS + round(SPEED_POINTS * remaining / round_ms)
    return points + (FIRST_BONUS if first else 0)


def ranking(entries: Iterable[tuple[str, str, int]]) -> list[dict[str, object]]:
    """``(player_id, name, score)`` -> ranking, best first; equal scores share a rank
    (competition ranking: 1, 1, 3). Ties are listed by name then id for a stable order."""
    ordered = sorted(entries, key=lambda e: (-e[2], e[1], e[0]))
    out: list[dict[str, object]] = []
    prev_score: int | None = None
    rank = 0
    for i, (pid, name, score) in enumerate(ordered, start=1):
        if score != prev_score:
            rank = i
            prev_score = score
        out.append({"rank": rank, "player_id": pid, "name": name, "score": score})
    return out
