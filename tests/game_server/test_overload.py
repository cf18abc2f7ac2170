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

import httpx

from game_server import protocol
from game_server.app import create_app
from game_server.config import Settings
from game_server.overload import MIN_RETRY_AFTER_MS
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

            async def held_tick(overlap: bool = False) -> None:
                await gate.wait()
                await real_tick(overlap)

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


# ---------------------------------------------------------------------------- admission control


def admission_settings(game_settings: Settings) -> Settings:
    """One full inbox makes the process overloaded (the seam: held ticks fill it for sure);
    the lag alone never does; it recovers at the first calm measurement."""
    return replace(
        game_settings,
        inbox_limit=LIMIT,
        lease_ms=300,
        overload_full_inboxes=1,
        overload_enter_ms=10**9,
        overload_calm_ms=0,
    )


class HeldTicks:
    """Holds the ticks of a server at a gate (open until :meth:`overload`) and reports the
    load states it publishes."""

    def __init__(self, app: Any) -> None:
        self.owners = app.state.node.owners
        self.gate = asyncio.Event()
        self.gate.set()
        self.published: asyncio.Queue[bool] = asyncio.Queue()
        real_tick, real_publish = self.owners.tick, self.owners.publish_load

        async def held_tick(overlap: bool = False) -> None:
            await self.gate.wait()
            await real_tick(overlap)

        async def watched_publish(closing: bool = False) -> None:
            await real_publish(closing)
            self.published.put_nowait(self.owners.load.overloaded)

        self.owners.tick = held_tick
        self.owners.publish_load = watched_publish

    async def published_state(self, overloaded: bool) -> None:
        """Wait until the process has published this load state (to Redis)."""
        async with asyncio.timeout(30):
            while await self.published.get() is not overloaded:
                pass

    async def overload(self, seated: GameClient) -> None:
        """``seated``'s room (owned here) fills its inbox while the ticks are held."""
        self.gate.clear()
        seated.mark("settings")
        for rounds in range(1, SENT + 1):
            await seated.send({"type": "settings", "rounds": rounds, "seconds": 30})
        await self.published_state(True)


async def test_an_overloaded_process_refuses_new_rooms_keeps_its_players_and_recovers(
    game_settings: Settings, server_factory: Any
) -> None:
    app = create_app(admission_settings(game_settings))
    async with server_factory(app) as srv:
        code = await create_room(srv.http_url)
        spare_code = await create_room(srv.http_url)  # nobody owns it yet
        ada = await GameClient.connect(srv.ws_url)
        bob = await GameClient.connect(srv.ws_url)
        cy = await GameClient.connect(srv.ws_url)
        dan = await GameClient.connect(srv.ws_url)
        held = HeldTicks(app)
        try:
            await ada.join("ada", room=code)
            await held.overload(ada)
            async with httpx.AsyncClient() as http:
                health = (await http.get(f"{srv.http_url}/healthz")).json()
                metrics = (await http.get(f"{srv.http_url}/metrics")).text
                created = await http.post(f"{srv.http_url}/api/rooms")
            assert health["status"] == "ready"  # still serving its players
            assert health["load"]["overloaded"] is True and health["load"]["full_inboxes"] == 1
            assert "doodle_overloaded 1.0" in metrics
            # a new room: by code, by quick play (none open) or over HTTP: server_busy
            assert created.status_code == 503
            assert created.json()["error"]["code"] == "server_busy"
            assert created.json()["error"]["retry_after_ms"] >= MIN_RETRY_AFTER_MS
            assert int(created.headers["retry-after"]) >= 1
            for client, where in ((bob, {"room": spare_code}), (cy, {"quickplay": True})):
                refused = await client.join_or_error("x", **where)
                assert refused["code"] == "server_busy" and refused["ref"] == "join"
                assert refused["retry_after_ms"] >= MIN_RETRY_AFTER_MS
            async with httpx.AsyncClient() as http:
                metrics = (await http.get(f"{srv.http_url}/metrics")).text
            assert 'doodle_refusals_total{reason="server_busy"} 3.0' in metrics
            assert not await app.state.redis.exists(f"{game_settings.redis_prefix}public")
            # a room it already owns still takes players (answered once the tick runs)
            dan_joins = asyncio.create_task(dan.join("dan", room=code))

            held.gate.set()
            # the seated player's commands were all applied, in order, without an error
            await ada.wait("settings", rounds=SENT, cursor="settings")
            assert [m["rounds"] for m in ada.find("settings")] == list(range(1, SENT + 1))
            assert not ada.find("error")
            await dan_joins
            await held.published_state(False)
            # recovered: the refused player's retry gets the new room
            await bob.join("bob", room=spare_code)
            assert app.state.node.owners.local(spare_code) is not None
        finally:
            held.gate.set()  # a failed test must not leave the server's ticks held
            for c in (ada, bob, cy, dan):
                await c.close()


