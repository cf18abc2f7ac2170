"""Settings, read from the environment in one place.

Every tunable of the server is one line of :class:`Settings`: its type and, through
:func:`setting`, its environment variable, default, bounds and meaning. ``Settings.from_env()`` is
the only function that reads ``os.environ``; everything else receives a ``Settings``. The
README's configuration table is generated from these lines (``python -m game_server.doctables``;
a test keeps the two equal).

Adding a setting is one line here (``name: int = setting("DOODLE_NAME", 5, "meaning",
minimum=1)``), then ``python -m game_server.doctables`` to update the README.
"""

# One line per setting, however long: ruff allows long lines in this file.
# ruff: noqa: E501, RUF009
from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_args, get_type_hints

WEB_CLIENT_DIR = Path(__file__).resolve().parent.parent / "web_client"
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
_LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


class ConfigError(ValueError):
    """An environment variable holds a value that cannot be used."""


@dataclass(frozen=True, slots=True)
class Spec:
    """How one setting is read: its variable, meaning, bounds, and whether the browser gets it
    (``GET /api/config``)."""

    env: str
    doc: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    public: bool = False


def setting(
    env: str,
    default: Any,
    doc: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    choices: tuple[str, ...] = (),
    public: bool = False,
) -> Any:
    """A field of :class:`Settings` read from ``env`` (unset or empty: ``default``)."""
    spec = Spec(env, doc, minimum, maximum, choices, public)
    return field(default=default, metadata={"setting": spec})


def _data_dir(env: Mapping[str, str]) -> Path | None:
    """``DOODLE_DATA_DIR``; unset: ``$XDG_DATA_HOME/doodle-arena`` (``~/.local/share/...``);
    set but empty: None (the embedded Redis keeps nothing)."""
    raw = env.get("DOODLE_DATA_DIR")
    if raw is not None:
        return Path(raw).expanduser() if raw else None
    base = env.get("XDG_DATA_HOME") or (
        str(Path(env["HOME"]) / ".local" / "share") if env.get("HOME") else None
    )
    return Path(base) / "doodle-arena" if base else None


