"""Settings, read from the environment in one place.

Every tunable of the server lives here. ``Settings.from_env()`` is the only
function that reads ``os.environ``; everything else receives a ``Settings``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

WEB_CLIENT_DIR = Path(__file__).resolve().parent.parent / "web_client"


class ConfigError(ValueError):
    """An environment variable holds a value that cannot be used."""


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, minimum: float = 0.0) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from exc
    if not value >= minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")
    return value


def _list(env: Mapping[str, str], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    raw = env.get(name)
    if raw is None:
        return default
    return tuple(item.strip() for item in raw.split(",") if item.strip())


@dataclass(frozen=True, slots=True)
class Settings:
    """All server settings. Environment variable names are documented in the README."""

    host: str = "127.0.0.1"
    port: int = 8000
    # Redis: a URL (redis://, rediss://, unix://). None starts an embedded redis-server.
    redis_url: str | None = None
    # Prefix of every Redis key this server writes (lets tests and deployments share a Redis).
    redis_prefix: str = "da:"
    # Model artifact path; None loads the artifact shipped in model/artifacts.
    model_path: str | None = None
    # Origins allowed to open the WebSocket; empty means "same origin as the Host header".
    allowed_origins: tuple[str, ...] = ()
    log_level: str = "info"
    log_json: bool = False
    # Game defaults and limits.
    default_rounds: int = 6
    default_round_seconds: int = 20
    max_rounds: int = 20
    min_round_seconds: int = 5
    max_round_seconds: int = 120
    room_capacity: int = 12
    max_spectators: int = 50
    intermission_seconds: float = 5.0
    resume_seconds: int = 60
    room_ttl_seconds: int = 3600
    # Public rooms start a game by themselves once this many seated players are connected
    # (0: never), after a countdown of ``autostart_seconds`` (``restart_seconds`` after a game).
    autostart_players: int = 2
    autostart_seconds: float = 10.0
    restart_seconds: float = 20.0
    # The get-ready card before each round: the round clock starts this long after the prompt.
    ready_seconds: float = 3.0
    # How long a finished game's gallery (GET /api/games/<id>) is kept in Redis.
    game_ttl_seconds: int = 7 * 86_400
    # Input limits.
    max_message_bytes: int = 64 * 1024
    max_points_per_update: int = 512
    max_points_per_drawing: int = 20_000
    max_strokes_per_drawing: int = 500
    max_name_length: int = 24
    # |x| and |y| of a point must not exceed this (canvas pixels).
    coordinate_limit: float = 10_000.0
    messages_per_second: float = 60.0
    message_burst: int = 120
    max_connections_per_ip: int = 50
    join_attempts_per_minute: int = 30
    # A socket with more than this many messages refused by the rate limit within
    # ``rate_limit_window_seconds`` is closed with 1008 (docs/SECURITY.md).
    rate_limit_strikes: int = 300
    rate_limit_window_seconds: float = 10.0
    # Serve Prometheus metrics at /metrics.
    metrics_enabled: bool = True
    # On SIGTERM: how long to wait for sockets to get ``server_shutdown`` and close.
    shutdown_grace_seconds: float = 3.0
    # Live guessing.
    recognition_confidence: float = 0.30
    # Prompts are dealt from these labels (must be model labels); empty = the whole vocabulary.
    prompts: tuple[str, ...] = ()
    # 0: no extra wait; requests that arrive while a batch runs form the next batch.
    inference_tick_ms: int = 0
    # Redis connections per process; commands beyond it wait (up to 5 s) for a free one.
    redis_max_connections: int = 256
    # permessage-deflate on the WebSocket: off, small JSON frames cost more CPU than they save.
    ws_compression: bool = False
    # Multi-process ownership: a room's owner holds a Redis lease of this length (renewed at a
    # third of it); a dead owner is replaced within about this long.
    lease_ms: int = 3000
    # Messages queued to one slow socket before it is closed (4004).
    send_queue_size: int = 1000
    web_client_dir: Path = field(default=WEB_CLIENT_DIR)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Build settings from environment variables (``DOODLE_*`` plus ``REDIS_URL``)."""
        env = os.environ if env is None else env
        d = cls()
        values: dict[str, object] = {
            "host": env.get("DOODLE_HOST", d.host),
            "port": _int(env, "DOODLE_PORT", d.port),
            "redis_url": env.get("REDIS_URL") or None,
            "redis_prefix": env.get("DOODLE_REDIS_PREFIX", d.redis_prefix),
            "model_path": env.get("DOODLE_MODEL_PATH") or None,
            "allowed_origins": _list(env, "DOODLE_ALLOWED_ORIGINS", d.allowed_origins),
            "log_level": env.get("DOODLE_LOG_LEVEL", d.log_level).lower(),
            "log_json": env.get("DOODLE_LOG_JSON", "") in ("1", "true", "yes"),
            "default_rounds": _int(env, "DOODLE_DEFAULT_ROUNDS", d.default_rounds, 1),
            "default_round_seconds": _int(
                env, "DOODLE_DEFAULT_ROUND_SECONDS", d.default_round_seconds, 1
            ),
            "max_rounds": _int(env, "DOODLE_MAX_ROUNDS", d.max_rounds, 1),
            "min_round_seconds": _int(env, "DOODLE_MIN_ROUND_SECONDS", d.min_round_seconds, 1),
            "max_round_seconds": _int(env, "DOODLE_MAX_ROUND_SECONDS", d.max_round_seconds, 1),
            "room_capacity": _int(env, "DOODLE_ROOM_CAPACITY", d.room_capacity, 1),
            "max_spectators": _int(env, "DOODLE_MAX_SPECTATORS", d.max_spectators, 0),
            "intermission_seconds": _float(
                env, "DOODLE_INTERMISSION_SECONDS", d.intermission_seconds
            ),
            "resume_seconds": _int(env, "DOODLE_RESUME_SECONDS", d.resume_seconds, 1),
            "room_ttl_seconds": _int(env, "DOODLE_ROOM_TTL_SECONDS", d.room_ttl_seconds, 60),
            "autostart_players": _int(env, "DOODLE_AUTOSTART_PLAYERS", d.autostart_players, 0),
            "autostart_seconds": _float(env, "DOODLE_AUTOSTART_SECONDS", d.autostart_seconds),
            "restart_seconds": _float(env, "DOODLE_RESTART_SECONDS", d.restart_seconds),
            "ready_seconds": _float(env, "DOODLE_READY_SECONDS", d.ready_seconds),
            "game_ttl_seconds": _int(env, "DOODLE_GAME_TTL_SECONDS", d.game_ttl_seconds, 60),
            "max_message_bytes": _int(env, "DOODLE_MAX_MESSAGE_BYTES", d.max_message_bytes, 256),
            "max_points_per_update": _int(
                env, "DOODLE_MAX_POINTS_PER_UPDATE", d.max_points_per_update, 1
            ),
            "max_points_per_drawing": _int(
                env, "DOODLE_MAX_POINTS_PER_DRAWING", d.max_points_per_drawing, 1
            ),
            "max_strokes_per_drawing": _int(
                env, "DOODLE_MAX_STROKES_PER_DRAWING", d.max_strokes_per_drawing, 1
            ),
            "max_name_length": _int(env, "DOODLE_MAX_NAME_LENGTH", d.max_name_length, 1),
            "coordinate_limit": _float(env, "DOODLE_COORDINATE_LIMIT", d.coordinate_limit, 1.0),
            "messages_per_second": _float(
                env, "DOODLE_MESSAGES_PER_SECOND", d.messages_per_second, 0.1
            ),
            "message_burst": _int(env, "DOODLE_MESSAGE_BURST", d.message_burst, 1),
            "max_connections_per_ip": _int(
                env, "DOODLE_MAX_CONNECTIONS_PER_IP", d.max_connections_per_ip, 1
            ),
            "join_attempts_per_minute": _int(
                env, "DOODLE_JOIN_ATTEMPTS_PER_MINUTE", d.join_attempts_per_minute, 1
            ),
            "rate_limit_strikes": _int(env, "DOODLE_RATE_LIMIT_STRIKES", d.rate_limit_strikes, 1),
            "rate_limit_window_seconds": _float(
                env, "DOODLE_RATE_LIMIT_WINDOW_SECONDS", d.rate_limit_window_seconds, 0.1
            ),
            "metrics_enabled": env.get("DOODLE_METRICS", "1") not in ("0", "false", "no"),
            "shutdown_grace_seconds": _float(
                env, "DOODLE_SHUTDOWN_GRACE_SECONDS", d.shutdown_grace_seconds
            ),
            "recognition_confidence": _float(
                env, "DOODLE_RECOGNITION_CONFIDENCE", d.recognition_confidence
            ),
            "prompts": _list(env, "DOODLE_PROMPTS", d.prompts),
            "inference_tick_ms": _int(env, "DOODLE_INFERENCE_TICK_MS", d.inference_tick_ms, 0),
            "redis_max_connections": _int(
                env, "DOODLE_REDIS_MAX_CONNECTIONS", d.redis_max_connections, 4
            ),
            "ws_compression": env.get("DOODLE_WS_COMPRESSION", "") in ("1", "true", "yes"),
            "lease_ms": _int(env, "DOODLE_LEASE_MS", d.lease_ms, 300),
            "send_queue_size": _int(env, "DOODLE_SEND_QUEUE_SIZE", d.send_queue_size, 10),
        }
        names = {f.name for f in fields(cls)}
        for key, value in overrides.items():
            if key not in names:
                raise ConfigError(f"unknown setting {key!r}")
            values[key] = value
        return cls(**values)  # type: ignore[arg-type]
