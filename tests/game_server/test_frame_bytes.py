"""A tick's ``frame`` is encoded once and its WebSocket frame built once per text: the same
bytes go to every socket it is for (no extension negotiated), a socket with permessage-deflate
gets it through its own compressor; either way each player sees the others' ink, not its own."""

from __future__ import annotations

from typing import Any

import pytest
from websockets.frames import Opcode
from websockets.protocol import Protocol, Side, State

from game_server.app import create_app
from game_server.config import Settings
from game_server.frames import Frame
from tests.game_client import GameClient
from tests.game_server.test_game_ws import create_room


def read_frames(wire: bytes) -> list[tuple[Opcode, str]]:
    """What a WebSocket client reads from ``wire`` (websockets' own parser)."""
    client = Protocol(Side.CLIENT, state=State.OPEN)
    client.receive_data(wire)
    return [(f.opcode, bytes(f.data).decode()) for f in client.events_received()]


def test_wire_for_is_the_text_as_one_websocket_frame() -> None:
    frame = Frame(
        {"p1": [{"op": "points", "stroke": 0, "points": [[1, 2, 3]]}], "p2": [{"op": "undo"}]},
        {"p1": {"seq": 4, "guesses": [{"label": "cat", "p": 0.5}]}},
    )
    for who in ("p1", "p2", "p3", None):
        wire = frame.wire_for(who)
        assert wire is not None
        assert read_frames(wire) == [(Opcode.TEXT, frame.text_for(who))]
    # built once per text: sockets whose player has no ink share the bytes
    assert frame.wire_for("p3") is frame.wire_for(None)
    assert frame.wire_for("p1") is frame.wire_for("p1")
    assert Frame({}, {}).wire_for(None) is None


@pytest.mark.parametrize("deflate", [False, True], ids=["shared-bytes", "permessage-deflate"])
async def test_each_socket_gets_the_others_ink_and_its_guesses(
    game_settings: Settings, server_factory: Any, deflate: bool
) -> None:
    app = create_app(game_settings)
    async with server_factory(app, ws_per_message_deflate=deflate) as srv:
        code = await create_room(srv.http_url)
        clients = [await GameClient.connect(srv.ws_url) for _ in range(3)]
        ada, bob, cid = clients
        try:
            for c, name in zip(clients, ("ada", "bob", "cid"), strict=True):
                await c.join(name, room=code)
                assert bool(c.ws.protocol.extensions) is deflate
            await ada.send({"type": "start"})
            for c in clients:
                await c.wait("round_started")
            line = [[10.0, 10.0, 0], [120.0, 80.0, 40], [200.0, 30.0, 90]]
            await ada.send({"type": "points", "seq": 1, "stroke": 0, "points": line})
            await bob.send({"type": "points", "seq": 1, "stroke": 0, "points": line[:2]})

            def inked(who: GameClient) -> Any:
                return lambda m: who.player_id in m.get("ink", {})

            for viewer in (bob, cid):  # ada's stroke, as she sent it
                got = await viewer.wait("frame", inked(ada), cursor="ada-ink")
                assert got["ink"][ada.player_id] == [{"op": "points", "stroke": 0, "points": line}]
            for viewer in (ada, cid):
                got = await viewer.wait("frame", inked(bob), cursor="bob-ink")
                assert got["ink"][bob.player_id][0]["points"] == line[:2]
            for me in (ada, bob):  # each drawer's update is answered with a guess
                mine = await me.wait(
                    "frame", lambda m, me=me: me.player_id in m.get("guesses", {}), cursor="g"
                )
                assert mine["guesses"][me.player_id]["seq"] == 1
            for me in (ada, bob):  # never its own ink back
                assert all(me.player_id not in m.get("ink", {}) for m in me.find("frame"))
        finally:
            for c in clients:
                await c.close()
