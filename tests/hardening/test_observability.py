"""Structured logs with room/player context, hardening settings, the /metrics switch."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from dataclasses import replace

import httpx

from game_server.app import create_app
from game_server.config import Settings
from game_server.logging_setup import bind, make_handler


def _capture(json_lines: bool) -> tuple[logging.Logger, io.StringIO]:
    out = io.StringIO()
    handler = make_handler(json_lines)
    handler.setStream(out)  # type: ignore[attr-defined]
    logger = logging.getLogger(f"test.hardening.{json_lines}")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, out


async def test_json_log_lines_carry_room_player_and_connection() -> None:
    logger, out = _capture(json_lines=True)

    async def socket_task() -> None:
        bind(conn="abc:1")
        logger.info("before join")
        bind(room="K7QH2MZP", player="p3")
        logger.warning("after join")

    async def owner_task() -> None:
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("room failed")

    await asyncio.create_task(socket_task(), name="ws-in-abc:1")
    await asyncio.create_task(owner_task(), name="room-ZZZZ2345")
    logger.info("no context")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [x["message"] for x in lines] == [
        "before join",
        "after join",
        "room failed",
        "no context",
    ]
    assert lines[0]["conn"] == "abc:1" and "room" not in lines[0]
    assert lines[1] | {"time": ""} == {
        "time": "",
        "level": "WARNING",
        "logger": logger.name,
        "message": "after join",
        "room": "K7QH2MZP",
        "player": "p3",
        "conn": "abc:1",
    }
    assert lines[2]["room"] == "ZZZZ2345" and "ValueError: boom" in lines[2]["exc"]
    assert set(lines[3]) == {"time", "level", "logger", "message"}
    assert lines[0]["time"].endswith("Z")


async def test_text_log_lines_append_the_context() -> None:
    logger, out = _capture(json_lines=False)

    async def task() -> None:
        bind(room="K7QH2MZP", player="p1", conn="abc:2")
        logger.info("hello")

    await asyncio.create_task(task())
    assert out.getvalue().rstrip().endswith("hello [room=K7QH2MZP player=p1 conn=abc:2]")


def test_hardening_settings_come_from_the_environment() -> None:
    s = Settings.from_env(
        {
            "DOODLE_RATE_LIMIT_STRIKES": "7",
            "DOODLE_RATE_LIMIT_WINDOW_SECONDS": "2.5",
            "DOODLE_METRICS": "0",
            "DOODLE_SHUTDOWN_GRACE_SECONDS": "1",
        }
    )
    assert (s.rate_limit_strikes, s.rate_limit_window_seconds) == (7, 2.5)
    assert s.metrics_enabled is False and s.shutdown_grace_seconds == 1.0
    assert Settings.from_env({}).metrics_enabled is True


async def test_metrics_can_be_switched_off(settings: Settings) -> None:
    for enabled, status in ((True, 200), (False, 404)):
        app = create_app(replace(settings, metrics_enabled=enabled))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            r = await client.get("/metrics")
        assert r.status_code == status
        if enabled:
            assert "doodle_refusals_total" in r.text or "doodle_connections" in r.text
