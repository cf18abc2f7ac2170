"""The game rules of one room, without I/O.

:class:`Room` is a plain state machine. Every method takes the current time (epoch
milliseconds, ``now``) as an argument and returns a list of *effects* for the adapter to carry
out: messages to the room or to one connection, inference requests, ink-log entries and score
awards. Nothing here touches sockets, Redis, threads or the clock, so whole games are tested with
an injected clock (tests/game_server/test_rules.py).

Identity: client commands name the *connection* (``conn``) they came from; the room maps a
connection to its seat. A connection id is opaque (``"<process>:<n>"``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from game_server import scoring
from game_server.config import Settings
from game_server.protocol import CLOSE_KICKED, CLOSE_NORMAL, CLOSE_REPLACED, error_message

LOBBY = "lobby"
DRAWING = "drawing"
INTERMISSION = "intermission"
GAME_OVER = "game_over"

Message = dict[str, Any]
Stroke = list[list[float]]


# ------------------------------------------------------------------------------- effects


@dataclass(frozen=True, slots=True)
class Broadcast:
    """Send ``msg`` to every connection in the room (except ``exclude``)."""

    msg: Message
    exclude: str | None = None


@dataclass(frozen=True, slots=True)
class Send:
    """Send ``msg`` to one connection; then close it with ``close`` if given."""

    conn: str
    msg: Message | None
    close: int | None = None


@dataclass(frozen=True, slots=True)
class Infer:
    """The drawing of ``player_id`` changed: run the AI on it (coalesced by the adapter)."""

    player_id: str


@dataclass(frozen=True, slots=True)
class InkOp:
    """Append to the round's ink log (``None`` op = reset the log for a new round)."""

    op: Message | None


@dataclass(frozen=True, slots=True)
class Award:
    """A score award for the global leaderboards; ``award_id`` makes it idempotent."""

    award_id: str
    name: str
    points: int
    day: str


Effect = Broadcast | Send | Infer | InkOp | Award


