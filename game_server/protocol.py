"""Parse and validate every client message in one place (see docs/protocol.md).

``parse_client_message(raw, settings)`` turns one WebSocket text frame into a typed message (a
``msgspec.Struct``) or raises :class:`ProtocolError` with a stable error code. Nothing else in the
server looks at raw client JSON. The typed message travels as is to the room's rules: directly
when the room is owned by this process, else inside a :class:`Command` encoded on the room's
command stream (``encode_command`` / ``decode_command``).
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from typing import Any, NamedTuple

import msgspec

from game_server.config import Settings
from game_server.difficulty import LEVELS

# Close codes: each number is defined here once, and CLOSE_CODES names and explains every one
# (the browser gets the names from GET /api/config; docs/protocol.md's table is generated).
CLOSE_NORMAL = 1000
CLOSE_POLICY = 1008
CLOSE_TOO_LARGE = 1009  # sent by the WebSocket layer (uvicorn's ws_max_size)
CLOSE_UNAVAILABLE = 1011
CLOSE_SERVICE_RESTART = 1012
CLOSE_KICKED = 4001
CLOSE_REPLACED = 4002
CLOSE_TOO_MANY_CONNECTIONS = 4003
CLOSE_SLOW_CONSUMER = 4004
CLOSE_JOIN_TIMEOUT = 4005  # no successful join within DOODLE_JOIN_TIMEOUT_SECONDS
CLOSE_RATE_LIMIT = CLOSE_POLICY  # rate-limit abuse: the standard policy-violation code


class CloseCode(NamedTuple):
    name: str
    code: int
    meaning: str


CLOSE_CODES = (
    CloseCode("normal", CLOSE_NORMAL, "normal close (after `leave`)"),
    CloseCode(
        "policy",
        CLOSE_POLICY,
        "policy violation: sustained rate-limit abuse (do not reconnect at once)",
    ),
    CloseCode(
        "too_large",
        CLOSE_TOO_LARGE,
        "frame larger than `DOODLE_MAX_MESSAGE_BYTES` (enforced by the WebSocket layer)",
    ),
    CloseCode(
        "unavailable",
        CLOSE_UNAVAILABLE,
        "the server cannot play (its model is not loaded; after an `error` `unavailable`) or"
        " failed unexpectedly: reconnect later",
    ),
    CloseCode(
        "service_restart",
        CLOSE_SERVICE_RESTART,
        "service restart: the server is stopping (after `server_shutdown`); reconnect and resume",
    ),
    CloseCode("kicked", CLOSE_KICKED, "kicked by the host"),
    CloseCode(
        "replaced", CLOSE_REPLACED, "seat taken over by a newer connection (resume elsewhere)"
    ),
    CloseCode(
        "too_many_connections", CLOSE_TOO_MANY_CONNECTIONS, "too many connections from this address"
    ),
    CloseCode(
        "slow_consumer", CLOSE_SLOW_CONSUMER, "client too slow: its outgoing queue overflowed"
    ),
    CloseCode(
        "join_timeout",
        CLOSE_JOIN_TIMEOUT,
        "no successful `join` within `DOODLE_JOIN_TIMEOUT_SECONDS` of opening the socket",
    ),
)
MIN_ROUNDS = 1  # the fewest rounds a host may choose (the most: ``Settings.max_rounds``)

MAX_T_MS = 3_600_000
ROOM_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
ROOM_CODE_LENGTH = 8
_ROOM_CODE_RE = re.compile(f"^[{ROOM_CODE_ALPHABET}]{{{ROOM_CODE_LENGTH}}}$")
_RESUME_RE = re.compile(f"^[{ROOM_CODE_ALPHABET}]{{{ROOM_CODE_LENGTH}}}\\.[A-Za-z0-9_-]{{16,64}}$")
_PLAYER_ID_RE = re.compile(r"^p[0-9]{1,6}$")
_PLAYER_KEY_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_NAME_RE = re.compile(r"^[\w .'-]+$")
MODES = ("draw", "beat")  # everyone draws / players take turns and race the AI (beat.py)
MAX_CHAT_CHARS = 100


class ProtocolError(Exception):
    """A client message is invalid. ``code`` is one of the documented error codes."""

    def __init__(
        self, code: str, message: str, ref: str | None = None, retry_after_ms: int | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.ref = ref
        self.retry_after_ms = retry_after_ms

    def to_message(self) -> dict[str, Any]:
        return error_message(self.code, self.message, self.ref, self.retry_after_ms)


def error_message(
    code: str, message: str, ref: str | None = None, retry_after_ms: int | None = None
) -> dict[str, Any]:
    msg: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if ref is not None:
        msg["ref"] = ref
    if retry_after_ms is not None:
        msg["retry_after_ms"] = retry_after_ms
    return msg


Point = tuple[int | float, int | float, int | float]  # ints stay ints (smaller JSON)


class Join(msgspec.Struct, frozen=True, tag="join"):
    name: str
    room: str | None = None
    quickplay: bool = False
    resume: str | None = None
    spectator: bool = False
    key: str | None = None  # the browser's stable random id (leaderboard, kicks)


class SettingsMsg(msgspec.Struct, frozen=True, tag="settings"):
    rounds: int
    seconds: int
    mode: str | None = None  # "draw" | "beat"; None keeps the room's
    difficulty: str | None = None  # "easy" | "mixed" | "hard"; None keeps the room's


class Chat(msgspec.Struct, frozen=True, tag="chat"):
    """A chat line; in a "Beat the AI" turn a guesser's line is their guess (beat.py)."""

    text: str


