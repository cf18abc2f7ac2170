"""The rules of a "Beat the AI" turn, without I/O.

One player (the drawer) draws the prompt; the others type guesses while the AI guesses live. A
:class:`Turn` holds one turn's state and judges what happens in it; every method takes the time
(epoch ms) as an argument. :mod:`game_server.rules` turns the outcomes into messages.

* Turn order: every seated player draws once per round, in seat order (:func:`next_drawer`);
  late joiners draw later in the same round, who is away when their turn comes misses it. A
  drawer who drops keeps the turn (they may resume); one who leaves ends it.
* The race: each guesser who types the word before the AI recognizes the drawing scores
  ``guess_points`` (more the faster, +50 for the first); the drawer scores
  ``drawer_points`` for each of them. If the AI recognizes the drawing before any person guessed
  it, the AI scores ``guess_points`` (without the bonus). The turn ends when the AI recognizes the
  drawing, when every guesser has guessed it, or at the deadline.
* Hints: guessers see the word's length; :data:`HINT_SHARE` of its letters are revealed one by one
  at evenly spaced times of the turn, in an order drawn when the turn starts.
* Guesses: a line saying the word as whole words, case- and space-insensitively, is correct; one
  edit (insert, delete, substitute, swap of two neighbours) away is "close" (a private note to
  the guesser).
* Chat: at most :data:`CHAT_MESSAGES` lines per :data:`CHAT_WINDOW_MS` per player (a sliding
  window, :func:`chat_allowed`); the length cap is in the parser (protocol.py).
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from game_server import scoring

AI_ID = "ai"
AI_NAME = "AI"
CHAT_MESSAGES = 5
CHAT_WINDOW_MS = 3000
HINT_SHARE = 0.5  # at most this share of the letters is revealed by the end of a turn
HIDDEN = "_"

Verdict = Literal["correct", "close", "miss"]


def normalize(text: str) -> str:
    """Lower case, NFKC, single spaces: how guesses are compared with the word."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def one_edit_apart(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` differ by exactly one insertion, deletion, substitution or swap
    of two neighbouring characters."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    if len(a) < len(b):  # one insertion into a
        return a[i:] == b[i + 1 :]
    if a[i + 1 :] == b[i + 1 :]:  # one substitution
        return True
    return a[i : i + 2] == b[i + 1 : i - 1 if i else None : -1] and a[i + 2 :] == b[i + 2 :]


def words_of(text: str) -> list[str]:
    return re.findall(r"\w+", normalize(text))


def judge(text: str, word: str) -> Verdict:
    """A guess is correct when it says the word as whole words ("a CAT!" for "cat", not
    "catch"); close when it is one edit away from the word."""
    said, target = words_of(text), words_of(word)
    n = len(target)
    if any(said[i : i + n] == target for i in range(len(said) - n + 1)):
        return "correct"
    return "close" if one_edit_apart(" ".join(said), " ".join(target)) else "miss"


def mentions(text: str, word: str) -> bool:
    """Whether a chat line from someone who knows the word gives it away: it contains the word,
    ignoring case and spaces (stricter than :func:`judge`: "scatter" mentions "cat")."""
    squash = "".join(normalize(text).split())
    return "".join(normalize(word).split()) in squash


def chat_allowed(times: Sequence[int], now: int) -> bool:
    """Whether a player who chatted at ``times`` may chat at ``now``."""
    recent = [t for t in times if now - t < CHAT_WINDOW_MS]
    return len(recent) < CHAT_MESSAGES


def recent_chats(times: Iterable[int], now: int) -> list[int]:
    """``times`` plus ``now``, forgetting what is out of the window."""
    return [t for t in times if now - t < CHAT_WINDOW_MS] + [now]


def next_drawer(candidates: Iterable[tuple[int, str]], drawn: Sequence[str]) -> str | None:
    """The next drawer of a round: the first ``(seat order, player id)`` not in ``drawn``."""
    for _order, pid in sorted(candidates):
        if pid not in drawn:
            return pid
    return None