@dataclass(frozen=True, slots=True)
class FinalGuess:
    """The AI's verdict on a player's final drawing of a round."""

    guesses: list[dict[str, Any]]
    image: str  # base64 PNG of the 28x28 image the AI saw


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def utc_day(now_ms: int) -> str:
    return dt.datetime.fromtimestamp(now_ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d")


# ------------------------------------------------------------------------------- state


@dataclass
class Player:
    id: str
    name: str
    token_hash: str
    spectator: bool
    order: int
    conn: str | None = None
    disconnected_at: int | None = None
    score: int = 0
    # per-round state (strokes are rebuilt from the ink log, not persisted in the state)
    strokes: list[Stroke] = field(default_factory=list)
    n_points: int = 0
    seq: int = 0
    last_update_at: int = 0
    recognized_elapsed: int | None = None
    round_points: int = 0
    guess: Message | None = None

    def public(self, host: str | None) -> Message:
        return {
            "id": self.id,
            "name": self.name,
            "score": self.score,
            "connected": self.conn is not None,
            "host": self.id == host,
            "spectator": self.spectator,
        }

    def reset_round(self) -> None:
        self.strokes = []
        self.n_points = 0
        self.seq = 0
        self.last_update_at = 0
        self.recognized_elapsed = None
        self.round_points = 0
        self.guess = None

    def to_dict(self) -> Message:
        return {name: getattr(self, name) for name in _PERSISTED_PLAYER_FIELDS}

    @classmethod
    def from_dict(cls, d: Message) -> Player:
        return cls(**{name: d[name] for name in _PERSISTED_PLAYER_FIELDS})


# What of a player is stored in Redis (strokes and n_points are rebuilt from the ink log).
_PERSISTED_PLAYER_FIELDS = (
    "id",
    "name",
    "token_hash",
    "spectator",
    "order",
    "conn",
    "disconnected_at",
    "score",
    "seq",
    "last_update_at",
    "recognized_elapsed",
    "round_points",
    "guess",
)


class Room:
    """One room's game state and rules."""

    def __init__(
        self,
        code: str,
        settings: Settings,
        labels: Sequence[str],
        *,
        public: bool = False,
        rng: random.Random | None = None,
    ) -> None:
        self.code = code
        self.settings = settings
        allowed = set(labels)
        self.labels = [w for w in settings.prompts if w in allowed] or list(labels)
        self.public = public
        self.rng = rng or random.Random()
        self.capacity = settings.room_capacity
        self.host: str | None = None
        self.phase = LOBBY
        self.game_id: str | None = None
        self.round = 0
        self.rounds = settings.default_rounds
        self.seconds = settings.default_round_seconds
        self.prompt: str | None = None
        self.used_prompts: list[str] = []
        self.round_started_at = 0
        self.deadline: int | None = None
        self.next_round_at: int | None = None
        self.players: dict[str, Player] = {}
        self.next_player = 1
        self.any_recognized = False
        self.pending_awards: list[Message] = []
        self.last_results: list[Message] | None = None

    # ------------------------------------------------------------------ helpers

    def _by_conn(self, conn: str) -> Player | None:
        for p in self.players.values():
            if p.conn == conn:
                return p
        return None

    def seated(self) -> list[Player]:
        return [p for p in self.players.values() if not p.spectator]

    def spectators(self) -> list[Player]:
        return [p for p in self.players.values() if p.spectator]

    def connected_conns(self) -> list[str]:
        return [p.conn for p in self.players.values() if p.conn is not None]

    def scores(self) -> dict[str, int]:
        return {p.id: p.score for p in self.seated()}

    def is_abandoned(self) -> bool:
        """No one connected and no seat waiting for a resume: the owner may let go."""
        return not any(p.conn is not None or p.disconnected_at is not None for p in self.seated())

    def _err(self, conn: str, code: str, message: str, ref: str) -> list[Effect]:
        return [Send(conn, error_message(code, message, ref))]

    def _member(self, conn: str, ref: str) -> Player | list[Effect]:
        p = self._by_conn(conn)
        if p is None:
            return self._err(conn, "not_joined", "join a room first", ref)
        return p

    def _host_only(self, conn: str, ref: str) -> Player | list[Effect]:
        p = self._member(conn, ref)
        if isinstance(p, Player) and p.id != self.host:
            return self._err(conn, "not_host", "only the host can do that", ref)
        return p

    def _pick_host(self) -> list[Effect]:
        """Keep the host if seated and connected, else hand over to the longest-seated
        connected player (or any seated one)."""
        current = self.players.get(self.host) if self.host else None
        if current is not None and current.conn is not None and not current.spectator:
            return []
        seated = sorted(self.seated(), key=lambda p: p.order)
        connected = [p for p in seated if p.conn is not None]
        new = (connected or seated or [None])[0]
        new_id = new.id if new else None
        if new_id == self.host:
            return []
        self.host = new_id
        return [Broadcast({"type": "host_changed", "player_id": new_id})] if new_id else []

    # ------------------------------------------------------------------ snapshot

    def snapshot(self, now: int) -> Message:
        in_round = self.phase in (DRAWING, INTERMISSION, GAME_OVER) and self.round > 0
        return {
            "room": self.code,
            "public": self.public,
            "host": self.host,
            "capacity": self.capacity,
            "phase": self.phase,
            "game_id": self.game_id,
            "round": self.round,
            "rounds": self.rounds,
            "seconds": self.seconds,
            "prompt": self.prompt if in_round else None,
            "deadline": self.deadline if self.phase == DRAWING else None,
            "next_round_at": self.next_round_at if self.phase == INTERMISSION else None,
            "server_time": now,
            "players": [p.public(self.host) for p in self.seated()],
            "spectators": [p.public(self.host) for p in self.spectators()],
            "drawings": {p.id: p.strokes for p in self.seated() if p.strokes},
            "recognized": {
                p.id: {"elapsed_ms": p.recognized_elapsed, "points": p.round_points}
                for p in self.seated()
                if p.recognized_elapsed is not None
            },
            "guesses": {p.id: p.guess for p in self.seated() if p.guess is not None},
            "last_results": self.last_results if self.phase in (INTERMISSION, GAME_OVER) else None,
        }

    # ------------------------------------------------------------------ membership

    def join(
        self,
        now: int,
        conn: str,
        name: str,
        *,
        spectator: bool = False,
        resume: str | None = None,
        new_token: str,
    ) -> list[Effect]:
        """Seat a new player (or spectator), or resume a seat with ``resume``.

        ``new_token`` is a fresh secret resume token for a new seat (the room stores its hash).
        """
        if self._by_conn(conn) is not None:
            return self._err(conn, "already_joined", "this connection already joined", "join")
        if resume is not None:
            return self._resume(now, conn, resume)
        if spectator:
            if len(self.spectators()) >= self.settings.max_spectators:
                return self._err(conn, "room_full", "no spectator places left", "join")
        elif len(self.seated()) >= self.capacity:
            return self._err(conn, "room_full", "the room is full", "join")
        pid = f"p{self.next_player}"
        self.next_player += 1
        player = Player(
            id=pid,
            name=name,
            token_hash=token_hash(new_token),
            spectator=spectator,
            order=self.next_player,
            conn=conn,
        )
        self.players[pid] = player
        effects: list[Effect] = []
        if not spectator and self.host is None:
            self.host = pid
        effects.append(Send(conn, self._welcome(now, player, new_token)))
        effects.append(
            Broadcast({"type": "player_joined", "player": player.public(self.host)}, conn)
        )
        return effects

    def _welcome(self, now: int, player: Player, token: str) -> Message:
        return {
            "type": "welcome",
            "player_id": player.id,
            "resume_token": token,
            "spectator": player.spectator,
            "snapshot": self.snapshot(now),
        }

    def _resume(self, now: int, conn: str, token: str) -> list[Effect]:
        h = token_hash(token)
        player = next((p for p in self.players.values() if p.token_hash == h), None)
        if player is None:
            return self._err(conn, "bad_resume", "unknown or expired resume token", "join")
        effects: list[Effect] = []
        if player.conn is not None:
            effects.append(Send(player.conn, None, close=CLOSE_REPLACED))
        player.conn = conn
        player.disconnected_at = None
        effects += self._pick_host()
        effects.append(Send(conn, self._welcome(now, player, token)))
        effects.append(
            Broadcast({"type": "player_status", "player_id": player.id, "connected": True}, conn)
        )
        return effects

    def reattach(self, now: int, conn: str, token: str) -> list[Effect]:
        """A socket that never closed re-announces its seat: its process was paused (or lost
        Redis) long enough to be taken for dead, and the seat may be marked disconnected. Seat it
        again (score and drawing kept, a fresh ``welcome``); nothing if it still holds the seat;
        closed (4002) if a newer socket took the seat meanwhile."""
        h = token_hash(token)
        player = next((p for p in self.players.values() if p.token_hash == h), None)
        if player is None:
            return self._err(conn, "bad_resume", "your seat expired; join again", "join")
        if player.conn == conn:
            return []
        if player.conn is not None:
            return [Send(conn, None, close=CLOSE_REPLACED)]
        return self._resume(now, conn, token)

    def resync(self, now: int, conn: str) -> list[Effect]:
        """The connection may have missed events: send it the full state again."""
        if self._by_conn(conn) is None:
            return []
        return [Send(conn, {"type": "snapshot", "snapshot": self.snapshot(now)})]

    def disconnect(self, now: int, conn: str) -> list[Effect]:
        """The socket ``conn`` went away: keep the seat for ``resume_seconds``."""
        player = self._by_conn(conn)
        if player is None:
            return []
        if player.spectator:
            return self._remove(player, "left")
        player.conn = None
        player.disconnected_at = now
        effects: list[Effect] = [
            Broadcast({"type": "player_status", "player_id": player.id, "connected": False})
        ]
        effects += self._pick_host()
        return effects

    def disconnect_dead(self, now: int, alive: set[str]) -> list[Effect]:
        """Disconnect every connection whose process (``conn`` prefix) is not in ``alive``."""
        effects: list[Effect] = []
        for conn in list(self.connected_conns()):
            if conn.rsplit(":", 1)[0] not in alive:
                effects += self.disconnect(now, conn)
        return effects

    def leave(self, now: int, conn: str) -> list[Effect]:
        player = self._member(conn, "leave")
        if not isinstance(player, Player):
            return player
        effects = self._remove(player, "left")
        effects.append(Send(conn, None, close=CLOSE_NORMAL))
        return effects

    def kick(self, now: int, conn: str, target_id: str) -> list[Effect]:
        host = self._host_only(conn, "kick")
        if not isinstance(host, Player):
            return host
        target = self.players.get(target_id)
        if target is None or target is host:
            return self._err(conn, "no_such_player", "no such player", "kick")
        effects: list[Effect] = []
        if target.conn is not None:
            effects.append(Send(target.conn, None, close=CLOSE_KICKED))
        return effects + self._remove(target, "kicked")

    def _remove(self, player: Player, reason: str) -> list[Effect]:
        del self.players[player.id]
        effects: list[Effect] = [
            Broadcast({"type": "player_left", "player_id": player.id, "reason": reason})
        ]
        return effects + self._pick_host()

    # ------------------------------------------------------------------ host commands

    def change_settings(self, now: int, conn: str, rounds: int, seconds: int) -> list[Effect]:
        host = self._host_only(conn, "settings")
        if not isinstance(host, Player):
            return host
        if self.phase not in (LOBBY, GAME_OVER):
            return self._err(conn, "bad_phase", "settings can change between games", "settings")
        self.rounds, self.seconds = rounds, seconds
        return [Broadcast({"type": "settings", "rounds": rounds, "seconds": seconds})]

    def start(self, now: int, conn: str) -> list[Effect]:
        host = self._host_only(conn, "start")
        if not isinstance(host, Player):
            return host
        if self.phase not in (LOBBY, GAME_OVER):
            return self._err(conn, "bad_phase", "a game is already running", "start")
        self.game_id = f"{self.rng.getrandbits(48):012x}"
        self.round = 0
        self.used_prompts = []
        for p in self.seated():
            p.score = 0
        effects: list[Effect] = [
            Broadcast(
                {
                    "type": "game_started",
                    "game_id": self.game_id,
                    "rounds": self.rounds,
                    "seconds": self.seconds,
                    "scores": self.scores(),
                }
            )
        ]
        return effects + self._start_round(now)

    def play_again(self, now: int, conn: str) -> list[Effect]:
        host = self._host_only(conn, "play_again")
        if not isinstance(host, Player):
            return host
        if self.phase != GAME_OVER:
            return self._err(conn, "bad_phase", "the game is not over", "play_again")
        self.phase = LOBBY
        self.round = 0
        self.prompt = None
        self.last_results = None
        for p in self.players.values():
            p.score = 0
            p.reset_round()
        return [Broadcast({"type": "lobby", "scores": self.scores()}), InkOp(None)]

    # ------------------------------------------------------------------ rounds

    def _deal(self) -> str:
        fresh = [w for w in self.labels if w not in self.used_prompts]
        prompt = self.rng.choice(fresh or self.labels)
        self.used_prompts.append(prompt)
        return prompt

    def _start_round(self, now: int) -> list[Effect]:
        self.round += 1
        self.phase = DRAWING
        self.prompt = self._deal()
        self.round_started_at = now
        self.deadline = now + self.seconds * 1000
        self.next_round_at = None
        self.any_recognized = False
        self.last_results = None
        for p in self.players.values():
            p.reset_round()
        return [
            InkOp(None),
            Broadcast(
                {
                    "type": "round_started",
                    "round": self.round,
                    "rounds": self.rounds,
                    "prompt": self.prompt,
                    "deadline": self.deadline,
                    "server_time": now,
                    "seconds": self.seconds,
                }
            ),
        ]

    def round_due(self, now: int) -> bool:
        """The running round must end now: time is up or every connected player is done."""
        if self.phase != DRAWING or self.deadline is None:
            return False
        if now >= self.deadline:
            return True
        drawing = [p for p in self.seated() if p.conn is not None]
        return bool(drawing) and all(p.recognized_elapsed is not None for p in drawing)

    def end_round(self, now: int, finals: dict[str, FinalGuess]) -> list[Effect]:
        """End the round; ``finals`` holds the AI's verdict on each final drawing."""
        if self.phase != DRAWING:
            return []
        results: list[Message] = []
        for p in self.seated():
            final = finals.get(p.id)
            results.append(
                {
                    "player_id": p.id,
                    "name": p.name,
                    "recognized": p.recognized_elapsed is not None,
                    "elapsed_ms": p.recognized_elapsed,
                    "points": p.round_points,
                    "strokes": p.strokes,
                    "guesses": final.guesses if final else (p.guess or {}).get("guesses", []),
                    "image": final.image if final else None,
                }
            )
        self.last_results = results
        last = self.round >= self.rounds
        self.deadline = None
        if last:
            self.phase = GAME_OVER
            self.next_round_at = None
        else:
            self.phase = INTERMISSION
            self.next_round_at = now + round(self.settings.intermission_seconds * 1000)
        effects: list[Effect] = [
            Broadcast(
                {
                    "type": "round_ended",
                    "round": self.round,
                    "rounds": self.rounds,
                    "prompt": self.prompt,
                    "results": results,
                    "scores": self.scores(),
                    "next_round_at": self.next_round_at,
                }
            )
        ]
        if last:
            effects.append(
                Broadcast(
                    {
                        "type": "game_ended",
                        "game_id": self.game_id,
                        "ranking": scoring.ranking((p.id, p.name, p.score) for p in self.seated()),
                    }
                )
            )
        return effects

    def tick(self, now: int) -> list[Effect]:
        """Timers other than the round end: intermission over, resume windows over."""
        effects: list[Effect] = []
        limit = self.settings.resume_seconds * 1000
        for p in list(self.players.values()):
            if (
                p.conn is None
                and p.disconnected_at is not None
                and now - p.disconnected_at >= limit
            ):
                effects += self._remove(p, "timeout")
        if (
            self.phase == INTERMISSION
            and self.next_round_at is not None
            and now >= self.next_round_at
        ):
            effects += self._start_round(now)
        return effects

    def next_wakeup(self) -> int | None:
        """Epoch ms of the next timer (round deadline, intermission end, resume expiry)."""
        times: list[int] = []
        if self.phase == DRAWING and self.deadline is not None:
            times.append(self.deadline)
        if self.phase == INTERMISSION and self.next_round_at is not None:
            times.append(self.next_round_at)
        limit = self.settings.resume_seconds * 1000
        times += [
            p.disconnected_at + limit
            for p in self.players.values()
            if p.conn is None and p.disconnected_at is not None
        ]
        return min(times) if times else None

    # ------------------------------------------------------------------ drawing

    def _drawer(self, conn: str, ref: str, at: int) -> Player | list[Effect]:
        p = self._member(conn, ref)
        if not isinstance(p, Player):
            return p
        if p.spectator:
            return self._err(conn, "spectator", "spectators cannot draw", ref)
        if self.phase != DRAWING or self.deadline is None or at >= self.deadline:
            return self._err(conn, "bad_phase", "drawing is only accepted during a round", ref)
        if p.recognized_elapsed is not None:
            return self._err(conn, "drawing_locked", "your drawing was already recognized", ref)
        return p

    def points(
        self, at: int, conn: str, seq: int, stroke: int, pts: Sequence[Sequence[float]]
    ) -> list[Effect]:
        """A batch of points; ``at`` is when the update arrived at the server."""
        p = self._drawer(conn, "points", at)
        if not isinstance(p, Player):
            return p
        n = len(p.strokes)
        if stroke not in (n, n - 1):
            return self._err(conn, "bad_stroke", f"stroke must be {n} (new) or {n - 1}", "points")
        if stroke == n and n >= self.settings.max_strokes_per_drawing:
            return self._err(conn, "too_many_points", "too many strokes", "points")
        if p.n_points + len(pts) > self.settings.max_points_per_drawing:
            return self._err(conn, "too_many_points", "too many points in this drawing", "points")
        op = {"p": p.id, "op": "points", "stroke": stroke, "points": [list(x) for x in pts]}
        self._apply_ink(p, op)
        p.seq, p.last_update_at = seq, at
        return [
            InkOp(op),
            Broadcast({"type": "ink", "player_id": p.id, "stroke": stroke, "points": op["points"]}),
            Infer(p.id),
        ]

    def undo(self, at: int, conn: str, seq: int) -> list[Effect]:
        return self._erase(at, conn, seq, "undo")

    def clear(self, at: int, conn: str, seq: int) -> list[Effect]:
        return self._erase(at, conn, seq, "clear")

    def _erase(self, at: int, conn: str, seq: int, kind: str) -> list[Effect]:
        p = self._drawer(conn, kind, at)
        if not isinstance(p, Player):
            return p
        op = {"p": p.id, "op": kind}
        self._apply_ink(p, op)
        p.seq, p.last_update_at = seq, at
        return [InkOp(op), Broadcast({"type": kind, "player_id": p.id}), Infer(p.id)]

    def _apply_ink(self, p: Player, op: Message) -> None:
        kind = op["op"]
        if kind == "points":
            if op["stroke"] == len(p.strokes):
                p.strokes.append([])
            p.strokes[op["stroke"]].extend(op["points"])
            p.n_points += len(op["points"])
        elif kind == "undo":
            if p.strokes:
                p.n_points -= len(p.strokes.pop())
        elif kind == "clear":
            p.strokes = []
            p.n_points = 0

    def replay_ink(self, ops: Sequence[Message]) -> None:
        """Rebuild the round's drawings from the ink log (a new owner taking over)."""
        for op in ops:
            p = self.players.get(op["p"])
            if p is not None:
                self._apply_ink(p, op)

    def drawing_of(self, player_id: str) -> list[Stroke]:
        p = self.players.get(player_id)
        return [list(s) for s in p.strokes] if p else []

    def apply_guess(
        self,
        now: int,
        player_id: str,
        round_no: int,
        seq: int,
        at: int,
        guesses: list[dict[str, Any]],
    ) -> list[Effect]:
        """The AI's top guesses for ``player_id``'s drawing as of update ``seq`` (which arrived
        at ``at``). Broadcasts the guess; recognizes the player when it matches the prompt."""
        p = self.players.get(player_id)
        if p is None or p.spectator or round_no != self.round or self.phase != DRAWING:
            return []
        if p.recognized_elapsed is not None:
            return []
        p.guess = {"seq": seq, "guesses": guesses}
        effects: list[Effect] = [
            Broadcast({"type": "guess", "player_id": p.id, "seq": seq, "guesses": guesses})
        ]
        top = guesses[0] if guesses else None
        assert self.deadline is not None
        # only a verdict on the drawing as it is now recognizes it (the drawing gets locked as
        # it is); a stale guess is shown, and the pending newer request decides
        if (
            seq == p.seq
            and top is not None
            and top["label"] == self.prompt
            and top["p"] >= self.settings.recognition_confidence
            and at < self.deadline
        ):
            first = not self.any_recognized
            self.any_recognized = True
            round_ms = self.seconds * 1000
            pts = scoring.recognition_points(self.deadline - at, round_ms, first)
            p.recognized_elapsed = max(0, at - self.round_started_at)
            p.round_points = pts
            p.score += pts
            award = {
                "award_id": f"{self.code}:{self.game_id}:{self.round}:{p.id}",
                "name": p.name,
                "points": pts,
                "day": utc_day(at),
            }
            self.pending_awards.append(award)
            effects.append(
                Broadcast(
                    {
                        "type": "recognized",
                        "player_id": p.id,
                        "label": self.prompt,
                        "elapsed_ms": p.recognized_elapsed,
                        "points": pts,
                        "first": first,
                        "score": p.score,
                    }
                )
            )
            effects.append(Award(**award))
        return effects

    def awards_posted(self, award_ids: set[str]) -> None:
        self.pending_awards = [a for a in self.pending_awards if a["award_id"] not in award_ids]

    # ------------------------------------------------------------------ persistence

    def to_dict(self) -> Message:
        return {
            "code": self.code,
            "public": self.public,
            "capacity": self.capacity,
            "host": self.host,
            "phase": self.phase,
            "game_id": self.game_id,
            "round": self.round,
            "rounds": self.rounds,
            "seconds": self.seconds,
            "prompt": self.prompt,
            "used_prompts": self.used_prompts,
            "round_started_at": self.round_started_at,
            "deadline": self.deadline,
            "next_round_at": self.next_round_at,
            "players": [p.to_dict() for p in self.players.values()],
            "next_player": self.next_player,
            "any_recognized": self.any_recognized,
            "pending_awards": self.pending_awards,
            "last_results": self.last_results,
        }

    @classmethod
    def from_dict(
        cls,
        d: Message,
        settings: Settings,
        labels: Sequence[str],
        rng: random.Random | None = None,
    ) -> Room:
        room = cls(d["code"], settings, labels, public=d["public"], rng=rng)
        room.capacity = d["capacity"]
        room.host = d["host"]
        room.phase = d["phase"]
        room.game_id = d["game_id"]
        room.round = d["round"]
        room.rounds = d["rounds"]
        room.seconds = d["seconds"]
        room.prompt = d["prompt"]
        room.used_prompts = list(d["used_prompts"])
        room.round_started_at = d["round_started_at"]
        room.deadline = d["deadline"]
        room.next_round_at = d["next_round_at"]
        room.players = {p["id"]: Player.from_dict(p) for p in d["players"]}
        room.next_player = d["next_player"]
        room.any_recognized = d["any_recognized"]
        room.pending_awards = list(d["pending_awards"])
        room.last_results = d["last_results"]
        return room