class Start(msgspec.Struct, frozen=True, tag="start"):
    pass


class Points(msgspec.Struct, frozen=True, tag="points"):
    seq: int
    stroke: int
    points: tuple[Point, ...]


class Undo(msgspec.Struct, frozen=True, tag="undo"):
    seq: int


class Clear(msgspec.Struct, frozen=True, tag="clear"):
    seq: int


class Kick(msgspec.Struct, frozen=True, tag="kick"):
    player_id: str


class PlayAgain(msgspec.Struct, frozen=True, tag="play_again"):
    pass


class Leave(msgspec.Struct, frozen=True, tag="leave"):
    pass


class Ping(msgspec.Struct, frozen=True, tag="ping"):
    pass


ClientMessage = (
    Join | SettingsMsg | Start | Points | Undo | Clear | Kick | PlayAgain | Leave | Ping | Chat
)


class Disconnect(msgspec.Struct, frozen=True, tag="disconnect"):
    """Internal: the socket went away (never sent by a client)."""


class Resync(msgspec.Struct, frozen=True, tag="resync"):
    """Internal: the socket may have missed events and wants a ``snapshot``."""


class Reattach(msgspec.Struct, frozen=True, tag="reattach"):
    """Internal: a socket that never closed re-announces its seat (its process's heartbeat had
    lapsed, so the owner may have taken it for disconnected; ``liveness.py``)."""

    token: str  # the seat's resume token


RoomMessage = (
    Join
    | SettingsMsg
    | Start
    | Points
    | Undo
    | Clear
    | Kick
    | PlayAgain
    | Leave
    | Chat
    | Disconnect
    | Resync
    | Reattach
)


class Command(msgspec.Struct, frozen=True):
    """A typed message for a room's owner, from connection ``conn``, arrived at ``at`` (ms)."""

    conn: str
    at: int
    msg: RoomMessage


_command_encoder = msgspec.json.Encoder()
_command_decoder = msgspec.json.Decoder(Command)


def encode_command(cmd: Command) -> bytes:
    return _command_encoder.encode(cmd)


def decode_command(raw: str | bytes) -> Command:
    return _command_decoder.decode(raw)


def is_room_code(value: object) -> bool:
    return isinstance(value, str) and bool(_ROOM_CODE_RE.match(value))


def room_of_resume_token(token: str) -> str:
    return token.split(".", 1)[0]


def _field(obj: dict[str, Any], key: str, kind: type | tuple[type, ...], ref: str) -> Any:
    if key not in obj:
        raise ProtocolError("bad_message", f"{ref}: missing field {key!r}", ref)
    value = obj[key]
    # bool is an int subclass: never accept it where a number is wanted
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise ProtocolError("bad_message", f"{ref}: field {key!r} has the wrong type", ref)
    if not isinstance(value, kind):
        raise ProtocolError("bad_message", f"{ref}: field {key!r} has the wrong type", ref)
    return value


def _opt(obj: dict[str, Any], key: str, kind: type, ref: str, default: Any) -> Any:
    if obj.get(key) is None:
        return default
    return _field(obj, key, kind, ref)


def _int_in(obj: dict[str, Any], key: str, lo: int, hi: int, ref: str) -> int:
    value = _field(obj, key, int, ref)
    if not lo <= value <= hi:
        raise ProtocolError("bad_message", f"{ref}: {key} must be in {lo}..{hi}", ref)
    return int(value)


