"""Whole games over real WebSockets, a real uvicorn server, real Redis and the shipped model,
with real Quick, Draw! drawings streamed stroke by stroke."""

from __future__ import annotations

import asyncio
import base64
import io
from dataclasses import replace
from typing import Any

import httpx
import numpy as np
import redis.asyncio as aioredis
from PIL import Image

from game_server.app import create_app
from game_server.config import Settings
from game_server.inference import MAX_LEAD_MS, top_guesses
from tests.game_client import GameClient
from tests.quickdraw import PointStroke, model_drawing, update_batches

ROUND_SECONDS = 120  # long rounds: the game ends because everyone is recognized, not by time


async def create_room(http_url: str) -> str:
    async with httpx.AsyncClient() as client:
        r = await client.post(f"{http_url}/api/rooms")
    assert r.status_code == 201
    body = r.json()
    assert body["url"] == f"/r/{body['code']}"
    return str(body["code"])


def within_lead(strokes: list[PointStroke]) -> list[PointStroke]:
    """The drawing with its own clock scaled to last less than ``MAX_LEAD_MS``: however fast
    it is sent, its clock never runs further ahead of the server's than the live belief
    allows (``inference.Sketch.belief_time``), so the belief is on the drawing's own clock."""
    span = max(p[2] for s in strokes for p in s) or 1.0
    k = 0.9 * MAX_LEAD_MS / span
    return [[[x, y, round(t * k, 2)] for x, y, t in s] for s in strokes]


async def draw_paced(client: GameClient, strokes: list[PointStroke]) -> None:
    """Stream a drawing in updates of 16 points, each once the AI's guess on the previous one
    came back (so that the server classifies every update); stop once recognized (the next
    update is refused: the drawing is locked or the round is over)."""

    def answered(m: dict[str, Any]) -> bool:
        mine = m.get("guesses", {}).get(client.player_id, {})
        return (m["type"] == "frame" and mine.get("seq") == client.seq) or (
            m["type"] == "error" and m.get("ref") == "points"
        )

    for index, points in update_batches(strokes, 16):
        client.seq += 1
        await client.send({"type": "points", "seq": client.seq, "stroke": index, "points": points})
        if (await client._wait(answered, "frame", 60.0, "paced"))["type"] == "error":
            return


async def play_round(
    players: list[GameClient],
    recognizable: dict[str, Any],
    round_no: int,
    paced: GameClient | None = None,
) -> dict[str, Any]:
    """Everyone draws a drawing of the prompt (``paced``: update by update, see
    :func:`draw_paced`)."""
    starts = [await p.wait("round_started", round=round_no) for p in players]
    prompt = starts[0]["prompt"]
    assert all(s["prompt"] == prompt and s["deadline"] == starts[0]["deadline"] for s in starts)
    drawings = recognizable[prompt]
    await asyncio.gather(
        *(
            draw_paced(p, within_lead(drawings[i % len(drawings)]))
            if p is paced
            else p.draw(drawings[i % len(drawings)])
            for i, p in enumerate(players)
        )
    )
    ended = [await p.wait("round_ended", round=round_no) for p in players]
    assert all(e == ended[0] for e in ended)
    return ended[0]


def assert_live_belief(
    classifier: Any, strokes: list[PointStroke], announced: list[dict[str, Any]]
) -> None:
    """The guesses announced on a drawing (sent in updates of 16 points from ``seq`` 1) are
    its live belief: the model's row of each update the server classified (the ``seq`` a
    guess covers) through ``classifier.new_belief()`` on the drawing's own clock; a guess
    repeating the previous one's ``seq`` is the belief settled on the drawing (idle since
    that update, in a pause or at the end)."""
    batches = list(update_batches(strokes, 16))
    belief, applied = classifier.new_belief(), 0
    cut: list[PointStroke] = []
    seqs = [g["seq"] for g in announced]
    settled = [i > 0 and seqs[i] == seqs[i - 1] for i in range(len(seqs))]
    live = [q for q, again in zip(seqs, settled, strict=True) if not again]
    assert live == list(range(1, len(live) + 1))
    for g, again in zip(announced, settled, strict=True):
        for index, points in batches[applied : g["seq"]]:
            if index == len(cut):
                cut.append([])
            cut[index] = cut[index] + points
        applied = g["seq"]
        row = classifier.predict([model_drawing(cut)])[0]
        if again:
            expected = top_guesses(classifier.labels, belief.settle(row))
        else:
            expected = top_guesses(classifier.labels, belief.update(row, cut[-1][-1][2]))
        assert [x["label"] for x in g["guesses"]] == [x["label"] for x in expected]
        np.testing.assert_allclose(
            [x["p"] for x in g["guesses"]], [x["p"] for x in expected], atol=2e-4
        )


