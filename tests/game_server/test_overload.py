"""Overload and fan-out: a room whose owner falls behind pushes back on its sockets (their reads
pause while its inbox is full) and stays owned; messages go straight onto a socket's transport,
and queue (in order) only while it is full; a socket a whole queue behind is closed (4004).
Nothing is dropped or reordered. A real uvicorn server, real Redis, a real WebSocket client; the
tick loop is held at a gate to make a backlog, and uvicorn's own flow-control callbacks
(``pause_writing``/``resume_writing``) stand for a full TCP buffer."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from game_server import protocol
from game_server.app import create_app
from game_server.config import Settings
from game_server.ws import Connection
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


def server_side(app: Any, player_id: str | None) -> Connection:
    """The server's connection object of ``player_id``'s socket."""
    found = [s for s in app.state.node.hub.sockets() if s.player_id == player_id]
    assert len(found) == 1 and isinstance(found[0], Connection)
    return found[0]


class QueueWatch:
    """Records the messages a connection queued (instead of writing them at once)."""

    def __init__(self, conn: Connection) -> None:
        self.items: list[tuple[str | None, int | None]] = []
        self._changed = asyncio.Event()
        real = conn.out.put_nowait

        def put_nowait(item: tuple[str | None, int | None]) -> None:
            real(item)
            self.items.append(item)
            self._changed.set()

        conn.out.put_nowait = put_nowait  # type: ignore[method-assign]

    @property
    def count(self) -> int:
        return len(self.items)

    async def until(self, done: Callable[[], bool]) -> None:
        async with asyncio.timeout(30):
            while not done():
                self._changed.clear()
                await self._changed.wait()


async def test_messages_are_written_at_once_and_queue_in_order_while_the_socket_is_full(
    game_settings: Settings, server_factory: Any
) -> None:
    app = create_app(game_settings)
    async with server_factory(app) as srv:
        code = await create_room(srv.http_url)
        ada = await GameClient.connect(srv.ws_url)
        try:
            await ada.join("ada", room=code)
            conn = server_side(app, ada.player_id)
            assert conn._wire is not None  # uvicorn's websockets-sansio: the direct path
            proto = conn._wire._proto
            queued = QueueWatch(conn)
            ada.mark("s")

            await ada.send({"type": "settings", "rounds": 1, "seconds": 30})
            await ada.wait("settings", rounds=1, cursor="s")
            assert queued.count == 0  # written straight from the tick

            proto.pause_writing()  # the transport's buffer is over its high-water mark
            for rounds in range(2, 7):
                await ada.send({"type": "settings", "rounds": rounds, "seconds": 30})
            await queued.until(lambda: queued.count == 5)  # all five wait in the socket's queue
            assert ada.find("settings", rounds=2) == []
            proto.resume_writing()
            await ada.wait("settings", rounds=6, cursor="s")

            await ada.send({"type": "settings", "rounds": 7, "seconds": 30})
            await ada.wait("settings", rounds=7, cursor="s")
            assert queued.count == 5  # the queue is empty again: written at once
            assert [m["rounds"] for m in ada.find("settings")] == list(range(1, 8))
        finally:
            await ada.close()


async def test_a_socket_a_whole_queue_behind_is_closed_as_a_slow_consumer(
    game_settings: Settings, server_factory: Any
) -> None:
    settings = replace(game_settings, send_queue_size=10)
    app = create_app(settings)
    async with server_factory(app) as srv:
        code = await create_room(srv.http_url)
        ada = await GameClient.connect(srv.ws_url)
        try:
            await ada.join("ada", room=code)
            conn = server_side(app, ada.player_id)
            assert conn._wire is not None
            proto = conn._wire._proto
            queued = QueueWatch(conn)
            proto.pause_writing()
            for rounds in range(1, 13):  # more than the queue holds
                await ada.send({"type": "settings", "rounds": rounds, "seconds": 30})
            # the queue overflows: it is emptied and the close queued alone
            await queued.until(lambda: (None, protocol.CLOSE_SLOW_CONSUMER) in queued.items)
            proto.resume_writing()
            assert await asyncio.wait_for(ada.closed, 30) == protocol.CLOSE_SLOW_CONSUMER
        finally:
            await ada.close()
