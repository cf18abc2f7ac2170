from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx

from game_server import protocol
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


async def test_api_config_publishes_the_limits_and_close_codes(
    settings: Settings, server_factory: Any
) -> None:
    s = replace(settings, max_name_length=9, max_rounds=3, min_round_seconds=10)
    async with server_factory(create_app(s)) as srv, httpx.AsyncClient() as client:
        response = await client.get(f"{srv.http_url}/api/config")
    assert response.status_code == 200
    body = response.json()
    assert body["limits"] == {**s.public(), "min_rounds": protocol.MIN_ROUNDS}
    assert (body["limits"]["max_name_length"], body["limits"]["max_rounds"]) == (9, 3)
    assert body["close_codes"]["kicked"] == protocol.CLOSE_KICKED
    assert sorted(body["close_codes"].values()) == sorted(c.code for c in protocol.CLOSE_CODES)
    documented = (Path(__file__).parents[2] / "docs" / "protocol.md").read_text()
    section = documented.split("`GET /api/config`", 1)[1].split("\n  * ", 1)[0]
    for key in body["limits"]:
        assert f"`{key}`" in section, key