def recognized_points(client: GameClient) -> dict[str, int]:
    out: dict[str, int] = {}
    for m in client.find("recognized"):
        out[m["player_id"]] = out.get(m["player_id"], 0) + m["points"]
    return out


async def test_two_players_play_a_full_game_with_a_resume(
    game_settings: Settings, server_factory: Any, recognizable: dict[str, Any], classifier: Any
) -> None:
    app = create_app(game_settings)
    async with server_factory(app) as srv:
        code = await create_room(srv.http_url)
        ada = await GameClient.connect(srv.ws_url)
        bob = await GameClient.connect(srv.ws_url)
        try:
            w1 = await ada.join("ada", room=code)
            assert w1["snapshot"]["host"] == ada.player_id
            await bob.join("bob", room=code)
            await ada.wait("player_joined")
            await ada.send({"type": "settings", "rounds": 2, "seconds": ROUND_SECONDS})
            assert (await bob.wait("settings"))["rounds"] == 2
            await ada.send({"type": "start"})
            started = await bob.wait("game_started")
            assert started["rounds"] == 2

            # round 1: both draw real drawings of the prompt; the AI recognizes both live
            ended = await play_round([ada, bob], recognizable, 1, paced=bob)
            results = {r["player_id"]: r for r in ended["results"]}
            for pid in (ada.player_id, bob.player_id):
                r = results[pid]
                assert r["recognized"] is True
                assert r["guesses"][0]["label"] == ended["prompt"]
                img = np.asarray(Image.open(io.BytesIO(base64.b64decode(r["image"]))))
                assert img.shape == (28, 28) and img.max() > 0
            assert ended["next_round_at"] is not None
            guesses = ada.guesses(bob.player_id)
            assert guesses and all(len(g["guesses"]) == 3 for g in guesses)
            # what the server announced is the model's live belief of bob's updates, each one
            bob_drew = within_lead(
                recognizable[ended["prompt"]][1 % len(recognizable[ended["prompt"]])]
            )
            assert_live_belief(classifier, bob_drew, guesses)
            assert len(ada.ink(bob.player_id)) >= 1

            # round 2: bob draws one stroke, drops, resumes with his token, finishes
            start2 = await bob.wait("round_started", round=2)
            prompt = start2["prompt"]
            drawing = recognizable[prompt][0]
            score_before = ended["scores"][bob.player_id]
            bob.mark("r2")
            sent = await bob.draw(drawing[:1])
            assert sent > 0
            token, bob_id = bob.resume_token, bob.player_id
            await bob.settle("r2")
            await bob.close()
            await ada.wait("player_status", player_id=bob_id, connected=False)
            bob = await GameClient.connect(srv.ws_url)
            welcome = await bob.join("bob", resume=token)
            assert welcome["player_id"] == bob_id
            snap = welcome["snapshot"]
            assert snap["phase"] == "drawing" and snap["round"] == 2
            assert snap["deadline"] == start2["deadline"]
            # his score: round 1's, plus round 2's if a stroke was already enough for the AI
            r2_points = snap["recognized"].get(bob_id, {}).get("points", 0)
            score_now = next(p for p in snap["players"] if p["id"] == bob_id)["score"]
            assert score_now == score_before + r2_points
            bob.seq = 100
            assert snap["drawings"][bob_id] == drawing[:1] or bob_id in snap["recognized"]
            done = len(snap["drawings"].get(bob_id, []))
            tasks = [ada.draw(recognizable[prompt][-1])]
            if bob_id not in snap["recognized"]:
                tasks.append(bob.draw(drawing[done:], first_stroke=done))
            await asyncio.gather(*tasks)
            end2 = await ada.wait("round_ended", round=2)
            assert end2["next_round_at"] is None
            game = await ada.wait("game_ended")

            # scores: exactly the points of the recognitions, counted once
            earned = recognized_points(ada)
            assert {r["player_id"]: r["score"] for r in game["ranking"]} == earned
            assert end2["scores"] == earned
            async with httpx.AsyncClient() as client:
                for period in ("all", "today"):
                    r = await client.get(f"{srv.http_url}/api/leaderboard?period={period}")
                    board = {e["name"]: e["score"] for e in r.json()["entries"]}
                    assert board == {"ada": earned[ada.player_id], "bob": earned[bob_id]}
            # per-game scores in Redis
            rc = aioredis.Redis.from_url(game_settings.redis_url, decode_responses=True)
            try:
                key = f"{game_settings.redis_prefix}room:{{{code}}}:scores:{game['game_id']}"
                stored = {k: int(v) for k, v in await rc.zrange(key, 0, -1, withscores=True)}
                assert stored == earned
            finally:
                await rc.aclose()

            # play again in the same room
            await ada.send({"type": "play_again"})
            assert (await bob.wait("lobby"))["scores"] == {ada.player_id: 0, bob_id: 0}
        finally:
            await ada.close()
            await bob.close()