@dataclass(frozen=True, slots=True)
class Settings:
    """All server settings; the README's configuration table is generated from this class."""

    # fmt: off
    host: str = setting("DOODLE_HOST", "127.0.0.1", "bind address (also `--host`)")
    port: int = setting("DOODLE_PORT", 8000, "bind port (also `--port`)", minimum=0, maximum=65535)
    redis_url: str | None = setting("REDIS_URL", None, "Redis URL (`redis://`, `rediss://`, `unix://`); unset starts an embedded `redis-server`")
    data_dir: Path | None = setting("DOODLE_DATA_DIR", None, "where the embedded Redis keeps its data (AOF) across restarts; unset: `$XDG_DATA_HOME/doodle-arena` (`~/.local/share/doodle-arena`); set but empty: nowhere (a temporary directory)")
    redis_prefix: str = setting("DOODLE_REDIS_PREFIX", "da:", "prefix of every Redis key")
    model_path: str | None = setting("DOODLE_MODEL_PATH", None, "classifier artifact to load (unset: the shipped one)")
    allowed_origins: tuple[str, ...] = setting("DOODLE_ALLOWED_ORIGINS", (), "comma-separated origins allowed to open the WebSocket (unset: same origin)")
    log_level: str = setting("DOODLE_LOG_LEVEL", "info", "log level (also `--log-level`)", choices=_LOG_LEVELS)
    log_json: bool = setting("DOODLE_LOG_JSON", False, "one JSON object per log line")
    default_rounds: int = setting("DOODLE_DEFAULT_ROUNDS", 6, "a new room's rounds", minimum=1, public=True)
    default_round_seconds: int = setting("DOODLE_DEFAULT_ROUND_SECONDS", 20, "a new room's seconds per round", minimum=1, public=True)
    max_rounds: int = setting("DOODLE_MAX_ROUNDS", 20, "most rounds a host may choose", minimum=1, public=True)
    min_round_seconds: int = setting("DOODLE_MIN_ROUND_SECONDS", 5, "shortest round a host may choose", minimum=1, public=True)
    max_round_seconds: int = setting("DOODLE_MAX_ROUND_SECONDS", 120, "longest round a host may choose", minimum=1, public=True)
    room_capacity: int = setting("DOODLE_ROOM_CAPACITY", 12, "seats per room", minimum=1, public=True)
    max_spectators: int = setting("DOODLE_MAX_SPECTATORS", 50, "spectator places per room", minimum=0, public=True)
    intermission_seconds: float = setting("DOODLE_INTERMISSION_SECONDS", 5.0, "pause between rounds", minimum=0)
    resume_seconds: int = setting("DOODLE_RESUME_SECONDS", 60, "how long a dropped player's seat and score are kept", minimum=1, public=True)
    autostart_players: int = setting("DOODLE_AUTOSTART_PLAYERS", 2, "a public room starts a game by itself once this many seated players are connected (0: never)", minimum=0, public=True)
    autostart_seconds: float = setting("DOODLE_AUTOSTART_SECONDS", 10.0, "countdown before a public room's game starts by itself", minimum=0, public=True)
    restart_seconds: float = setting("DOODLE_RESTART_SECONDS", 20.0, "countdown before a public room starts its next game after one ended", minimum=0, public=True)
    ready_seconds: float = setting("DOODLE_READY_SECONDS", 3.0, "the get-ready card before each round: the round clock starts this long after the prompt", minimum=0, public=True)
    game_ttl_seconds: int = setting("DOODLE_GAME_TTL_SECONDS", 7 * 86_400, "how long a finished game's gallery (`GET /api/games/<id>`) is kept in Redis", minimum=60)
    room_ttl_seconds: int = setting("DOODLE_ROOM_TTL_SECONDS", 3600, "expiry of an abandoned room's keys", minimum=60)
    max_message_bytes: int = setting("DOODLE_MAX_MESSAGE_BYTES", 64 * 1024, "largest WebSocket frame (larger: closed with 1009)", minimum=256, public=True)
    max_points_per_update: int = setting("DOODLE_MAX_POINTS_PER_UPDATE", 512, "points in one `points` message", minimum=1, public=True)
    max_points_per_drawing: int = setting("DOODLE_MAX_POINTS_PER_DRAWING", 20_000, "points in one drawing", minimum=1, public=True)
    max_strokes_per_drawing: int = setting("DOODLE_MAX_STROKES_PER_DRAWING", 500, "strokes in one drawing", minimum=1, public=True)
    max_name_length: int = setting("DOODLE_MAX_NAME_LENGTH", 24, "player name length", minimum=1, public=True)
    coordinate_limit: float = setting("DOODLE_COORDINATE_LIMIT", 10_000.0, "largest absolute x or y of a point (canvas pixels)", minimum=1, public=True)
    messages_per_second: float = setting("DOODLE_MESSAGES_PER_SECOND", 60.0, "per-socket rate limit: messages per second", minimum=0.1, public=True)
    message_burst: int = setting("DOODLE_MESSAGE_BURST", 120, "per-socket rate limit: burst", minimum=1, public=True)
    max_connections_per_ip: int = setting("DOODLE_MAX_CONNECTIONS_PER_IP", 50, "sockets per client address, counted over all processes (Redis); at the limit the oldest idle socket of the address is closed with 4003, joined players never", minimum=1)
    join_timeout_seconds: float = setting("DOODLE_JOIN_TIMEOUT_SECONDS", 10.0, "a socket that has not joined a room this long after it opened is closed (4005)", minimum=0.1)
    header_timeout_seconds: float = setting("DOODLE_HEADER_TIMEOUT_SECONDS", 5.0, "a connection must send a request's HTTP headers within this long, or it is closed", minimum=0.1)
    join_attempts_per_minute: int = setting("DOODLE_JOIN_ATTEMPTS_PER_MINUTE", 30, "joins per client address per minute, counted over all processes (Redis)", minimum=1)
    rate_limit_strikes: int = setting("DOODLE_RATE_LIMIT_STRIKES", 300, "messages refused by the rate limit within the window before a socket is closed (1008)", minimum=1)
    rate_limit_window_seconds: float = setting("DOODLE_RATE_LIMIT_WINDOW_SECONDS", 10.0, "the window of `DOODLE_RATE_LIMIT_STRIKES`", minimum=0.1)
    metrics_enabled: bool = setting("DOODLE_METRICS", True, "serve Prometheus metrics at `/metrics`")
    shutdown_grace_seconds: float = setting("DOODLE_SHUTDOWN_GRACE_SECONDS", 3.0, "on SIGTERM, how long to wait for players to be told and disconnected", minimum=0)
    recognition_threshold: float | None = setting("DOODLE_RECOGNITION_THRESHOLD", None, "overrides the threshold of the model artifact's calibrated recognition rule (unset: the artifact's own; above 1: never recognize, as `bench.load` uses)", minimum=0)
    prompts: tuple[str, ...] = setting("DOODLE_PROMPTS", (), "comma-separated model labels to deal prompts from (unset: all labels)")
    settle_ms: int = setting("DOODLE_SETTLE_MS", 1000, "a drawing left unchanged this long (server time, since its last update arrived) and not yet recognized is classified once more with the AI's live belief settled on it, so the AI can recognize it without waiting for the round's end (0: only at the round's end; docs/MODEL.md)", minimum=0)
    tick_ms: int = setting("DOODLE_TICK_MS", 10, "a room's owner handles what arrived during one tick as one batch: commands, one batched inference, one persist, one frame (no tick when idle)", minimum=1)
    redis_max_connections: int = setting("DOODLE_REDIS_MAX_CONNECTIONS", 256, "Redis connections per process (beyond it, commands wait up to 5 s)", minimum=4)
    ws_compression: bool = setting("DOODLE_WS_COMPRESSION", False, "permessage-deflate on the WebSocket (costs CPU on small frames)")
    lease_ms: int = setting("DOODLE_LEASE_MS", 3000, "room ownership lease, renewed at a third of it (failover time)", minimum=300)
    inbox_limit: int = setting("DOODLE_INBOX_LIMIT", 64, "commands a room's inbox holds before the owner stops reading its sockets until the next tick takes them (TCP then pushes back on the clients; nothing is dropped)", minimum=1)
    send_queue_size: int = setting("DOODLE_SEND_QUEUE_SIZE", 1000, "messages queued to a slow socket before it is closed (4004)", minimum=10)
    overload_enter_ms: int = setting("DOODLE_OVERLOAD_ENTER_MS", 1000, "the process is overloaded once its oldest unhandled input has waited this long beyond a tick: it then claims and creates no new room that another process can take, and refuses joins that would need one with `server_busy`", minimum=1)
    overload_leave_ms: int = setting("DOODLE_OVERLOAD_LEAVE_MS", 200, "an overloaded process recovers once its input waits less than this beyond a tick, with no full inbox, for `DOODLE_OVERLOAD_CALM_MS` (at most `DOODLE_OVERLOAD_ENTER_MS`)", minimum=0)
    overload_full_inboxes: int = setting("DOODLE_OVERLOAD_FULL_INBOXES", 8, "the process is also overloaded while this many of its rooms have a full inbox (their sockets' reads paused, `DOODLE_INBOX_LIMIT`); 0: not counted", minimum=0)
    overload_calm_ms: int = setting("DOODLE_OVERLOAD_CALM_MS", 5000, "how long the load must stay below the leave level before an overloaded process takes new rooms again (also the least time it stays overloaded)", minimum=0)
    # fmt: on
    web_client_dir: Path = field(default=WEB_CLIENT_DIR)

    def __post_init__(self) -> None:
        if self.overload_leave_ms > self.overload_enter_ms:
            raise ConfigError("DOODLE_OVERLOAD_LEAVE_MS must be <= DOODLE_OVERLOAD_ENTER_MS")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Build settings from environment variables (``DOODLE_*`` plus ``REDIS_URL``); unset
        or empty variables keep their default; ``overrides`` replace values (not checked)."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for name, spec, kind in SPECS:
            raw = env.get(spec.env, "")
            if raw != "":
                values[name] = _parse(kind, spec, raw)
        # The one setting whose default is derived from the environment, and whose empty value
        # means "none" rather than "default".
        values["data_dir"] = _data_dir(env)
        names = {f.name for f in fields(cls)}
        for key, value in overrides.items():
            if key not in names:
                raise ConfigError(f"unknown setting {key!r}")
            values[key] = value
        return cls(**values)  # type: ignore[arg-type]

    def public(self) -> dict[str, object]:
        """The settings the browser must know (``GET /api/config``)."""
        return {name: getattr(self, name) for name, spec, _ in SPECS if spec.public}


