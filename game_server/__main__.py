"""``python -m game_server`` / ``doodle-arena``: start the game server."""

from __future__ import annotations

import os

# The MLP's matrices are small: OpenBLAS worker threads only spin against the event loop for
# the two cores (docs/BENCHMARKS.md). Must be set before numpy is first imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import logging
import resource
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import uvicorn

from game_server.app import create_app
from game_server.config import ConfigError, Settings
from game_server.http_timeouts import header_timeout_protocol
from game_server.logging_setup import configure_logging
from game_server.redis_embedded import EmbeddedRedis, EmbeddedRedisError
from game_server.shutdown import GracefulServer

log = logging.getLogger("game_server")

EXIT_CONFIG = 2
EXIT_MODEL = 3  # the model artifact is missing, corrupted, tampered with or incompatible
EXIT_REDIS = 4  # the embedded redis-server did not start (e.g. its data directory is in use)


def raise_open_files_limit() -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE to the hard limit: every socket is a file. Returns
    (soft, hard) as they are now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):  # e.g. hard is unlimited but the kernel caps nr_open
            log.warning("could not raise the open-files limit from %d to %d", soft, hard)
    return soft, hard


def parse_args(argv: Sequence[str] | None, settings: Settings) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="doodle-arena", description="Doodle Arena game server (settings: see README)"
    )
    parser.add_argument("--host", default=settings.host, help="bind address (DOODLE_HOST)")
    parser.add_argument("--port", type=int, default=settings.port, help="port (DOODLE_PORT)")
    parser.add_argument("--log-level", default=settings.log_level)
    return parser.parse_args(argv)


def start_embedded_redis(data_dir: Path | None) -> EmbeddedRedis:
    """The local game's Redis: its data (AOF) in ``data_dir/redis``, kept across restarts."""
    if data_dir is None:
        return EmbeddedRedis().start()
    return EmbeddedRedis(appendonly=True, directory=data_dir / "redis").start()


def main(argv: Sequence[str] | None = None) -> int:
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    args = parse_args(argv, settings)
    settings = replace(settings, host=args.host, port=args.port, log_level=args.log_level)
    configure_logging(settings.log_level, settings.log_json)
    soft, hard = raise_open_files_limit()
    log.info("open-files limit: %d (hard %d)", soft, hard)
    # refuse to start with a bad model: never serve guesses from a corrupted artifact
    from model import ArtifactError, load_classifier

    try:
        load_classifier(settings.model_path) if settings.model_path else load_classifier()
    except ArtifactError as exc:
        print(f"model artifact refused: {exc}", file=sys.stderr)
        return EXIT_MODEL
    embedded: EmbeddedRedis | None = None
    if settings.redis_url is None:
        try:
            embedded = start_embedded_redis(settings.data_dir)
        except EmbeddedRedisError as exc:
            print(f"embedded Redis: {exc}", file=sys.stderr)
            return EXIT_REDIS
        settings = replace(settings, redis_url=embedded.url)
        log.info(
            "REDIS_URL not set: started embedded redis-server at %s (data: %s)",
            embedded.url,
            settings.data_dir or "not kept",
        )
    else:
        log.info("using Redis at %s", settings.redis_url)
    try:
        app = create_app(settings, embedded_redis=embedded is not None)
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level,
            log_config=None,  # uvicorn logs through our handler (JSON with DOODLE_LOG_JSON=1)
            ws_max_size=settings.max_message_bytes,
            ws_per_message_deflate=settings.ws_compression,
            http=header_timeout_protocol(settings.header_timeout_seconds),
        )
        GracefulServer(config, app, settings.shutdown_grace_seconds).run()
    finally:
        if embedded is not None:
            embedded.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