def validate_name(raw: object, settings: Settings) -> str:
    if not isinstance(raw, str):
        raise ProtocolError("bad_name", "name must be a string", "join")
    name = " ".join(unicodedata.normalize("NFC", raw).split())
    if not name:
        raise ProtocolError("bad_name", "name must not be empty", "join")
    if len(name) > settings.max_name_length:
        raise ProtocolError(
            "bad_name", f"name must be at most {settings.max_name_length} characters", "join"
        )
    if not _NAME_RE.match(name):
        raise ProtocolError(
            "bad_name", "name may hold letters, digits, spaces and _ - . ' only", "join"
        )
    return name


_PLAIN_NUMBERS = frozenset((int, float))  # JSON numbers; not bool (a subclass of int)


def _points(obj: dict[str, Any], settings: Settings) -> tuple[Point, ...]:
    """The points of a ``points`` message, validated, each value compacted (:func:`_compact`).

    The usual message takes one pass with no per-value function calls (:func:`_plain_points`,
    the hot path: one call per stroke update); anything unusual goes through
    :func:`_checked_points`, which says what is wrong. Both give the same result for every
    input (tested)."""
    raw = obj.get("points")
    if type(raw) is list and 0 < len(raw) <= settings.max_points_per_update:
        points = _plain_points(raw, settings.coordinate_limit)
        if points is not None:
            return points
    return _checked_points(obj, settings)


def _plain_points(raw: list[Any], lim: float) -> tuple[Point, ...] | None:
    """Points that are all ``[x, y, t]`` of plain numbers in range, compacted; else None."""
    out: list[Point] = []
    plain = _PLAIN_NUMBERS
    for p in raw:
        if type(p) is not list or len(p) != 3:
            return None
        x, y, t = p
        if type(x) not in plain or type(y) not in plain or type(t) not in plain:
            return None
        # comparisons of int and float are exact in Python; nan fails them all
        if not (-lim <= x <= lim and -lim <= y <= lim and 0 <= t <= MAX_T_MS):
            return None
        out.append(
            (
                x if type(x) is int else _compact(x),
                y if type(y) is int else _compact(y),
                t if type(t) is int else _compact(t),
            )
        )
    return tuple(out)


def _checked_points(obj: dict[str, Any], settings: Settings) -> tuple[Point, ...]:
    raw = _field(obj, "points", list, "points")
    if not raw:
        raise ProtocolError("bad_points", "points must not be empty", "points")
    if len(raw) > settings.max_points_per_update:
        raise ProtocolError(
            "bad_points",
            f"at most {settings.max_points_per_update} points per update",
            "points",
        )
    lim = settings.coordinate_limit
    out: list[Point] = []
    for p in raw:
        if not isinstance(p, list) or len(p) != 3:
            raise ProtocolError("bad_points", "a point must be [x, y, t]", "points")
        for v in p:
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise ProtocolError("bad_points", "point values must be numbers", "points")
        try:
            x, y, t = float(p[0]), float(p[1]), float(p[2])
        except OverflowError:  # an integer too large for a float
            raise ProtocolError("bad_points", "point values are out of range", "points") from None
        if not (math.isfinite(x) and math.isfinite(y) and math.isfinite(t)):
            raise ProtocolError("bad_points", "point values must be finite", "points")
        if abs(x) > lim or abs(y) > lim:
            raise ProtocolError("bad_points", f"coordinates must be within +-{lim:g}", "points")
        if not 0 <= t <= MAX_T_MS:
            raise ProtocolError("bad_points", f"t must be in 0..{MAX_T_MS}", "points")
        out.append((_compact(x), _compact(y), _compact(t)))
    return tuple(out)


def _compact(v: float) -> float:
    """Keep integers as ints (smaller JSON), round floats to 0.01 px."""
    r = round(v, 2)
    return int(r) if r == int(r) else r


def parse_client_message(raw: str | bytes, settings: Settings) -> ClientMessage:
    """Parse one text frame. Raises :class:`ProtocolError`."""
    if isinstance(raw, bytes):
        raise ProtocolError("bad_message", "binary frames are not accepted; send JSON text")
    if len(raw) > settings.max_message_bytes:  # chars <= bytes, so this is a safe pre-check
        raise ProtocolError("too_large", f"message over {settings.max_message_bytes} bytes")
    if len(raw.encode()) > settings.max_message_bytes:
        raise ProtocolError("too_large", f"message over {settings.max_message_bytes} bytes")
    obj = _decode_json(raw)
    if not isinstance(obj, dict):
        raise ProtocolError("bad_json", "message must be a JSON object")
    kind = obj.get("type")
    if not isinstance(kind, str):
        raise ProtocolError("bad_message", "message needs a string 'type'")
    parser = _PARSERS.get(kind)
    if parser is None:
        raise ProtocolError("bad_message", f"unknown message type {kind[:32]!r}")
    return parser(obj, settings)


