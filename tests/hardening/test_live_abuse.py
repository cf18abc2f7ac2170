"""Abuse against a real server (uvicorn + real WebSocket clients + real Redis + the shipped
model): hostile frames during a running game, floods, oversized frames, foreign origins, too many
sockets, room-code guessing, full rooms and impersonation (docs/SECURITY.md)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
from dataclasses import replace
from typing import Any

import pytest
import websockets
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hsettings

from game_server import protocol
from game_server.app import create_app
from game_server.config import Settings
from game_server.logging_setup import make_handler
from game_server.protocol import ProtocolError, parse_client_message
from tests.game_client import GameClient
from tests.hardening import strategies as hs
from tests.hardening.helpers import (
    connect,
    create_room,
    metric_sum,
    metrics,
    play_round,
    serve,
)

HOSTILE_FRAMES = 400


def hostile_frames(s: Settings, n: int) -> list[str | bytes]:
    """``n`` hostile frames from the fuzzing strategies (derandomized: the same every run),
    minus what would legitimately end the session: ``leave`` and frames over the size limit
    (closed with 1009, tested on their own below)."""
    out: list[str | bytes] = []

    @hsettings(
        max_examples=n * 2,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(hs.frames(s.max_message_bytes))
    def collect(frame: str | bytes) -> None:
        if len(out) >= n:
            return
        size = len(frame) if isinstance(frame, bytes) else len(frame.encode())
        if size > s.max_message_bytes:
            return
        try:
            if isinstance(parse_client_message(frame, s), protocol.Leave):
                return
        except ProtocolError:
            pass
        out.append(frame)

    collect()
    return out


async def test_hostile_clients_cannot_disturb_a_running_game(
    game_settings: Settings,
    server_factory: Any,
    recognizable: dict[str, Any],
    server_errors: Any,
) -> None:
    s = replace(
        game_settings,
        messages_per_second=100_000,  # let every hostile frame reach the parser
        message_burst=100_000,
        join_attempts_per_minute=10_000,
        join_timeout_seconds=600,  # mallory stays unjoined for the whole game
    )
    frames = hostile_frames(s, HOSTILE_FRAMES)
    assert len(frames) == HOSTILE_FRAMES
    app = create_app(s)
    async with serve(server_factory, app, s) as srv:
        code = await create_room(srv.http_url)
        ada, bob, eve, mallory = [await connect(srv.ws_url) for _ in range(4)]
        try:
            await ada.join("ada", room=code)
            await bob.join("bob", room=code)
            await eve.join("eve", room=code, spectator=True)  # in the room, hostile
            # mallory never joins a room (though a hostile frame may quick-play her into one)
            await ada.send({"type": "settings", "rounds": 1, "seconds": 120})
            await ada.send({"type": "start"})

            async def attack(client: GameClient, part: list[str | bytes]) -> None:
                pings = 1
                for frame in part:
                    await client.send(frame)
                    with contextlib.suppress(ProtocolError):
                        pings += isinstance(parse_client_message(frame, s), protocol.Ping)
                await client.send({"type": "ping"})
                for _ in range(pings):  # the last pong answers the last frame: all were read
                    await client.wait("pong", cursor="attack", within=120)

            # well-formed messages eve may not send: hers are refused by the room's rules
            forbidden: list[str | bytes] = [
                hs.dumps(m)
                for m in (
                    {"type": "points", "seq": 1, "stroke": 0, "points": [[1, 2, 0]]},
                    {"type": "undo", "seq": 2},
                    {"type": "kick", "player_id": ada.player_id},
                    {"type": "start"},
                    {"type": "settings", "rounds": 2, "seconds": 20},
                    {"type": "play_again"},
                    {"type": "join", "name": "eve", "room": code},
                )
            ]
            eve_frames = [
                f for pair in zip(frames[::2], forbidden * 40, strict=False) for f in pair
            ]
            mallory_frames = frames[1::2]
            attackers = asyncio.gather(attack(eve, eve_frames), attack(mallory, mallory_frames))
            ended = await play_round([ada, bob], recognizable, 1)
            await attackers
            game = await ada.wait("game_ended")

            # the honest players played on, unaffected, and got the right answers
            results = {r["player_id"]: r for r in ended["results"]}
            for p in (ada, bob):
                assert results[p.player_id]["recognized"] is True
                assert results[p.player_id]["guesses"][0]["label"] == ended["prompt"]
                # only the normal race of updates in flight when the AI recognized the drawing
                late = {(e["code"], e.get("ref")) for e in p.find("error")}
                assert late <= {("drawing_locked", "points"), ("bad_phase", "points")}, late
                assert not p.closed.done()
            assert {r["player_id"] for r in game["ranking"]} == {ada.player_id, bob.player_id}
            # the attackers were refused with documented codes, never "internal", and kept
            # their sockets
            errors = eve.find("error") + mallory.find("error")
            codes = {e["code"] for e in errors}
            assert "internal" not in codes
            assert {"bad_json", "bad_message", "spectator", "not_host", "already_joined"} <= codes
            assert not eve.closed.done() and not mallory.closed.done()
            assert server_errors() == []

            samples = await metrics(srv.http_url)
            assert metric_sum(samples, "doodle_refusals_total") >= len(errors)
            for kind, counted in (("bad_json", "bad_json"), ("spectator", "spectator")):
                seen = sum(e["code"] == counted for e in errors)
                assert metric_sum(samples, "doodle_refusals_total", reason=kind) >= seen
            assert metric_sum(samples, "doodle_messages_total", type="points") >= 2
            assert metric_sum(samples, "doodle_inference_seconds_count") >= 1
            assert metric_sum(samples, "doodle_stroke_to_guess_seconds_count") >= 1
            assert metric_sum(samples, "doodle_connections") == 4
            assert metric_sum(samples, "doodle_rooms_owned") >= 1
            assert ("doodle_event_loop_lag_seconds_count", ()) in samples
            print(
                f"\nFIGURES live-fuzz: hostile frames sent={len(eve_frames) + len(mallory_frames)} "
                f"refused={len(errors)} internal=0 server errors logged=0 crashes=0 "
                f"codes={sorted(codes)}; honest game completed, both players recognized"
            )
        finally:
            for c in (ada, bob, eve, mallory):
                await c.close()


async def test_a_flood_is_refused_then_closed_with_1008(
    settings: Settings, server_factory: Any
) -> None:
    s = replace(settings, messages_per_second=20, message_burst=20, rate_limit_strikes=40)
    out = io.StringIO()
    handler = make_handler(json_lines=True)
    handler.setStream(out)  # type: ignore[attr-defined]
    ws_log = logging.getLogger("game_server.ws")
    ws_log.addHandler(handler)
    app = create_app(s)
    try:
        async with serve(server_factory, app, s) as srv:
            flooder = await connect(srv.ws_url)
            calm = await connect(srv.ws_url)  # same address, its own bucket
            try:
                sent = 0
                while not flooder.closed.done() and sent < 20_000:
                    try:
                        await flooder.send({"type": "ping"})
                    except websockets.ConnectionClosed:
                        break
                    sent += 1
                    await asyncio.sleep(0)  # yield to the client's reader (sees the close)
                assert await asyncio.wait_for(flooder.closed, 30) == protocol.CLOSE_RATE_LIMIT
                limited = flooder.find("error", code="rate_limited")
                assert len(limited) >= 1
                assert len(flooder.find("pong")) >= 1
                await calm.send({"type": "ping"})
                await calm.wait("pong")
                samples = await metrics(srv.http_url)
                assert metric_sum(samples, "doodle_refusals_total", reason="rate_limited") >= len(
                    limited
                )
                assert metric_sum(samples, "doodle_refusals_total", reason="rate_limit_close") == 1
                print(
                    f"\nFIGURES flood: sent={sent} pongs={len(flooder.find('pong'))} "
                    f"rate_limited={len(limited)} close=1008"
                )
            finally:
                await flooder.close()
                await calm.close()
    finally:
        ws_log.removeHandler(handler)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    abuse = [x for x in lines if "rate-limit abuse" in x["message"]]
    assert abuse and abuse[0]["level"] == "WARNING" and abuse[0]["conn"]


async def test_oversized_frames_are_closed_with_1009(
    settings: Settings, server_factory: Any
) -> None:
    s = replace(settings, max_message_bytes=1024)
    app = create_app(s)
    async with serve(server_factory, app, s) as srv:
        ok = await connect(srv.ws_url)
        big = await connect(srv.ws_url)
        try:
            await ok.send("x" * 1024)  # at the limit: read, refused as bad JSON, kept open
            assert (await ok.wait("error"))["code"] == "bad_json"
            await big.send('{"type":"ping","pad":"' + "é" * 600 + '"}')  # 1.2 kB in UTF-8
            assert await asyncio.wait_for(big.closed, 30) == 1009
            await ok.send({"type": "ping"})
            await ok.wait("pong")
        finally:
            await ok.close()
            await big.close()


@pytest.mark.parametrize(
    ("allowed", "origin", "accepted"),
    [
        ((), "SAME", True),
        ((), None, True),  # not a browser: no Origin header
        ((), "http://evil.example", False),
        ((), "null", False),
        ((), "http://127.0.0.1.evil.example", False),
        (("https://doodle.example",), "https://doodle.example", True),
        (("https://doodle.example",), "SAME", False),
        (("https://doodle.example",), "https://doodle.example.evil.example", False),
    ],
)
async def test_handshakes_from_foreign_origins_are_refused(
    settings: Settings, server_factory: Any, allowed: tuple[str, ...], origin: str | None,
    accepted: bool,
) -> None:  # fmt: skip
    s = replace(settings, allowed_origins=allowed)
    app = create_app(s)
    async with serve(server_factory, app, s) as srv:
        if origin == "SAME":
            origin = f"http://{srv.host}:{srv.port}"
        kwargs: dict[str, Any] = {} if origin is None else {"origin": origin}
        if accepted:
            client = await connect(srv.ws_url, **kwargs)
            try:
                await client.send({"type": "ping"})
                await client.wait("pong")
            finally:
                await client.close()
        else:
            with pytest.raises(websockets.InvalidStatus) as err:
                await connect(srv.ws_url, **kwargs)
            assert err.value.response.status_code == 403
            samples = await metrics(srv.http_url)
            assert metric_sum(samples, "doodle_refusals_total", reason="origin") == 1


async def test_connections_per_address_are_capped(settings: Settings, server_factory: Any) -> None:
    s = replace(settings, max_connections_per_ip=3)
    app = create_app(s)
    async with serve(server_factory, app, s) as srv:
        clients = [await connect(srv.ws_url) for _ in range(3)]
        try:
            for c in clients:
                await c.send({"type": "ping"})
                await c.wait("pong")
            # at the limit, a newcomer closes the address's oldest socket that has not joined
            newcomer = await connect(srv.ws_url)
            clients.append(newcomer)
            code = await asyncio.wait_for(clients[0].closed, 30)
            assert code == protocol.CLOSE_TOO_MANY_CONNECTIONS
            for c in clients[1:]:
                await c.join(f"p{len(c.messages)}")
            # every socket of the address has joined: a newcomer is refused
            extra = await connect(srv.ws_url)
            clients.append(extra)
            code = await asyncio.wait_for(extra.closed, 30)
            assert code == protocol.CLOSE_TOO_MANY_CONNECTIONS
        finally:
            for c in clients:
                await c.close()


async def test_room_code_guessing_is_rate_limited_per_address(
    settings: Settings, server_factory: Any
) -> None:
    s = replace(settings, join_attempts_per_minute=5)
    app = create_app(s)
    async with serve(server_factory, app, s) as srv:
        code = await create_room(srv.http_url)
        ada = await connect(srv.ws_url)
        guesser = await connect(srv.ws_url)
        other = await connect(srv.ws_url)
        try:
            await ada.join("ada", room=code)  # attempt 1 from 127.0.0.1
            guesses = ["ABCDEFGH", "23456789", "ZZZZZZZZ", "K7QH2MZP"]
            for g in guesses:  # attempts 2..5
                assert (await guesser.join_or_error("eve", room=g))["code"] == "room_not_found"
            # the 6th attempt is refused even with the right code, from any socket of the address
            assert (await guesser.join_or_error("eve", room=code))["code"] == "rate_limited"
            assert (await other.join_or_error("eve", room=code))["code"] == "rate_limited"
            await ada.send({"type": "ping"})
            await ada.wait("pong")  # players already in keep playing
            assert not guesser.closed.done()
        finally:
            for c in (ada, guesser, other):
                await c.close()


async def test_room_capacity_is_enforced(settings: Settings, server_factory: Any) -> None:
    s = replace(settings, room_capacity=2, max_spectators=1)
    app = create_app(s)
    async with serve(server_factory, app, s) as srv:
        code = await create_room(srv.http_url)
        clients = [await connect(srv.ws_url) for _ in range(5)]
        try:
            await clients[0].join("a", room=code)
            await clients[1].join("b", room=code)
            assert (await clients[2].join_or_error("c", room=code))["code"] == "room_full"
            await clients[3].join("d", room=code, spectator=True)
            reply = await clients[4].join_or_error("e", room=code, spectator=True)
            assert reply["code"] == "room_full"
        finally:
            for c in clients:
                await c.close()


async def test_a_player_can_only_act_as_themselves(settings: Settings, server_factory: Any) -> None:
    app = create_app(settings)
    async with serve(server_factory, app, settings) as srv:
        code = await create_room(srv.http_url)
        ada, bob, carol = [await connect(srv.ws_url) for _ in range(3)]
        try:
            await ada.join("ada", room=code)
            await bob.join("bob", room=code)
            await ada.send({"type": "settings", "rounds": 1, "seconds": 120})
            await ada.send({"type": "start"})
            await bob.wait("round_started")
            ada_stroke = [[10, 10, 0], [20, 20, 16], [30, 10, 33]]
            ada.seq = 1
            await ada.send({"type": "points", "seq": 1, "stroke": 0, "points": ada_stroke})
            await bob.wait_ink(ada.player_id)
            victim = ada.player_id
            # bob's messages carry ada's id (and other identity fields): they act for bob only
            forged = {"player_id": victim, "id": victim, "from": victim, "conn": "x:1"}
            bob_stroke = [[5, 5, 0], [6, 6, 10]]
            bob_points = {"type": "points", "seq": 1, "stroke": 0, "points": bob_stroke}
            await bob.send({**bob_points, **forged})
            frame = await ada.wait("frame", pred=lambda m: "ink" in m)  # never ada's own ink
            assert list(frame["ink"]) == [bob.player_id]
            await bob.send({"type": "clear", "seq": 2, **forged})
            await ada.wait_ink(bob.player_id, op="clear")
            await bob.send({"type": "undo", "seq": 3, **forged})
            await bob.send({"type": "settings", "rounds": 3, "seconds": 30, **forged})
            assert (await bob.wait("error", ref="settings"))["code"] in ("not_host", "bad_phase")
            await bob.send({"type": "kick", "player_id": victim, **forged})
            assert (await bob.wait("error", ref="kick"))["code"] == "not_host"
            await bob.send({"type": "leave", **forged})
            assert await asyncio.wait_for(bob.closed, 30) == protocol.CLOSE_NORMAL
            left = await ada.wait("player_left")
            assert left["player_id"] == bob.player_id
            # ada is untouched: still host, connected, with exactly her stroke
            welcome = await carol.join("carol", room=code, spectator=True)
            snap = welcome["snapshot"]
            assert snap["host"] == victim
            assert snap["drawings"][victim] == [ada_stroke]
            assert [p["id"] for p in snap["players"]] == [victim]
            assert next(p for p in snap["players"] if p["id"] == victim)["connected"] is True
            assert ada.find("error") == [] and not ada.closed.done()
        finally:
            for c in (ada, bob, carol):
                await c.close()
