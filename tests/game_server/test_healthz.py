from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx

from game_server.app import create_app
from game_server.config import Settings


async def test_healthz_reports_redis_and_model_ready(
    settings: Settings, server_factory: Any
) -> None:
    app = create_app(settings)
    async with server_factory(app) as srv, httpx.AsyncClient() as client:
        response = await client.get(f"{srv.http_url}/healthz")
    body = response.json()
    assert body["redis"]["ready"] is True
    assert body["model"]["ready"] is True
    assert response.status_code == 200
    assert body["status"] == "ready"


async def test_healthz_not_ready_when_redis_is_unreachable(
    settings: Settings, server_factory: Any, tmp_path: Any
) -> None:
    app = create_app(replace(settings, redis_url=f"unix://{tmp_path}/nothing.sock"))
    async with server_factory(app) as srv, httpx.AsyncClient() as client:
        response = await client.get(f"{srv.http_url}/healthz")
    assert response.status_code == 503
    assert response.json()["redis"]["ready"] is False


async def test_serves_the_web_client(settings: Settings, server_factory: Any) -> None:
    app = create_app(settings)
    async with server_factory(app) as srv, httpx.AsyncClient() as client:
        response = await client.get(f"{srv.http_url}/")
    assert response.status_code == 200
    assert "Doodle Arena" in response.text
