"""Helpers of the hardening tests."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import websockets
from prometheus_client.parser import text_string_to_metric_families

from game_server.config import Settings
from tests.game_client import GameClient


def serve(server_factory: Any, app: Any, settings: Settings) -> Any:
    """A real uvicorn server configured as ``python -m game_server`` configures it: frames over
    ``max_message_bytes`` are closed by the WebSocket layer (1009); logs go to the root logger."""
    return server_factory(
        app,
        ws_max_size=settings.max_message_bytes,
        log_config=None,
        timeout_graceful_shutdown=15,  # a socket that never closes cannot hang the test
    )


async def connect(url: str, **kwargs: Any) -> GameClient:
    return GameClient(await websockets.connect(url, max_size=2**24, **kwargs))


async def create_room(http_url: str) -> str:
    async with httpx.AsyncClient() as client:
        r = await client.post(f"{http_url}/api/rooms")
    assert r.status_code == 201, r.text
    return str(r.json()["code"])


async def healthz(http_url: str) -> int:
    async with httpx.AsyncClient() as client:
        return (await client.get(f"{http_url}/healthz")).status_code


async def wait_healthz(http_url: str, status: int, within: float = 30.0) -> None:
    """Poll /healthz until it answers ``status`` (bounded)."""
    async with asyncio.timeout(within):
        while await healthz(http_url) != status:  # noqa: ASYNC110 - polling over HTTP
            await asyncio.sleep(0.05)  # bounded by the timeout


async def metrics(http_url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Scrape /metrics: ``{(sample name, sorted labels): value}``."""
    async with httpx.AsyncClient() as client:
        r = await client.get(f"{http_url}/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(r.text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def metric_sum(samples: dict[tuple[str, Any], float], name: str, **labels: str) -> float:
    want = set(labels.items())
    return sum(v for (n, lab), v in samples.items() if n == name and want <= set(lab))


async def play_round(players: list[GameClient], recognizable: dict[str, Any], round_no: int) -> Any:
    """Every player draws a real drawing of the prompt the model recognizes; the round ends."""
    starts = [await p.wait("round_started", round=round_no) for p in players]
    drawings = recognizable[starts[0]["prompt"]]
    await asyncio.gather(*(p.draw(drawings[i % len(drawings)]) for i, p in enumerate(players)))
    ended = [await p.wait("round_ended", round=round_no) for p in players]
    return ended[0]


def dumps(msg: dict[str, Any]) -> str:
    return json.dumps(msg, separators=(",", ":"))
