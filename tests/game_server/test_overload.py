"""Overload: a room whose owner falls behind pushes back on its sockets (their reads pause while
its inbox is full) and stays owned; nothing is dropped or reordered. A real uvicorn server, real
Redis, a real WebSocket client; the tick loop is held at a gate to make the backlog."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from game_server.app import create_app
from game_server.config import Settings
from tests.game_client import GameClient
from tests.game_server.test_game_ws import create_room

LIMIT = 4
SENT = 20


async def test_a_full_inbox_pauses_the_socket_and_the_room_stays_owned_through_the_backlog(
    game_settings: Settings, server_factory: Any
) -> None:
    settings = replace(game_settings, inbox_limit=LIMIT, lease_ms=300)
    app = create_app(settings)
    async with server_factory(app) as srv:
        code = await create_room(srv.http_url)
        ada = await GameClient.connect(srv.ws_url)
        try:
            await ada.join("ada", room=code)
            owners = app.state.node.owners
            actor = owners.local(code)
            assert actor is not None

            # the owner falls behind: its ticks wait at a gate
            gate = asyncio.Event()
            real_tick, real_renew = owners.tick, owners.renew_leases

            async def held_tick() -> None:
                await gate.wait()
                await real_tick()

            renewals: asyncio.Queue[None] = asyncio.Queue()

            async def counted_renew() -> None:
                await real_renew()
                renewals.put_nowait(None)

            parked = asyncio.Event()  # the socket's reader waits for room in the inbox
            real_room_for_input = actor.room_for_input

            async def watched_room_for_input() -> None:
                if len(actor.inbox) >= LIMIT:
                    parked.set()
                await real_room_for_input()

            owners.tick = held_tick
            owners.renew_leases = counted_renew
            actor.room_for_input = watched_room_for_input

            ada.mark("settings")
            for rounds in range(1, SENT + 1):
                await ada.send({"type": "settings", "rounds": rounds, "seconds": 30})
            await asyncio.wait_for(parked.wait(), 30)
            # the reader stopped reading at the limit: the rest waits in the socket's buffers
            assert len(actor.inbox) == LIMIT

            # while the tick is held for longer than a lease, the lease is renewed: the room
            # is not dropped
            for _ in range(6):  # 6 renewals at lease_ms / 3: two whole leases
                await asyncio.wait_for(renewals.get(), 30)
            assert owners.local(code) is actor and len(actor.inbox) == LIMIT

            # the owner catches up: every command is applied once, in the order sent
            gate.set()
            await ada.wait("settings", rounds=SENT, cursor="settings")
            got = [m["rounds"] for m in ada.find("settings")]
            assert got == list(range(1, SENT + 1))
            assert owners.local(code) is actor
            assert not ada.find("error")
        finally:
            await ada.close()