_json_decoder = msgspec.json.Decoder()


def _decode_json(raw: str) -> Any:
    """msgspec's fast decoder; what it refuses (numbers out of range, lone surrogates, deep
    nesting) goes through the standard library so that every input keeps its outcome."""
    try:
        return _json_decoder.decode(raw)
    except (msgspec.DecodeError, RecursionError):
        pass
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError("bad_json", "message is not valid JSON") from exc


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _join(obj: dict[str, Any], s: Settings) -> Join:
    name = validate_name(obj.get("name"), s)
    room = _opt(obj, "room", str, "join", None)
    if room is not None:
        room = room.strip().upper()
        if not is_room_code(room):
            raise ProtocolError("room_not_found", "no such room", "join")
    resume = _opt(obj, "resume", str, "join", None)
    if resume is not None and not _RESUME_RE.match(resume):
        raise ProtocolError("bad_resume", "unknown or expired resume token", "join")
    key = _opt(obj, "key", str, "join", None)
    if key is not None and not _PLAYER_KEY_RE.match(key):
        raise ProtocolError("bad_message", "join: key must be 16..64 of A-Z a-z 0-9 _ -", "join")
    return Join(
        name=name,
        room=room,
        quickplay=bool(_opt(obj, "quickplay", bool, "join", False)),
        resume=resume,
        spectator=bool(_opt(obj, "spectator", bool, "join", False)),
        key=key,
    )


def _settings(obj: dict[str, Any], s: Settings) -> SettingsMsg:
    return SettingsMsg(
        rounds=_int_in(obj, "rounds", MIN_ROUNDS, s.max_rounds, "settings"),
        seconds=_int_in(obj, "seconds", s.min_round_seconds, s.max_round_seconds, "settings"),
        mode=_choice(obj, "mode", MODES),
        difficulty=_choice(obj, "difficulty", LEVELS),
    )


def _choice(obj: dict[str, Any], key: str, allowed: tuple[str, ...]) -> str | None:
    value = _opt(obj, key, str, "settings", None)
    if value is not None and value not in allowed:
        raise ProtocolError("bad_message", f"settings: {key} must be one of {allowed}", "settings")
    return value


def _chat(obj: dict[str, Any], s: Settings) -> Chat:
    """Plain text: NFC, whitespace runs collapsed, no control characters, 1..100 chars."""
    raw = _field(obj, "text", str, "chat")
    text = " ".join(unicodedata.normalize("NFC", raw).split())
    if not text:
        raise ProtocolError("bad_chat", "chat text must not be empty", "chat")
    if len(text) > MAX_CHAT_CHARS:
        raise ProtocolError("bad_chat", f"chat text is at most {MAX_CHAT_CHARS} characters", "chat")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") for ch in text):
        raise ProtocolError("bad_chat", "chat text must be printable", "chat")
    return Chat(text=text)


def _seq(obj: dict[str, Any], ref: str) -> int:
    return _int_in(obj, "seq", 0, 2**53, ref)


def _points_msg(obj: dict[str, Any], s: Settings) -> Points:
    seq = _seq(obj, "points")
    stroke = _int_in(obj, "stroke", 0, s.max_strokes_per_drawing, "points")
    return Points(seq=seq, stroke=stroke, points=_points(obj, s))


def _kick(obj: dict[str, Any], s: Settings) -> Kick:
    pid = _field(obj, "player_id", str, "kick")
    if not _PLAYER_ID_RE.match(pid):
        raise ProtocolError("no_such_player", "no such player", "kick")
    return Kick(player_id=pid)


_PARSERS: dict[str, Any] = {
    "join": _join,
    "settings": _settings,
    "start": lambda o, s: Start(),
    "points": _points_msg,
    "undo": lambda o, s: Undo(seq=_seq(o, "undo")),
    "clear": lambda o, s: Clear(seq=_seq(o, "clear")),
    "kick": _kick,
    "play_again": lambda o, s: PlayAgain(),
    "leave": lambda o, s: Leave(),
    "ping": lambda o, s: Ping(),
    "chat": _chat,
}