async def test_an_overloaded_process_hands_a_new_room_to_a_process_with_spare_capacity(
    game_settings: Settings, server_factory: Any
) -> None:
    settings = admission_settings(game_settings)
    busy_app, spare_app = create_app(settings), create_app(settings)
    async with server_factory(busy_app) as busy, server_factory(spare_app) as _spare:
        code = await create_room(busy.http_url)
        ada = await GameClient.connect(busy.ws_url)
        bob = await GameClient.connect(busy.ws_url)
        held = HeldTicks(busy_app)
        try:
            await ada.join("ada", room=code)
            busy_owners = busy_app.state.node.owners
            assert busy_owners.local(code) is not None  # not overloaded: it claims
            await held.overload(ada)

            # the busy process admits the join (another process can take the room) but does
            # not claim the room: the spare one does, while the busy one's ticks are held
            new_code = await create_room(busy.http_url)
            await bob.join("bob", room=new_code)
            spare_id = spare_app.state.node.proc_id
            assert spare_app.state.node.owners.local(new_code) is not None
            assert busy_owners.local(new_code) is None
            store = busy_app.state.node.store
            lease = await busy_app.state.redis.get(store.room_key(new_code, "lease"))
            assert lease.split()[0] == spare_id
            bob.mark("mine")
            await bob.send({"type": "settings", "rounds": 2, "seconds": 30})
            await bob.wait("settings", rounds=2, cursor="mine")  # plays on, through the owner
            held.gate.set()
            await ada.wait("settings", rounds=SENT, cursor="settings")
        finally:
            held.gate.set()
            await ada.close()
            await bob.close()


async def test_a_held_tick_overloads_by_its_input_lag_alone(
    game_settings: Settings, server_factory: Any
) -> None:
    enter_ms = 500
    settings = replace(
        admission_settings(game_settings),
        overload_full_inboxes=0,
        overload_enter_ms=enter_ms,
        overload_leave_ms=enter_ms,
    )
    app = create_app(settings)
    async with server_factory(app) as srv:
        code = await create_room(srv.http_url)
        ada = await GameClient.connect(srv.ws_url)
        bob = await GameClient.connect(srv.ws_url)
        held = HeldTicks(app)
        try:
            await ada.join("ada", room=code)
            held.gate.clear()
            ada.mark("settings")
            await ada.send({"type": "settings", "rounds": 3, "seconds": 30})  # one command
            await held.published_state(True)
            assert held.owners.load.last.lag_ms >= enter_ms
            assert held.owners.load.last.full_inboxes == 0
            assert (await bob.join_or_error("bob", quickplay=True))["code"] == "server_busy"
            held.gate.set()
            await ada.wait("settings", rounds=3, cursor="settings")
            await held.published_state(False)
            await bob.join("bob", quickplay=True)
        finally:
            held.gate.set()
            await ada.close()
            await bob.close()


async def test_quick_play_prefers_a_new_room_to_one_whose_owner_is_overloaded(
    game_settings: Settings, server_factory: Any
) -> None:
    settings = admission_settings(game_settings)
    busy_app, spare_app = create_app(settings), create_app(settings)
    async with server_factory(busy_app) as busy, server_factory(spare_app) as spare:
        ada = await GameClient.connect(busy.ws_url)
        cy = await GameClient.connect(spare.ws_url)
        dan = await GameClient.connect(busy.ws_url)
        held = HeldTicks(busy_app)
        try:
            await ada.join("ada", quickplay=True)  # an open public room, owned by busy
            crowded = protocol.room_of_resume_token(ada.resume_token)
            assert busy_app.state.node.owners.local(crowded) is not None
            await held.overload(ada)
            # from either process, quick play opens a room on the spare process instead
            for name, client in (("cy", cy), ("dan", dan)):
                await client.join(name, quickplay=True)
                code = protocol.room_of_resume_token(client.resume_token)
                assert code != crowded
                assert spare_app.state.node.owners.local(code) is not None
            held.gate.set()
            await ada.wait("settings", rounds=SENT, cursor="settings")
        finally:
            held.gate.set()
            for c in (ada, cy, dan):
                await c.close()
