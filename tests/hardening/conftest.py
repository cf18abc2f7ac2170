"""Fixtures of the hardening tests (docs/SECURITY.md)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import pytest

# the shipped model and real drawings it recognizes (shared with the game server tests)
from tests.game_server.conftest import classifier, game_settings, recognizable

__all__ = ["classifier", "game_settings", "recognizable"]


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def server_errors() -> Iterator[Callable[[], list[logging.LogRecord]]]:
    """``server_errors()``: ERROR (and worse) records the server or uvicorn logged so far.

    Serve with ``helpers.serve`` (``log_config=None``) so uvicorn's records reach the root
    logger."""
    handler = _Collect()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield lambda: [r for r in handler.records if r.levelno >= logging.ERROR]
    finally:
        root.removeHandler(handler)