async def test_bad_input_gets_errors_and_the_room_survives(
    game_settings: Settings, server_factory: Any
) -> None:
    app = create_app(replace(game_settings, max_message_bytes=4096))
    async with server_factory(app) as srv:
        code = await create_room(srv.http_url)
        ada = await GameClient.connect(srv.ws_url)
        bob = await GameClient.connect(srv.ws_url)
        try:
            await ada.send({"type": "start"})
            assert (await ada.wait("error"))["code"] == "not_joined"
            assert (await ada.join_or_error("ada", room="ZZZZZZZZ"))["code"] == "room_not_found"
            await ada.join("ada", room=code)
            await bob.join("bob", room=code)
            ada_errors = len(ada.find("error"))
            bad: list[tuple[Any, str]] = [
                ("{", "bad_json"),
                (b"\x00\x01", "bad_message"),
                ({"type": "points", "seq": 1, "stroke": 0, "points": [[1, 2, 0]]}, "bad_phase"),
                ({"type": "points", "seq": 1, "stroke": 0, "points": [[1e9, 2, 0]]}, "bad_points"),
                ({"type": "join", "name": "again", "room": code}, "already_joined"),
                ({"type": "kick", "player_id": ada.player_id}, "not_host"),
                ({"type": "nope"}, "bad_message"),
                ("x" * 5000, "too_large"),
            ]
            for msg, code_ in bad:
                await bob.send(msg)
                err = await bob.wait("error", cursor="bad")
                assert err["code"] == code_, (msg, err)
            # the room works on: bob still gets pongs and events; ada saw no errors
            await ada.send({"type": "settings", "rounds": 1, "seconds": 30})
            await bob.wait("settings")
            await bob.send({"type": "ping"})
            await bob.wait("pong")
            assert len(ada.find("error")) == ada_errors
            # kick: bob's socket is closed with 4001, ada sees him leave
            await ada.send({"type": "kick", "player_id": bob.player_id})
            assert await asyncio.wait_for(bob.closed, 30) == 4001
            left = await ada.wait("player_left")
            assert left["reason"] == "kicked"
        finally:
            await ada.close()
            await bob.close()


async def test_quickplay_fills_a_public_room_and_host_hands_over(
    game_settings: Settings, server_factory: Any
) -> None:
    app = create_app(replace(game_settings, room_capacity=2))
    async with server_factory(app) as srv:
        clients = [await GameClient.connect(srv.ws_url) for _ in range(3)]
        try:
            w = [await c.join(f"p{i}", quickplay=True) for i, c in enumerate(clients)]
            rooms = [x["snapshot"]["room"] for x in w]
            assert rooms[0] == rooms[1] != rooms[2]  # capacity 2: the third opens a new room
            assert w[0]["snapshot"]["public"] is True
            await clients[0].send({"type": "leave"})
            assert await asyncio.wait_for(clients[0].closed, 30) == 1000
            changed = await clients[1].wait("host_changed")
            assert changed["player_id"] == clients[1].player_id
        finally:
            for c in clients:
                await c.close()


async def test_room_links_serve_the_web_client(settings: Settings, server_factory: Any) -> None:
    app = create_app(settings)
    async with server_factory(app) as srv, httpx.AsyncClient() as client:
        code = await create_room(srv.http_url)
        page = await client.get(f"{srv.http_url}/r/{code}")
        assert page.status_code == 200 and "Doodle Arena" in page.text
        bad = await client.get(f"{srv.http_url}/api/leaderboard?period=week")
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_request"
        empty = await client.get(f"{srv.http_url}/api/leaderboard?period=today&limit=5")
        assert empty.json() == {"period": "today", "entries": []}


async def test_redis_outage_gives_clear_errors(settings: Settings, server_factory: Any) -> None:
    from game_server.redis_embedded import EmbeddedRedis

    with EmbeddedRedis() as own:
        app = create_app(replace(settings, redis_url=own.url))
        async with server_factory(app) as srv:
            code = await create_room(srv.http_url)
            ada = await GameClient.connect(srv.ws_url)
            try:
                await ada.join("ada", room=code)
                own.stop()
                await ada.send({"type": "start"})
                err = await ada.wait("error")
                assert err["code"] == "unavailable"
                await ada.send({"type": "ping"})
                await ada.wait("pong")  # the socket survives
                async with httpx.AsyncClient() as client:
                    r = await client.post(f"{srv.http_url}/api/rooms")
                    assert r.status_code == 503
                    assert r.json()["error"]["code"] == "unavailable"
                    r = await client.get(f"{srv.http_url}/api/leaderboard")
                    assert r.status_code == 503
            finally:
                await ada.close()
