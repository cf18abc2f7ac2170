"""Structured logs: every record carries the room, player and connection it concerns.

``configure_logging(level, json_lines)`` installs one handler on the root logger: plain text by
default, one JSON object per line with ``json_lines`` (``DOODLE_LOG_JSON=1``). Context comes
from two places:

* :func:`bind` sets context variables (``conn``, ``room``, ``player``); a socket's tasks bind
  them, so anything logged while handling that socket's messages names them;
* otherwise the asyncio task name: the room owner's tasks are named ``room-<CODE>``,
  ``cmds-<CODE>``, ``lease-<CODE>``, a socket's ``ws-in-<conn>`` / ``ws-out-<conn>``.

JSON line fields: ``time`` (ISO 8601 UTC), ``level``, ``logger``, ``message``, then ``room``,
``player``, ``conn`` when known, and ``exc`` (the traceback) for exceptions.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import time
from typing import Any

_CONN: contextvars.ContextVar[str | None] = contextvars.ContextVar("doodle_conn", default=None)
_ROOM: contextvars.ContextVar[str | None] = contextvars.ContextVar("doodle_room", default=None)
_PLAYER: contextvars.ContextVar[str | None] = contextvars.ContextVar("doodle_player", default=None)
_ROOM_TASK_PREFIXES = ("room-", "cmds-", "lease-")
_CONN_TASK_PREFIXES = ("ws-in-", "ws-out-")
CONTEXT_FIELDS = ("room", "player", "conn")


def bind(*, conn: str | None = None, room: str | None = None, player: str | None = None) -> None:
    """Attach context to log records of the current task (and tasks it creates later)."""
    if conn is not None:
        _CONN.set(conn)
    if room is not None:
        _ROOM.set(room)
    if player is not None:
        _PLAYER.set(player)


def current_context() -> dict[str, str]:
    ctx = {"room": _ROOM.get(), "player": _PLAYER.get(), "conn": _CONN.get()}
    try:
        task = asyncio.current_task()
    except RuntimeError:
        task = None
    if task is not None:
        name = task.get_name()
        if ctx["room"] is None:
            for prefix in _ROOM_TASK_PREFIXES:
                if name.startswith(prefix):
                    ctx["room"] = name[len(prefix) :]
        if ctx["conn"] is None:
            for prefix in _CONN_TASK_PREFIXES:
                if name.startswith(prefix):
                    ctx["conn"] = name[len(prefix) :]
    return {k: v for k, v in ctx.items() if v is not None}


class ContextFilter(logging.Filter):
    """Copies the context onto each record (``record.room`` etc., ``record.context``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        ctx = current_context()
        for key in CONTEXT_FIELDS:
            setattr(record, key, ctx.get(key))
        record.context = " ".join(f"{k}={v}" for k, v in ctx.items())
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per log line (DOODLE_LOG_JSON=1)."""

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in CONTEXT_FIELDS:
            value = getattr(record, key, None)
            if value is not None:
                body[key] = value
        if record.exc_info:
            body["exc"] = self.formatException(record.exc_info)
        return json.dumps(body, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ctx = getattr(record, "context", "")
        if not ctx:
            return line
        head, sep, tail = line.partition("\n")  # keep a traceback below the context
        return f"{head} [{ctx}]{sep}{tail}"


def make_handler(json_lines: bool) -> logging.Handler:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    handler.addFilter(ContextFilter())
    return handler


def configure_logging(level: str, json_lines: bool) -> logging.Handler:
    """Install the handler on the root logger (also used by uvicorn's loggers)."""
    handler = make_handler(json_lines)
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers = []
        lg.propagate = True
    return handler
