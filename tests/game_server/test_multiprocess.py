"""Several real server processes (``python -m game_server``), one real Redis, one game.

Players are spread over processes with no stickiness; the room's owner is whoever holds its
lease. The failover test SIGKILLs the owner mid-round.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from game_server.config import Settings
from tests.game_client import GameClient
from tests.game_server.test_game_ws import play_round, recognized_points
from tests.quickdraw import model_drawing

REPO = Path(__file__).resolve().parents[2]
LEASE_MS = 1000


@dataclass
class ServerProcess:
    proc: subprocess.Popen[bytes]
    port: int
    proc_id: str
    log: Path

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spawn(port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "game_server", "--port", str(port), "--log-level", "warning"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _tail(log: Path) -> str:
    return log.read_text()[-4000:]


async def start_server(settings: Settings, prompts: list[str], log: Path) -> ServerProcess:
    port = free_port()
    env = dict(os.environ)
    env.update(
        {
            "REDIS_URL": str(settings.redis_url),
            "DOODLE_REDIS_PREFIX": settings.redis_prefix,
            "DOODLE_LEASE_MS": str(LEASE_MS),
            "DOODLE_PROMPTS": ",".join(prompts),
            "DOODLE_INTERMISSION_SECONDS": "0.2",
            "DOODLE_INFERENCE_TICK_MS": "5",
        }
    )
    proc = _spawn(port, env, log)
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient() as client:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited at start-up:\n{_tail(log)}")
            try:
                r = await client.get(f"http://127.0.0.1:{port}/healthz")
                if r.status_code == 200:
                    return ServerProcess(proc, port, r.json()["process"], log)
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"server did not become ready:\n{_tail(log)}")
            await asyncio.sleep(0.05)  # polling a child process at start-up, not test sync


@pytest.fixture
async def cluster(
    settings: Settings, recognizable: dict[str, Any], tmp_path: Path
) -> AsyncIterator[Callable[[int], Any]]:
    procs: list[ServerProcess] = []

    async def start(n: int) -> list[ServerProcess]:
        started = await asyncio.gather(
            *(
                start_server(settings, sorted(recognizable), tmp_path / f"server{i}.log")
                for i in range(len(procs), len(procs) + n)
            )
        )
        procs.extend(started)
        return list(started)

    yield start
    for p in procs:
        if p.proc.poll() is None:
            p.proc.terminate()
    for p in procs:
        try:
            p.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.proc.kill()
            p.proc.wait()


async def lease_of(settings: Settings, code: str) -> str | None:
    rc = aioredis.Redis.from_url(str(settings.redis_url), decode_responses=True)
    try:
        value = await rc.get(f"{settings.redis_prefix}room:{{{code}}}:lease")
        return str(value) if value is not None else None
    finally:
        await rc.aclose()


async def new_room(server: ServerProcess) -> str:
    async with httpx.AsyncClient() as client:
        r = await client.post(f"{server.http_url}/api/rooms")
    assert r.status_code == 201
    return str(r.json()["code"])


async def leaderboard(server: ServerProcess) -> dict[str, int]:
    async with httpx.AsyncClient() as client:
        r = await client.get(f"{server.http_url}/api/leaderboard?period=all")
    return {e["name"]: e["score"] for e in r.json()["entries"]}


async def test_players_on_different_processes_play_one_game(
    cluster: Callable[[int], Any], settings: Settings, recognizable: dict[str, Any]
) -> None:
    a, b = await cluster(2)
    code = await new_room(b)  # created on one process, played on both
    ada = await GameClient.connect(a.ws_url)
    bob = await GameClient.connect(b.ws_url)
    try:
        await ada.join("ada", room=code)
        await bob.join("bob", room=code)
        owner = await lease_of(settings, code)
        assert owner is not None and owner.split()[0] in (a.proc_id, b.proc_id)
        await ada.send({"type": "settings", "rounds": 2, "seconds": 120})
        await bob.wait("settings")
        await bob.send({"type": "start"})
        assert (await bob.wait("error"))["code"] == "not_host"  # checked by the owner
        await ada.send({"type": "start"})
        await play_round([ada, bob], recognizable, 1)
        await play_round([ada, bob], recognizable, 2)
        game = await bob.wait("game_ended")
        earned = recognized_points(bob)
        assert recognized_points(ada) == earned
        assert {r["player_id"]: r["score"] for r in game["ranking"]} == earned
        assert await leaderboard(a) == {"ada": earned[ada.player_id], "bob": earned[bob.player_id]}
    finally:
        await ada.close()
        await bob.close()


async def test_owner_killed_mid_round_another_process_takes_over(
    cluster: Callable[[int], Any], settings: Settings, recognizable: dict[str, Any]
) -> None:
    a, b, c = await cluster(3)
    code = await new_room(a)
    ada = await GameClient.connect(a.ws_url)
    bob = await GameClient.connect(b.ws_url)
    try:
        await ada.join("ada", room=code)  # ada's join makes process a the owner
        await bob.join("bob", room=code)
        owner = await lease_of(settings, code)
        assert owner == f"{a.proc_id} 1"
        await ada.send({"type": "settings", "rounds": 2, "seconds": 120})
        await bob.wait("settings")
        await ada.send({"type": "start"})
        await play_round([ada, bob], recognizable, 1)  # scored by the first owner
        scores_1 = (await bob.wait("round_ended", round=1, cursor="s"))["scores"]

        # round 2: ada draws her first stroke; once it is relayed, the owner is killed
        start2 = await bob.wait("round_started", round=2)
        drawing = recognizable[start2["prompt"]][0]
        await ada.wait("round_started", round=2)
        ada.mark("r2")
        sent = await ada.draw(drawing[:1])
        assert sent > 0
        await ada.settle(sent, "r2")  # every update of the stroke was applied (or refused)
        refused = [m for m in ada.find("error") if m.get("ref") == "points"]
        killed_at = time.monotonic()
        a.proc.send_signal(signal.SIGKILL)
        a.proc.wait()
        assert await asyncio.wait_for(ada.closed, 30) != 1000

        # ada reconnects to another live process with her resume token
        token, ada_id = ada.resume_token, ada.player_id
        await ada.close()
        ada = await GameClient.connect(c.ws_url)
        welcome = await ada.join("ada", resume=token)
        takeover_s = time.monotonic() - killed_at
        snap = welcome["snapshot"]
        assert welcome["player_id"] == ada_id
        assert snap["phase"] == "drawing" and snap["round"] == 2
        assert snap["deadline"] == start2["deadline"]  # same deadline under the new owner
        expected = {
            pid: score + snap["recognized"].get(pid, {}).get("points", 0)
            for pid, score in scores_1.items()
        }
        assert {p["id"]: p["score"] for p in snap["players"]} == expected
        assert snap["drawings"].get(ada_id) == drawing[:1] or refused, (snap, refused)
        new_owner = await lease_of(settings, code)
        assert new_owner is not None
        proc, epoch = new_owner.split()
        assert proc in (b.proc_id, c.proc_id) and int(epoch) == 2

        # the round goes on: both finish their drawings and are recognized
        ada.seq = 1000
        tasks = [bob.draw(recognizable[start2["prompt"]][-1])]
        if ada_id not in snap["recognized"]:
            tasks.append(ada.draw(drawing[1:], first_stroke=1))
        await asyncio.gather(*tasks)
        end2 = await bob.wait("round_ended", round=2)
        assert all(r["recognized"] for r in end2["results"])
        game = await bob.wait("game_ended")

        # every recognition counted exactly once: in the game, and on the leaderboard
        earned = recognized_points(bob)
        assert {r["player_id"]: r["score"] for r in game["ranking"]} == earned
        assert end2["scores"] == earned
        assert await leaderboard(b) == {"ada": earned[ada_id], "bob": earned[bob.player_id]}
        # and in the prompts' difficulty: each round once, round 2 although its owner changed
        async with httpx.AsyncClient() as client:
            rows = (await client.get(f"{c.http_url}/api/prompts")).json()["prompts"]
        played = {r["label"]: (r["rounds"], r["drawings"]) for r in rows if r["rounds"]}
        start1 = (await bob.wait("round_started", round=1, cursor="p"))["prompt"]
        assert played == {start1: (1, 2), start2["prompt"]: (1, 2)}
        print(f"failover: ada seated again {takeover_s:.2f} s after SIGKILL of the owner")
    finally:
        await ada.close()
        await bob.close()


async def guess_all(people: list[GameClient], drawer: GameClient, turn: int) -> None:
    """Every connected guesser types the word of ``turn`` at once."""
    word = (await drawer.wait("round_started", turn=turn))["prompt"]
    for p in people:
        if p is not drawer:
            await p.send({"type": "chat", "text": word})
    await drawer.wait("round_ended", turn=turn)


def unrecognized_mark(classifier: Any, word: str) -> list[list[list[float]]]:
    """A tiny drawing the model does not take for ``word``."""
    marks = [[[[0, 0, 0], [3, 4, 10]]], [[[0, 0, 0], [0, 50, 10]]], [[[0, 0, 0], [50, 0, 10]]]]
    labels = list(classifier.labels)
    threshold = Settings().recognition_confidence
    for mark, row in zip(marks, classifier.predict([model_drawing(m) for m in marks]), strict=True):
        if labels[int(row.argmax())] != word or float(row.max()) < threshold:
            return mark
    raise AssertionError(f"every mark looks like {word}")


async def test_beat_the_ai_turn_survives_its_owner_being_killed(
    cluster: Callable[[int], Any], settings: Settings, classifier: Any
) -> None:
    """The owner process dies mid-turn (it holds a guesser, not the drawer): the turn goes on
    under a new owner with the guess made before, and everything is counted once."""
    a, b, c = await cluster(3)
    code = await new_room(a)
    bob = await GameClient.connect(a.ws_url)  # first seated: process a owns the room
    ada, dan = await GameClient.connect(b.ws_url), await GameClient.connect(b.ws_url)
    cy = await GameClient.connect(c.ws_url)
    people = [bob, ada, cy, dan]
    names = ["bob", "ada", "cy", "dan"]
    try:
        for p, name in zip(people, names, strict=True):
            await p.join(name, room=code)
        assert await lease_of(settings, code) == f"{a.proc_id} 1"
        await bob.send({"type": "settings", "rounds": 1, "seconds": 120, "mode": "beat"})
        await dan.wait("settings")
        await bob.send({"type": "start"})
        await guess_all(people, bob, 1)

        # turn 2: ada draws a mark the AI does not recognize, cy guesses, then the owner dies
        word = (await ada.wait("round_started", turn=2))["prompt"]
        assert (await dan.wait("round_started", turn=2))["prompt"] is None
        ada.mark("t2")
        await ada.settle(await ada.draw(unrecognized_mark(classifier, word)), "t2")
        await cy.send({"type": "chat", "text": word})
        first = await dan.wait("guessed", player_id=cy.player_id)
        a.proc.send_signal(signal.SIGKILL)
        a.proc.wait()
        await dan.send({"type": "chat", "text": word})  # applied by the next owner
        second = await ada.wait("guessed", player_id=dan.player_id, within=60)
        assert first["first"] and not second["first"] and second["points"] < first["points"]
        end2 = await cy.wait("round_ended", turn=2)
        assert end2["winner"] == cy.player_id
        assert [g["player_id"] for g in end2["guessers"]] == [cy.player_id, dan.player_id]
        assert end2["scores"][ada.player_id] == second["drawer_score"]
        owner = await lease_of(settings, code)
        assert owner is not None and owner.split()[0] in (b.proc_id, c.proc_id)

        live = [ada, cy, dan]
        await guess_all(live, cy, 3)
        await guess_all(live, dan, 4)
        game = await ada.wait("game_ended")
        final = {r["player_id"]: r["score"] for r in game["ranking"]}
        assert final["ai"] == 0 and game["ai_score"] == 0
        assert await leaderboard(b) == {
            name: final[p.player_id] for p, name in zip(people, names, strict=True)
        }
        async with httpx.AsyncClient() as client:
            rows = (await client.get(f"{c.http_url}/api/prompts")).json()["prompts"]
        played = {r["label"]: (r["rounds"], r["drawings"]) for r in rows if r["rounds"]}
        assert played == {word: (1, 1)}  # only turn 2 had a drawing, counted once
    finally:
        for p in people:
            await p.close()