def _parse(kind: Any, spec: Spec, raw: str) -> object:
    optional = [a for a in get_args(kind) if a is not type(None)]
    if len(optional) == 1 and len(get_args(kind)) == 2:  # ``X | None``: a set value is an X
        kind = optional[0]
    if kind is bool:
        if raw.lower() in _TRUE + _FALSE:
            return raw.lower() in _TRUE
        raise ConfigError(f"{spec.env} must be 1 or 0, got {raw!r}")
    if kind is int or kind is float:
        try:
            value = kind(raw)
        except ValueError as exc:
            what = "an integer" if kind is int else "a number"
            raise ConfigError(f"{spec.env} must be {what}, got {raw!r}") from exc
        if not math.isfinite(value):
            raise ConfigError(f"{spec.env} must be finite, got {raw!r}")
        if spec.minimum is not None and value < spec.minimum:
            raise ConfigError(f"{spec.env} must be >= {spec.minimum:g}, got {raw}")
        if spec.maximum is not None and value > spec.maximum:
            raise ConfigError(f"{spec.env} must be <= {spec.maximum:g}, got {raw}")
        return value
    if kind == tuple[str, ...]:
        return tuple(item.strip() for item in raw.split(",") if item.strip())
    if spec.choices:
        if raw.lower() not in spec.choices:
            raise ConfigError(f"{spec.env} must be one of {', '.join(spec.choices)}, got {raw!r}")
        return raw.lower()
    return raw


def _specs() -> tuple[tuple[str, Spec, Any], ...]:
    hints = get_type_hints(Settings)
    return tuple(
        (f.name, f.metadata["setting"], hints[f.name])
        for f in fields(Settings)
        if "setting" in f.metadata
    )


SPECS = _specs()  # (field name, spec, type) of every setting read from the environment
