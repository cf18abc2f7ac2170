"""A "Beat the AI" game over real WebSockets, uvicorn, Redis and the shipped model: two people
and the AI race on real Quick, Draw! drawings; a person wins one turn, the AI the other."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx

from game_server.app import create_app
from game_server.config import Settings
from tests.game_client import GameClient
from tests.game_server.test_game_ws import create_room
from tests.quickdraw import model_drawing


async def test_two_people_and_the_ai_race_on_real_drawings(
    game_settings: Settings, server_factory: Any, recognizable: dict[str, Any], classifier: Any
) -> None:
    # prompts whose first stroke alone the AI does not recognize: the person can win turn 1
    labels = list(classifier.labels)
    known = sorted(recognizable)
    first_strokes = classifier.predict([model_drawing(recognizable[w][0][:1]) for w in known])
    slow = tuple(
        w for w, row in zip(known, first_strokes, strict=True) if not classifier.recognizes(row, w)
    )
    assert len(slow) >= 4, slow
    app = create_app(replace(game_settings, prompts=slow))
    async with server_factory(app) as srv:
        code = await create_room(srv.http_url)
        ada, bob, eve = [await GameClient.connect(srv.ws_url) for _ in range(3)]
        try:
            await ada.join("ada", room=code)
            await bob.join("bob", room=code)
            await eve.join("eve", room=code, spectator=True)
            await ada.send(
                {
                    "type": "settings",
                    "rounds": 1,
                    "seconds": 120,
                    "mode": "beat",
                    "difficulty": "mixed",
                }
            )
            assert (await bob.wait("settings"))["mode"] == "beat"
            await ada.send({"type": "start"})

            # turn 1: ada draws, bob guesses; only ada is told the word
            mine = await ada.wait("round_started", turn=1)
            theirs = await bob.wait("round_started", turn=1)
            word = mine["prompt"]
            assert mine["drawer"] == theirs["drawer"] == ada.player_id
            assert theirs["prompt"] is None and (await eve.wait("round_started"))["prompt"] is None
            assert len(theirs["hint"]) == len(word) and set(theirs["hint"]) <= {"_", " "}
            await bob.send({"type": "points", "seq": 1, "stroke": 0, "points": [[1, 1, 0]]})
            assert (await bob.wait("error", ref="points"))["code"] == "not_drawer"
            ada.mark("t1")
            await ada.draw(recognizable[word][0][:1], batch=512)
            await ada.settle("t1")  # the AI's guess on it came in a frame
            await bob.wait_ink(ada.player_id, op="points")  # bob has seen the stroke
            assert bob.guesses(ada.player_id) and not ada.ink(ada.player_id)
            await bob.send({"type": "chat", "text": "<b>a potato</b>"})
            line = await eve.wait("chat")
            assert line == {
                "type": "chat",
                "player_id": bob.player_id,
                "name": "bob",
                "text": "<b>a potato</b>",
            }
            await bob.send({"type": "chat", "text": word[:-1] + "#"})
            assert (await bob.wait("close_guess"))["text"] == word[:-1] + "#"
            await ada.send({"type": "chat", "text": word})
            assert (await ada.wait("error", ref="chat"))["code"] == "reveals_word"
            await bob.send({"type": "chat", "text": word.upper()})
            got = await ada.wait("guessed")
            assert got["player_id"] == bob.player_id and got["first"] and got["drawer_points"] > 0
            end1 = await eve.wait("round_ended", turn=1)
            assert end1["winner"] == bob.player_id and end1["drawer"] == ada.player_id
            assert end1["scores"]["ai"] == 0
            assert end1["scores"][bob.player_id] == got["points"]
            assert end1["scores"][ada.player_id] == got["drawer_points"]
            for c in (ada, eve):  # the correct guess is never shown
                assert not [m for m in c.find("chat") if word.lower() in m["text"].lower()]

            # turn 2: bob draws a real drawing to the end, ada types wrong guesses: the AI wins
            start2 = await bob.wait("round_started", turn=2)
            word2 = start2["prompt"]
            assert start2["drawer"] == bob.player_id and word2 != word
            await ada.send({"type": "chat", "text": "a spaceship?"})
            await bob.draw(recognizable[word2][0])
            rec = await ada.wait("recognized", player_id=bob.player_id)
            assert rec["label"] == word2 and rec["first"] and rec["points"] > 0
            end2 = await ada.wait("round_ended", turn=2)
            assert end2["winner"] == "ai" and end2["next_round_at"] is None
            game = await ada.wait("game_ended")
            assert game["ai_score"] == rec["points"] == end2["scores"]["ai"]
            margins = {v["player_id"]: v["margin"] for v in game["versus_ai"]}
            assert margins == {
                ada.player_id: got["drawer_points"] - rec["points"],
                bob.player_id: got["points"] - rec["points"],
            }
            assert {r["player_id"]: r["score"] for r in game["ranking"]} == end2["scores"]

            # the gallery keeps each turn (the drawer's drawing), the AI in the ranking
            async with httpx.AsyncClient() as client:
                record = (await client.get(f"{srv.http_url}/api/games/{game['game_id']}")).json()
                png = await client.get(
                    f"{srv.http_url}/api/games/{game['game_id']}/1/{bob.player_id}.png"
                )
            assert [
                (r["round"], r["turn"], r["drawer"], r["prompt"]) for r in record["rounds"]
            ] == [
                (1, 1, ada.player_id, word),
                (1, 2, bob.player_id, word2),
            ]
            assert [[x["player_id"] for x in r["results"]] for r in record["rounds"]] == [
                [ada.player_id],
                [bob.player_id],
            ]
            assert record["ranking"] == game["ranking"] and record["ai_score"] == game["ai_score"]
            assert png.status_code == 200 and png.headers["content-type"] == "image/png"

            async with httpx.AsyncClient() as client:
                board = (await client.get(f"{srv.http_url}/api/leaderboard")).json()["entries"]
                assert {e["name"]: e["score"] for e in board} == {
                    "bob": got["points"],
                    "ada": got["drawer_points"],
                }  # the AI is on the game's scoreboard, not on the leaderboards
                rows = (await client.get(f"{srv.http_url}/api/prompts")).json()["prompts"]
            stats = {r["label"]: r for r in rows}
            assert len(rows) == len(labels)
            assert [r["difficulty"] for r in rows] == sorted(
                (r["difficulty"] for r in rows), reverse=True
            )
            assert stats[word]["rounds"] == 1 and stats[word]["recognition_rate"] == 0.0
            assert stats[word2]["rounds"] == 1 and stats[word2]["recognition_rate"] == 1.0
            assert stats[word2]["median_ms"] is not None and stats[word2]["source"] == "play"
            # play again in beat mode
            await ada.send({"type": "play_again"})
            assert (await bob.wait("lobby"))["scores"]["ai"] == 0
        finally:
            for c in (ada, bob, eve):
                await c.close()
