"""Shared fixtures: a real Redis server, per-test key isolation, a real uvicorn server."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import redis
import uvicorn
from starlette.types import ASGIApp

from game_server.config import Settings
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


@dataclass
class RunningServer:
    server: uvicorn.Server
    host: str
    port: int

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/ws"


@asynccontextmanager
async def run_server(app: ASGIApp, **config: Any) -> AsyncIterator[RunningServer]:
    """Serve ``app`` with a real ``uvicorn.Server`` on a socket bound to 127.0.0.1:0."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    host, port = sock.getsockname()[:2]
    cfg = uvicorn.Config(app, lifespan="on", log_level="warning", **config)
    server = uvicorn.Server(cfg)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("uvicorn exited before it started")
            await asyncio.sleep(0.01)  # wait for uvicorn's own 'started' flag
        yield RunningServer(server=server, host=host, port=port)
    finally:
        server.should_exit = True
        await task
        sock.close()


@pytest.fixture
def server_factory() -> Callable[..., Any]:
    """``async with server_factory(app) as srv:`` runs a real uvicorn server."""
    return run_server
