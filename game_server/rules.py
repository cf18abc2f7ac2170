"""The game rules of one room, without I/O.

:class:`Room` is a plain state machine. Every method takes the current time (epoch
milliseconds, ``now``) as an argument and returns a list of *effects* for the adapter to carry
out: messages to the room or to one connection, inference requests, ink-log entries, guesses
and score awards. Nothing here touches sockets, Redis, threads or the clock, so whole games are
tested with an injected clock (tests/game_server/test_rules.py).

Identity: client commands name the *connection* (``conn``) they came from; the room maps a
connection to its seat. A connection id is opaque (``"<process>:<n>"``).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import random
import secrets
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from game_server import beat, difficulty, scoring
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
    """A score award for the global leaderboards, ranked by ``player`` (a stable identity, see
    :func:`identity`) and shown with ``name``; ``award_id`` makes it idempotent."""

    award_id: str
    player: str
    name: str
    points: int
    day: str


@dataclass(frozen=True, slots=True)
class Archive:
    """Keep part of a finished game's record for its gallery: ``part`` is ``r<round>`` (the
    round's drawings with the AI's guess timelines) or ``meta`` (the ranking, at game end)."""

    game_id: str
    part: str
    record: Message


@dataclass(frozen=True, slots=True)
class Guessed:
    """The AI's current guesses for ``player_id``'s drawing as of update ``seq`` (announced in
    the room's next ``frame``)."""

    player_id: str
    seq: int
    guesses: list[dict[str, Any]]


Effect = Broadcast | Send | Infer | InkOp | Award | Guessed | Archive


# Messages that announce no change of the persisted room state.
_STATELESS = ("error", "snapshot", "chat", "close_guess")


def changes_state(effects: Sequence[Effect]) -> bool:
    """Whether ``effects`` come from a change of the persisted room state (join, leave, phase,
    host, settings, recognition, scores, hints...): every such change announces itself with a
    message other than an error. Ink (kept in the ink log), guesses and chat lines do not."""
    for e in effects:
        if isinstance(e, Broadcast | Send) and (e.msg is None or e.msg["type"] not in _STATELESS):
            return True
    return False


# The AI's guess timeline of one drawing: at most this many entries, a new entry only when the
# top guess changes or its probability moves by at least TIMELINE_STEP.
TIMELINE_MAX = 120
TIMELINE_STEP = 0.05


@dataclass(frozen=True, slots=True)
class Guess:
    """The AI's verdict on a drawing: its top guesses, and the model's recognition rule on
    it (``recognizes(label)``: ``Classifier.recognizes`` on the drawing's probabilities)."""

    guesses: list[dict[str, Any]]
    recognizes: Callable[[str], bool]


def _recognizes_nothing(label: str) -> bool:
    return False


NO_GUESS = Guess([], _recognizes_nothing)  # the verdict on an empty drawing: no guesses


@dataclass(frozen=True, slots=True)
class FinalGuess(Guess):
    """The AI's verdict on a player's final drawing of a round."""

    image: str  # base64 PNG of the 28x28 image the AI saw


class Refused(Exception):
    """A guard refused a client message: nothing changed, and the sender gets an ``error`` with
    ``code``, ``message`` and ``ref`` (the one refusal path of :class:`Room`, see
    :func:`refusing`)."""

    def __init__(self, code: str, message: str, ref: str) -> None:
        super().__init__(message)
        self.code, self.message, self.ref = code, message, ref


_M = TypeVar("_M", bound=Callable[..., list[Any]])


def refusing(method: _M) -> _M:
    """A :class:`Room` method ``(self, now_or_at, conn, ...)`` whose guards raise
    :class:`Refused`: the refusal becomes the sender's ``error`` effect."""

    @functools.wraps(method)
    def run(self: Room, time: int, conn: str, *args: Any, **kwargs: Any) -> list[Any]:
        try:
            return method(self, time, conn, *args, **kwargs)
        except Refused as r:
            return self._err(conn, r.code, r.message, r.ref)

    return cast(_M, run)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def identity(key: str | None, token_digest: str) -> str:
    """A player's stable identity (leaderboards, kicks): from the browser's own random ``key``
    when it sent one, else from its seat's resume token. Only a digest is ever stored."""
    if key:
        return "k" + hashlib.sha256(key.encode()).hexdigest()[:20]
    return "t" + token_digest[:20]


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
    ident: str = ""
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
    settled_seq: int | None = None  # the update whose drawing was settled (not persisted)
    chats: list[int] = field(default_factory=list)  # recent chat times (beat.chat_allowed)
    # the AI's guesses over time: [{"t": last point's t, "ms": since round start, "guesses"}]
    timeline: list[Message] = field(default_factory=list)

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
        self.settled_seq = None
        self.timeline = []

    def to_dict(self) -> Message:
        return {name: getattr(self, name) for name in _PERSISTED_PLAYER_FIELDS}

    @classmethod
    def from_dict(cls, d: Message) -> Player:
        return cls(**{name: d[name] for name in _PERSISTED_PLAYER_FIELDS if name in d})


# What of a player is stored in Redis (strokes and n_points are rebuilt from the ink log).
_PERSISTED_PLAYER_FIELDS = (
    "id",
    "name",
    "token_hash",
    "spectator",
    "order",
    "ident",
    "conn",
    "disconnected_at",
    "score",
    "seq",
    "last_update_at",
    "recognized_elapsed",
    "round_points",
    "guess",
    "timeline",
)


# The persisted state of a room, besides ``code``, ``public``, ``players`` and ``turn`` (which
# to_dict/from_dict convert): one list for both directions.
_PERSISTED_ROOM_FIELDS = (
    "capacity",
    "host",
    "phase",
    "game_id",
    "round",
    "rounds",
    "seconds",
    "prompt",
    "used_prompts",
    "round_started_at",
    "deadline",
    "next_round_at",
    "next_player",
    "any_recognized",
    "pending_awards",
    "last_results",
    "mode",
    "level",
    "deck",
    "drawn",
    "ai_score",
    "pending_stats",
    "autostart_at",
    "kicked",
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
        # game mode and prompt difficulty (beat.py, difficulty.py)
        self.mode = "draw"
        self.level = "mixed"
        self.deck: list[str] = []  # prompts dealt for the rest of the game
        self.drawn: list[str] = []  # who drew in this round (beat)
        self.turn: beat.Turn | None = None  # the running beat turn
        self.ai_score = 0
        self.pending_stats: list[Message] = []  # round records not yet counted (store.py)
        # label -> Beta (alpha, beta) of its recognition rate; set by the owner, not persisted
        self.beliefs: dict[str, tuple[float, float]] = {}
        self.autostart_at: int | None = None  # a public room's countdown to its next game
        self.kicked: list[str] = []  # identities kicked from this game (see kick())

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
        """Seated players' scores (and the AI's, as ``"ai"``, in "beat" mode)."""
        out = {p.id: p.score for p in self.seated()}
        return {**out, beat.AI_ID: self.ai_score} if self.mode == "beat" else out

    def is_abandoned(self) -> bool:
        """No one connected and no seat waiting for a resume: the owner may let go."""
        return not any(p.conn is not None or p.disconnected_at is not None for p in self.seated())

    def _err(self, conn: str, code: str, message: str, ref: str) -> list[Effect]:
        return [Send(conn, error_message(code, message, ref))]

    def _member(self, conn: str, ref: str) -> Player:
        p = self._by_conn(conn)
        if p is None:
            raise Refused("not_joined", "join a room first", ref)
        return p

    def _host_only(self, conn: str, ref: str) -> Player:
        p = self._member(conn, ref)
        if p.id != self.host:
            raise Refused("not_host", "only the host can do that", ref)
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

    def snapshot(self, now: int, viewer: Player | None = None) -> Message:
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
            "prompt": self._prompt_for(viewer) if in_round else None,
            "deadline": self.deadline if self.phase == DRAWING else None,
            "starts_at": self.round_started_at if self.phase == DRAWING else None,
            "autostart_at": self.autostart_at,
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
            **self._beat_snapshot(),
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
        key: str | None = None,
    ) -> list[Effect]:
        """Seat a new player (or spectator), or resume a seat with ``resume``.

        ``new_token`` is a fresh secret resume token for a new seat (the room stores its hash);
        ``key`` is the browser's stable random id (:func:`identity`).
        """
        if self._by_conn(conn) is not None:
            return self._err(conn, "already_joined", "this connection already joined", "join")
        if resume is not None:
            return self._resume(now, conn, resume)
        digest = token_hash(new_token)
        ident = identity(key, digest)
        if ident in self.kicked:
            return self._err(
                conn, "kicked", "the host removed you from this game; join again after it", "join"
            )
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
            token_hash=digest,
            spectator=spectator,
            order=self.next_player,
            ident=ident,
            conn=conn,
        )
        self.players[pid] = player
        if not spectator and self.host is None:
            self.host = pid
        # a countdown this player starts is in their welcome's snapshot
        effects = self._autostart(now)
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
            "snapshot": self.snapshot(now, player),
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
        effects += self._autostart(now)
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
        viewer = self._by_conn(conn)
        if viewer is None:
            return []
        return [Send(conn, {"type": "snapshot", "snapshot": self.snapshot(now, viewer)})]

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

    def disconnect_dead(
        self, now: int, alive: set[str], heard: Collection[str] = frozenset()
    ) -> list[Effect]:
        """Disconnect every connection whose process (``conn`` prefix) is not in ``alive``,
        except those in ``heard``: heard from since ``alive`` was looked up, so alive."""
        effects: list[Effect] = []
        for conn in list(self.connected_conns()):
            if conn.rsplit(":", 1)[0] not in alive and conn not in heard:
                effects += self.disconnect(now, conn)
        return effects

    @refusing
    def leave(self, now: int, conn: str) -> list[Effect]:
        player = self._member(conn, "leave")
        effects = self._remove(player, "left")
        effects.append(Send(conn, None, close=CLOSE_NORMAL))
        return effects

    @refusing
    def kick(self, now: int, conn: str, target_id: str) -> list[Effect]:
        host = self._host_only(conn, "kick")
        target = self.players.get(target_id)
        if target is None or target is host:
            return self._err(conn, "no_such_player", "no such player", "kick")
        # the kick holds until the end of this game (or of the next one, between games)
        if target.ident and target.ident not in self.kicked:
            self.kicked.append(target.ident)
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

    @refusing
    def change_settings(
        self,
        now: int,
        conn: str,
        rounds: int,
        seconds: int,
        mode: str | None = None,
        level: str | None = None,
    ) -> list[Effect]:
        """Host settings between games; ``mode`` (protocol.MODES) and ``level``
        (difficulty.LEVELS) are kept when None."""
        self._host_only(conn, "settings")
        if self.phase not in (LOBBY, GAME_OVER):
            return self._err(conn, "bad_phase", "settings can change between games", "settings")
        self.rounds, self.seconds = rounds, seconds
        self.mode = mode or self.mode
        self.level = level or self.level
        msg = {"type": "settings", "rounds": rounds, "seconds": seconds}
        return [Broadcast({**msg, "mode": self.mode, "difficulty": self.level})]

    @refusing
    def start(self, now: int, conn: str) -> list[Effect]:
        self._host_only(conn, "start")
        if self.phase not in (LOBBY, GAME_OVER):
            return self._err(conn, "bad_phase", "a game is already running", "start")
        return self._new_game(now)

    def _new_game(self, now: int) -> list[Effect]:
        # unguessable: the id is the gallery's share link (/g/<id>)
        self.game_id = secrets.token_hex(6)
        self.autostart_at = None
        self.round = 0
        self.used_prompts = []
        self.deck = []
        self.drawn = []
        self.ai_score = 0
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

    @refusing
    def play_again(self, now: int, conn: str) -> list[Effect]:
        self._host_only(conn, "play_again")
        if self.phase != GAME_OVER:
            return self._err(conn, "bad_phase", "the game is not over", "play_again")
        self.phase = LOBBY
        self.round = 0
        self.prompt = None
        self.last_results = None
        self.turn = None
        self.ai_score = 0
        for p in self.players.values():
            p.score = 0
            p.reset_round()
        return [Broadcast({"type": "lobby", "scores": self.scores()}), InkOp(None)]

    # ------------------------------------------------------------------ rounds

    def _deal(self) -> str:
        """The next prompt of the game's deck, dealt by difficulty (difficulty.deal) for the
        whole game at once, and again when it runs out (no repeats until every label is used)."""
        if not self.deck:
            fresh = [w for w in self.labels if w not in self.used_prompts] or self.labels
            per_round = len(self.seated()) if self.mode == "beat" else 1
            wanted = max(1, self.rounds * per_round - len(self.used_prompts))
            self.deck = difficulty.deal(self.rng, fresh, wanted, self.level, self.beliefs)
        prompt = self.deck.pop(0)
        self.used_prompts.append(prompt)
        return prompt

    def _start_round(self, now: int) -> list[Effect]:
        drawer = self._next_drawer() if self.mode == "beat" and self.round else None
        if drawer is None:
            self.round += 1
            self.drawn = []
            drawer = self._next_drawer() if self.mode == "beat" else None
        self.phase = DRAWING
        self.prompt = self._deal()
        # the get-ready card: the round clock starts ready_seconds after the prompt is shown
        self.round_started_at = now + round(self.settings.ready_seconds * 1000)
        self.deadline = self.round_started_at + self.seconds * 1000
        self.next_round_at = None
        self.any_recognized = False
        self.last_results = None
        for p in self.players.values():
            p.reset_round()
        started = {
            "type": "round_started",
            "round": self.round,
            "rounds": self.rounds,
            "prompt": self.prompt,
            "starts_at": self.round_started_at,
            "deadline": self.deadline,
            "server_time": now,
            "seconds": self.seconds,
        }
        if drawer is None:
            self.turn = None
            return [InkOp(None), Broadcast(started)]
        return [InkOp(None), *self._start_turn(drawer, started)]

    def round_due(self, now: int) -> bool:
        """The running round must end now: time is up or every connected player is done."""
        if self.phase != DRAWING or self.deadline is None:
            return False
        if now >= self.deadline:
            return True
        if self.turn is not None:  # a disconnected drawer may resume: only a removed one ends it
            return self.turn.drawer not in self.players or self.turn.done(self._guessers())
        drawing = [p for p in self.seated() if p.conn is not None]
        return bool(drawing) and all(p.recognized_elapsed is not None for p in drawing)

    def end_round(self, now: int, finals: dict[str, FinalGuess]) -> list[Effect]:
        """End the round; ``finals`` holds the AI's verdict on each final drawing."""
        if self.phase != DRAWING:
            return []
        results: list[Message] = []
        for p in self.seated():
            if self.turn is not None and p.id != self.turn.drawer:
                continue
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
        self._record_round(results)
        assert self.game_id is not None
        timelines = {p.id: p.timeline for p in self.seated()}
        record = {
            "round": self.round,
            "prompt": self.prompt,
            "seconds": self.seconds,
            "results": [{**r, "timeline": timelines[r["player_id"]]} for r in results],
            **self._turn_result(),
        }
        # a "beat" round has one part per turn (store.load_game keeps them in order)
        part = f"r{self.round}" + (f".{len(self.drawn)}" if self.turn is not None else "")
        archive: list[Effect] = [Archive(self.game_id, part, record)]
        last = self.round >= self.rounds and (self.turn is None or self._next_drawer() is None)
        self.deadline = None
        if last:
            self.phase = GAME_OVER
            self.next_round_at = None
        else:
            self.phase = INTERMISSION
            self.next_round_at = now + round(self.settings.intermission_seconds * 1000)
        effects: list[Effect] = [
            *archive,
            Broadcast(
                {
                    "type": "round_ended",
                    "round": self.round,
                    "rounds": self.rounds,
                    "prompt": self.prompt,
                    "results": results,
                    "scores": self.scores(),
                    "next_round_at": self.next_round_at,
                    **self._turn_result(),
                }
            ),
        ]
        if last:
            self.kicked = []
            entries = [(p.id, p.name, p.score) for p in self.seated()]
            meta: Message = {"game_id": self.game_id}
            if self.mode == "beat":
                meta["ai_score"] = self.ai_score
                meta["versus_ai"] = beat.versus_ai(entries, self.ai_score)
                entries.append((beat.AI_ID, beat.AI_NAME, self.ai_score))
            meta["ranking"] = scoring.ranking(entries)
            effects.append(Archive(self.game_id, "meta", {**meta, "finished_at": now}))
            effects.append(Broadcast({"type": "game_ended", **meta}))
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
        if self.phase == DRAWING and self.turn is not None and self.turn.reveal_due(now):
            effects.append(Broadcast({"type": "hint", "hint": self.turn.hint()}))
        return effects + self._autostart(now)

    def _autostart(self, now: int) -> list[Effect]:
        """A public room with enough connected players starts a game by itself after a
        countdown (announced with ``autostart``); the countdown stops when players leave."""
        want = self.settings.autostart_players
        ready = (
            self.public
            and want > 0
            and self.phase in (LOBBY, GAME_OVER)
            and sum(p.conn is not None for p in self.seated()) >= want
        )
        if ready and self.autostart_at is None:
            wait = self.settings.restart_seconds if self.phase == GAME_OVER else None
            wait = self.settings.autostart_seconds if wait is None else wait
            self.autostart_at = now + round(wait * 1000)
        elif ready and self.autostart_at is not None and now >= self.autostart_at:
            return self._new_game(now)
        elif not ready and self.autostart_at is not None:
            self.autostart_at = None
        else:
            return []
        return [Broadcast({"type": "autostart", "at": self.autostart_at, "server_time": now})]

    def _settling(self) -> list[Player]:
        """The players whose drawing may be settled: a running round, a drawing (non-empty)
        that the AI has not recognized and that was not settled since its last update."""
        if self.phase != DRAWING or self.deadline is None or self.settings.settle_ms == 0:
            return []
        return [
            p
            for p in self.seated()
            if p.strokes
            and p.recognized_elapsed is None
            and p.settled_seq != p.seq
            and (self.turn is None or p.id == self.turn.drawer)
        ]

    def settle_due(self, now: int) -> list[str]:
        """The players whose drawing is due to be settled now: it has not changed for
        ``settings.settle_ms`` (since its last update arrived) before the round's end. The
        adapter classifies each with the live belief settled on it (``Belief.settle``) and
        hands the verdict to :meth:`apply_guess` as usual (scored at the last update's arrival).
        Each drawing is due once: a new update makes it due again ``settle_ms`` after it."""
        deadline = self.deadline or 0  # without one nothing is settling
        wait = self.settings.settle_ms
        due = [p for p in self._settling() if p.last_update_at + wait <= now < deadline]
        for p in due:
            p.settled_seq = p.seq
        return [p.id for p in due]

    def next_wakeup(self) -> int | None:
        """Epoch ms of the next timer (round deadline, a drawing's settling, intermission end,
        resume expiry)."""
        times: list[int] = []
        if self.phase == DRAWING and self.deadline is not None:
            times.append(self.deadline)
            times += [p.last_update_at + self.settings.settle_ms for p in self._settling()]
            hint_at = self.turn.next_hint_at() if self.turn is not None else None
            times += [hint_at] if hint_at is not None else []
        if self.phase == INTERMISSION and self.next_round_at is not None:
            times.append(self.next_round_at)
        if self.autostart_at is not None:
            times.append(self.autostart_at)
        limit = self.settings.resume_seconds * 1000
        times += [
            p.disconnected_at + limit
            for p in self.players.values()
            if p.conn is None and p.disconnected_at is not None
        ]
        return min(times) if times else None

    # ------------------------------------------------------------------ drawing

    def _drawer(self, conn: str, ref: str, at: int) -> Player:
        p = self._member(conn, ref)
        if p.spectator:
            raise Refused("spectator", "spectators cannot draw", ref)
        if self.phase != DRAWING or self.deadline is None or at >= self.deadline:
            raise Refused("bad_phase", "drawing is only accepted during a round", ref)
        if self.turn is not None and p.id != self.turn.drawer:
            raise Refused("not_drawer", "only this turn's drawer draws", ref)
        if p.recognized_elapsed is not None:
            raise Refused("drawing_locked", "your drawing was already recognized", ref)
        return p

    @refusing
    def points(
        self, at: int, conn: str, seq: int, stroke: int, pts: Sequence[Sequence[float]]
    ) -> list[Effect]:
        """A batch of points; ``at`` is when the update arrived at the server."""
        p = self._drawer(conn, "points", at)
        n = len(p.strokes)
        if stroke not in (n, n - 1):
            return self._err(conn, "bad_stroke", f"stroke must be {n} (new) or {n - 1}", "points")
        if stroke == n and n >= self.settings.max_strokes_per_drawing:
            return self._err(conn, "too_many_points", "too many strokes", "points")
        if p.n_points + len(pts) > self.settings.max_points_per_drawing:
            return self._err(conn, "too_many_points", "too many points in this drawing", "points")
        op = {
            "p": p.id,
            "op": "points",
            "stroke": stroke,
            # the points as parsed (immutable tuples of numbers: the garbage collector stops
            # tracking them, so a room's drawings do not lengthen its collections)
            "points": list(pts),
            "seq": seq,
            "at": at,
        }
        self._apply_ink(p, op)
        return [InkOp(op), Infer(p.id)]

    def undo(self, at: int, conn: str, seq: int) -> list[Effect]:
        return self._erase(at, conn, seq, "undo")

    def clear(self, at: int, conn: str, seq: int) -> list[Effect]:
        return self._erase(at, conn, seq, "clear")

    @refusing
    def _erase(self, at: int, conn: str, seq: int, kind: str) -> list[Effect]:
        p = self._drawer(conn, kind, at)
        op = {"p": p.id, "op": kind, "seq": seq, "at": at}
        self._apply_ink(p, op)
        return [InkOp(op), Infer(p.id)]

    def _apply_ink(self, p: Player, op: Message) -> None:
        """Apply one ink-log op (also when replaying the log: it carries the update's ``seq``
        and arrival time, which the room state is not rewritten for)."""
        kind = op["op"]
        p.seq, p.last_update_at = op["seq"], op["at"]
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
                if op["op"] == "points":  # the points as parsed live: tuples (Room.points)
                    op = {**op, "points": [tuple(x) for x in op["points"]]}
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
        guess: Guess,
    ) -> list[Effect]:
        """The AI's top guesses for ``player_id``'s drawing as of update ``seq`` (which arrived
        at ``at``). Announces the guess; recognizes the player when it matches the prompt."""
        p = self.players.get(player_id)
        if p is None or p.spectator or round_no != self.round or self.phase != DRAWING:
            return []
        if p.recognized_elapsed is not None:
            return []
        guesses = guess.guesses
        p.guess = {"seq": seq, "guesses": guesses}
        if seq == p.seq:
            self._record_guess(p, at, guesses)
        effects: list[Effect] = [Guessed(p.id, seq, guesses)]
        assert self.deadline is not None
        # only a verdict on the drawing as it is now recognizes it (the drawing gets locked as
        # it is); a stale guess is shown, and the pending newer request decides
        if (
            seq == p.seq
            and self.prompt is not None
            and guess.recognizes(self.prompt)
            and at < self.deadline
        ):
            if self.turn is not None:
                return effects + self._ai_recognized(p, at)
            first = not self.any_recognized
            self.any_recognized = True
            round_ms = self.seconds * 1000
            pts = scoring.recognition_points(self.deadline - at, round_ms, first)
            p.recognized_elapsed = max(0, at - self.round_started_at)
            p.round_points = pts
            p.score += pts
            award = self._award(p, pts, at, f"{self.round}:{p.id}")
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
            effects.append(award)
        return effects

    def _award(self, p: Player, points: int, at: int, key: str) -> Award:
        """A leaderboard award, kept pending in the state until posted (exactly once)."""
        award = {
            "award_id": f"{self.code}:{self.game_id}:{key}",
            "player": p.ident or identity(None, p.token_hash),
            "name": p.name,
            "points": points,
            "day": utc_day(at),
        }
        self.pending_awards.append(award)
        return Award(**award)

    def _record_guess(self, p: Player, at: int, guesses: list[dict[str, Any]]) -> None:
        """Add the AI's verdict on the drawing as it is now to its timeline (for the replay):
        ``t`` is the drawing's last point's own time, so a replay can show it in step."""
        if not guesses or len(p.timeline) >= TIMELINE_MAX:
            return
        last = p.timeline[-1]["guesses"][0] if p.timeline else None
        top = guesses[0]
        if last and last["label"] == top["label"] and abs(last["p"] - top["p"]) < TIMELINE_STEP:
            return
        t = next((s[-1][2] for s in reversed(p.strokes) if s), 0)
        ms = max(0, at - self.round_started_at)
        p.timeline.append({"t": t, "ms": ms, "guesses": guesses})

    def awards_posted(self, award_ids: set[str]) -> None:
        self.pending_awards = [a for a in self.pending_awards if a["award_id"] not in award_ids]

    # ------------------------------------------------------------------ beat the AI

    def _prompt_for(self, viewer: Player | None) -> str | None:
        """The prompt as ``viewer`` may see it: hidden from guessers while a turn runs."""
        turn = self.turn
        if turn is None or self.phase != DRAWING:
            return self.prompt
        knows = viewer is not None and (viewer.id == turn.drawer or viewer.id in turn.guessed)
        return self.prompt if knows else None

    def _beat_snapshot(self) -> Message:
        turn = self.turn if self.phase == DRAWING else None
        return {
            "mode": self.mode,
            "difficulty": self.level,
            "ai_score": self.ai_score if self.mode == "beat" else None,
            "turn": None
            if turn is None
            else {
                "drawer": turn.drawer,
                "turn": len(self.drawn),
                "turns": self._turns(),
                "hint": turn.hint(),
                "guessed": turn.guessed,
                "ai_elapsed_ms": turn.ai_elapsed,
            },
        }

    def _can_draw(self) -> list[tuple[int, str]]:
        """``(seat order, id)`` of connected seated players (who is away when their turn would
        come misses it)."""
        return [(p.order, p.id) for p in self.seated() if p.conn is not None]

    def _next_drawer(self) -> str | None:
        return beat.next_drawer(self._can_draw(), self.drawn)

    def _turns(self) -> int:
        """This round's turns: taken so far, plus who may still draw."""
        return len(self.drawn) + sum(1 for _o, pid in self._can_draw() if pid not in self.drawn)

    def _guessers(self) -> list[str]:
        assert self.turn is not None
        return [p.id for p in self.seated() if p.conn is not None and p.id != self.turn.drawer]

    def _start_turn(self, drawer_id: str, started: Message) -> list[Effect]:
        """A "beat" turn; its clock (and hints) start with the round's, after the get-ready."""
        assert self.prompt is not None
        self.drawn.append(drawer_id)
        start = self.round_started_at
        self.turn = beat.Turn.begin(drawer_id, self.prompt, start, self.seconds * 1000, self.rng)
        started = {
            **started,
            "prompt": None,
            "drawer": drawer_id,
            "turn": len(self.drawn),
            "turns": self._turns(),
            "hint": self.turn.hint(),
        }
        drawer = self.players[drawer_id]
        effects: list[Effect] = [Broadcast(started, drawer.conn)]
        if drawer.conn is not None:
            effects.append(Send(drawer.conn, {**started, "prompt": self.prompt}))
        return effects

    def _ai_recognized(self, drawer: Player, at: int) -> list[Effect]:
        assert self.turn is not None
        points = self.turn.ai_recognized(at)
        self.ai_score += points
        drawer.recognized_elapsed = self.turn.ai_elapsed
        msg = {
            "type": "recognized",
            "player_id": drawer.id,
            "label": self.prompt,
            "elapsed_ms": drawer.recognized_elapsed,
            "points": points,
            "first": points > 0,
            "score": self.ai_score,
        }
        return [Broadcast(msg)]

    def _turn_result(self) -> Message:
        turn = self.turn
        if turn is None:
            return {}
        return {
            "drawer": turn.drawer,
            "turn": len(self.drawn),
            "winner": turn.winner,
            "ai_elapsed_ms": turn.ai_elapsed,
            "guessers": [
                {"player_id": pid, "elapsed_ms": ms, "points": self.players[pid].round_points}
                for pid, ms in turn.guessed.items()
                if pid in self.players
            ],
        }

    @refusing
    def chat(self, at: int, conn: str, text: str) -> list[Effect]:
        """A chat line (``text`` validated by protocol.py). During a "beat" turn a guesser's
        line is their guess: the word scores (and is never shown), one edit away gets a private
        ``close_guess``; nobody who knows the word may say it."""
        p = self._member(conn, "chat")
        if not beat.chat_allowed(p.chats, at):
            limit = f"at most {beat.CHAT_MESSAGES} chat lines per {beat.CHAT_WINDOW_MS} ms"
            return self._err(conn, "rate_limited", limit, "chat")
        p.chats = beat.recent_chats(p.chats, at)
        line: list[Effect] = [
            Broadcast({"type": "chat", "player_id": p.id, "name": p.name, "text": text})
        ]
        turn = self.turn
        if turn is None or turn.over or self.phase != DRAWING or at >= turn.deadline:
            return line  # no turn running (once the AI got it the word is public)
        guessing = not p.spectator and p.id != turn.drawer and p.id not in turn.guessed
        if not guessing:
            if beat.mentions(text, turn.word):
                return self._err(conn, "reveals_word", "you know the word: do not say it", "chat")
            return line
        verdict = beat.judge(text, turn.word)
        if verdict == "correct":
            return self._guessed(p, at)
        if verdict == "close":
            return [Send(conn, {"type": "close_guess", "text": text}), *line]
        return line

    def _guessed(self, p: Player, at: int) -> list[Effect]:
        assert self.turn is not None
        points, drawer_points, first = self.turn.guess(at, p.id)
        drawer = self.players.get(self.turn.drawer)
        p.round_points, p.score = points, p.score + points
        key = f"{self.round}:{len(self.drawn)}"
        effects: list[Effect] = [self._award(p, points, at, f"{key}:{p.id}")]
        msg: Message = {
            "type": "guessed",
            "player_id": p.id,
            "elapsed_ms": self.turn.guessed[p.id],
            "points": points,
            "first": first,
            "score": p.score,
            "drawer_points": 0,
        }
        if drawer is not None:
            drawer.round_points += drawer_points
            drawer.score += drawer_points
            msg.update(drawer_points=drawer_points, drawer_score=drawer.score)
            effects.append(self._award(drawer, drawer_points, at, f"{key}:{p.id}:drawer"))
        return [Broadcast(msg), *effects]

    def _record_round(self, results: list[Message]) -> None:
        """The finished round's figures for the prompt's difficulty (counted once, store.py)."""
        drew = [r for r in results if r["strokes"]]
        if not drew or self.prompt is None:
            return
        key = f"{self.code}:{self.game_id}:{self.round}" + (
            f":{len(self.drawn)}" if self.turn else ""
        )
        elapsed = [r["elapsed_ms"] for r in drew if r["recognized"]]
        self.pending_stats.append(difficulty.round_record(key, self.prompt, len(drew), elapsed))

    def stats_posted(self, record_ids: set[str]) -> None:
        self.pending_stats = [r for r in self.pending_stats if r["id"] not in record_ids]

    # ------------------------------------------------------------------ persistence

    def to_dict(self) -> Message:
        return {
            "code": self.code,
            "public": self.public,
            **{name: getattr(self, name) for name in _PERSISTED_ROOM_FIELDS},
            "players": [p.to_dict() for p in self.players.values()],
            "turn": self.turn.to_dict() if self.turn is not None else None,
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
        # a field missing from an older state (a rolling upgrade) keeps its new-room default
        for name in _PERSISTED_ROOM_FIELDS:
            if name in d:
                value = d[name]
                setattr(room, name, list(value) if isinstance(value, list) else value)
        room.players = {p["id"]: Player.from_dict(p) for p in d["players"]}
        room.turn = beat.Turn.from_dict(d["turn"]) if d.get("turn") else None
        return room
