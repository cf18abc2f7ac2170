"""Quick play that starts by itself, a kick that holds, and a finished game's gallery served
over HTTP: real uvicorn, real Redis, real WebSockets, the shipped model, real drawings."""

from __future__ import annotations

import asyncio
import io
from dataclasses import replace
from typing import Any

import httpx
import numpy as np
from PIL import Image

from game_server.app import create_app
from game_server.config import Settings
from tests.game_client import GameClient


async def test_quick_play_starts_by_itself_and_the_finished_game_has_a_gallery(
    game_settings: Settings, server_factory: Any, recognizable: dict[str, Any]
) -> None:
    settings = replace(
        game_settings,
        autostart_players=2,
        autostart_seconds=0.3,
        ready_seconds=0.2,
        default_rounds=1,
        default_round_seconds=120,
    )
    async with server_factory(create_app(settings)) as srv:
        ada = await GameClient.connect(srv.ws_url)
        bob = await GameClient.connect(srv.ws_url)
        try:
            await ada.join("ada", quickplay=True, key="ada-browser-key-0001")
            await bob.join("bob", quickplay=True, key="bob-browser-key-0001")
            countdown = await ada.wait("autostart")
            assert countdown["at"] > countdown["server_time"]
            # nobody pressed start
            started = await ada.wait("round_started", round=1)
            assert started["deadline"] - started["starts_at"] == 120_000
            drawings = recognizable[started["prompt"]]
            await asyncio.gather(ada.draw(drawings[0]), bob.draw(drawings[1]))
            ended = await ada.wait("game_ended")
        finally:
            await ada.close()
            await bob.close()
        game_id = ended["game_id"]
        async with httpx.AsyncClient(base_url=srv.http_url) as http:
            r = await http.get(f"/api/games/{game_id}")
            assert r.status_code == 200
            game = r.json()
            assert game["ranking"] == ended["ranking"]
            (rnd,) = game["rounds"]
            assert rnd["prompt"] == started["prompt"]
            mine = next(x for x in rnd["results"] if x["player_id"] == ada.player_id)
            assert mine["recognized"]
            # the server's record of what the AI thought, ending with the recognized prompt
            assert mine["timeline"][-1]["guesses"][0]["label"] == started["prompt"]
            ts = [e["t"] for e in mine["timeline"]]
            assert ts == sorted(ts)
            png = await http.get(f"/api/games/{game_id}/1/{ada.player_id}.png")
            assert png.headers["content-type"] == "image/png"
            img = np.asarray(Image.open(io.BytesIO(png.content)))
            assert img.shape == (512, 512) and img.min() < 100 and img.max() == 255
            page = await http.get(f"/g/{game_id}")
            assert page.status_code == 200 and "<main" in page.text
            for bad in (
                "/api/games/nothexnothex",
                "/api/games/000000000000",
                f"/api/games/{game_id}/2/p1.png",
            ):
                r = await http.get(bad)
                assert r.status_code == 404 and r.json()["error"]["code"] in (
                    "game_not_found",
                    "drawing_not_found",
                )


async def test_a_kicked_player_cannot_rejoin_the_game_with_a_fresh_seat(
    game_settings: Settings, server_factory: Any
) -> None:
    async with server_factory(create_app(game_settings)) as srv:
        async with httpx.AsyncClient(base_url=srv.http_url) as http:
            code = (await http.post("/api/rooms")).json()["code"]
        ada = await GameClient.connect(srv.ws_url)
        bob = await GameClient.connect(srv.ws_url)
        again = await GameClient.connect(srv.ws_url)
        try:
            await ada.join("ada", room=code, key="ada-browser-key-0001")
            await bob.join("bob", room=code, key="bob-browser-key-0001")
            await ada.send({"type": "kick", "player_id": bob.player_id})
            assert await bob.closed == 4001
            refused = await again.join_or_error("bob", room=code, key="bob-browser-key-0001")
            assert refused["type"] == "error" and refused["code"] == "kicked"
        finally:
            for c in (ada, bob, again):
                await c.close()