def guess_points(remaining_ms: int, turn_ms: int, first: bool) -> int:
    return scoring.recognition_points(remaining_ms, turn_ms, first)


def drawer_points(remaining_ms: int, turn_ms: int) -> int:
    """The drawer's share of one correct guess: half a guess without the first bonus."""
    return scoring.recognition_points(remaining_ms, turn_ms, False) // 2


def letters_of(word: str) -> list[int]:
    return [i for i, ch in enumerate(word) if ch.isalnum()]


def hint_text(word: str, revealed: Iterable[int]) -> str:
    """The word with unrevealed letters as ``_`` (spaces and punctuation shown)."""
    shown = set(revealed)
    return "".join(ch if (not ch.isalnum() or i in shown) else HIDDEN for i, ch in enumerate(word))


@dataclass
class Turn:
    """One drawer's turn: the word, the hint schedule, who guessed and when, the AI's result."""

    drawer: str
    word: str
    started_at: int
    deadline: int
    hint_order: list[int]
    revealed: int = 0
    guessed: dict[str, int] = field(default_factory=dict)  # player id -> elapsed ms
    ai_elapsed: int | None = None
    winner: str | None = None  # the first to get it: a player id, AI_ID, or None

    @classmethod
    def begin(cls, drawer: str, word: str, now: int, turn_ms: int, rng: random.Random) -> Turn:
        positions = letters_of(word)
        order = rng.sample(positions, int(len(positions) * HINT_SHARE))
        return cls(drawer, word, now, now + turn_ms, order)

    @property
    def turn_ms(self) -> int:
        return self.deadline - self.started_at

    def hint(self) -> str:
        return hint_text(self.word, self.hint_order[: self.revealed])

    def hint_times(self) -> list[int]:
        """When each letter of ``hint_order`` is revealed: evenly spaced inside the turn."""
        n = len(self.hint_order)
        return [self.started_at + self.turn_ms * (i + 1) // (n + 1) for i in range(n)]

    def next_hint_at(self) -> int | None:
        times = self.hint_times()
        return times[self.revealed] if self.revealed < len(times) else None

    def reveal_due(self, now: int) -> bool:
        """Reveal the letters due by ``now``; whether the hint changed."""
        due = sum(1 for t in self.hint_times() if t <= now)
        changed = due > self.revealed
        self.revealed = max(self.revealed, due)
        return changed

    @property
    def over(self) -> bool:
        return self.ai_elapsed is not None

    def guess(self, at: int, player_id: str) -> tuple[int, int, bool]:
        """A correct guess at ``at`` (before the deadline, AI not done): returns
        ``(guesser points, drawer points, first)`` and records it."""
        first = self.winner is None
        remaining = self.deadline - at
        self.guessed[player_id] = max(0, at - self.started_at)
        if first:
            self.winner = player_id
        return (
            guess_points(remaining, self.turn_ms, first),
            drawer_points(remaining, self.turn_ms),
            first,
        )

    def ai_recognized(self, at: int) -> int:
        """The AI recognized the drawing (from an update that arrived at ``at``): ends the race.
        Returns the AI's points (0 when a person guessed first)."""
        self.ai_elapsed = max(0, at - self.started_at)
        if self.winner is not None:
            return 0
        self.winner = AI_ID
        return guess_points(self.deadline - at, self.turn_ms, False)

    def done(self, guessers: Iterable[str]) -> bool:
        """The turn is decided: the AI got it, or every connected guesser did."""
        pending = [g for g in guessers if g not in self.guessed]
        return self.over or (bool(self.guessed) and not pending)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Turn:
        return cls(**d)


def versus_ai(entries: Iterable[tuple[str, str, int]], ai_score: int) -> list[dict[str, Any]]:
    """``(player id, name, score)`` -> who beat the AI and by how much (``margin`` > 0 = beat),
    best first."""
    return [
        {"player_id": pid, "name": name, "score": score, "margin": score - ai_score}
        for pid, name, score in sorted(entries, key=lambda e: (-e[2], e[1], e[0]))
    ]
