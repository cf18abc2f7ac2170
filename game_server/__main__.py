"""``python -m game_server`` / ``doodle-arena``: start the game server."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import replace

import uvicorn

from game_server.app import create_app
from game_server.config import ConfigError, Settings
from game_server.redis_embedded import EmbeddedRedis

log = logging.getLogger("game_server")


class JsonFormatter(logging.Formatter):
    """One JSON object per log line (DOODLE_LOG_JSON=1)."""

    def format(self, record: logging.LogRecord) -> str:
        body = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            body["exc"] = self.formatException(record.exc_info)
        return json.dumps(body)


def parse_args(argv: Sequence[str] | None, settings: Settings) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="doodle-arena", description="Doodle Arena game server (settings: see README)"
    )
    parser.add_argument("--host", default=settings.host, help="bind address (DOODLE_HOST)")
    parser.add_argument("--port", type=int, default=settings.port, help="port (DOODLE_PORT)")
    parser.add_argument("--log-level", default=settings.log_level)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    args = parse_args(argv, settings)
    settings = replace(settings, host=args.host, port=args.port, log_level=args.log_level)
    handler = logging.StreamHandler()
    if settings.log_json:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logging.basicConfig(level=settings.log_level.upper(), handlers=[handler])
    embedded: EmbeddedRedis | None = None
    if settings.redis_url is None:
        embedded = EmbeddedRedis().start()
        settings = replace(settings, redis_url=embedded.url)
        log.info("REDIS_URL not set: started embedded redis-server at %s", embedded.url)
    else:
        log.info("using Redis at %s", settings.redis_url)
    try:
        app = create_app(settings, embedded_redis=embedded is not None)
        uvicorn.run(
            app,
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level,
            ws_max_size=settings.max_message_bytes,
        )
    finally:
        if embedded is not None:
            embedded.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
