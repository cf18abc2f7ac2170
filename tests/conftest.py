"""Shared fixtures: a real Redis server, per-test key isolation, a real uvicorn server
(:func:`game_server.harness.serve_app`)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from game_server.config import Settings
from game_server.harness import serve_app
from game_server.redis_embedded import EmbeddedRedis


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real Redis for the whole test session: ``REDIS_URL`` if set, else embedded."""
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    with EmbeddedRedis() as server:
        yield server.url


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix unique to this test; its keys are deleted afterwards."""
    prefix = f"test:{uuid.uuid4().hex[:12]}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def settings(redis_url: str, redis_prefix: str) -> Settings:
    """Default settings wired to the test Redis and this test's key prefix."""
    return Settings.from_env({}, redis_url=redis_url, redis_prefix=redis_prefix)


@pytest.fixture
def server_factory() -> Callable[..., Any]:
    """``async with server_factory(app) as srv:`` runs a real uvicorn server."""
    return serve_app
