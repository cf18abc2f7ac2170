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
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from game_server.config import Settings
from tests.game_client import GameClient
from tests.game_server.test_game_ws import play_round, recognized_points

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


def _spawn(
    port: int, env: dict[str, str], log: Path, soft_nofile: int | None
) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "game_server", "--port", str(port), "--log-level", "info"]
    if soft_nofile is not None:  # start it with a low soft open-files limit
        cmd = ["sh", "-c", f'ulimit -Sn {soft_nofile} && exec "$@"', "sh", *cmd]
    with log.open("wb") as out:
        return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)


def _tail(log: Path) -> str:
    return log.read_text()[-4000:]


async def start_server(
    settings: Settings,
    prompts: list[str],
    log: Path,
    env: dict[str, str] | None = None,
    soft_nofile: int | None = None,
) -> ServerProcess:
    """A real ``python -m game_server`` on a free port; ``settings.redis_url`` None: it starts
    its embedded Redis. ``env``: more ``DOODLE_*`` settings."""
    port = free_port()
    full = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    if settings.redis_url is not None:
        full["REDIS_URL"] = settings.redis_url
    full.update(
        {
            "DOODLE_REDIS_PREFIX": settings.redis_prefix,
            "DOODLE_LEASE_MS": str(LEASE_MS),
            "DOODLE_PROMPTS": ",".join(prompts),
            "DOODLE_INTERMISSION_SECONDS": "0.2",
            "DOODLE_INFERENCE_TICK_MS": "5",
            "DOODLE_DATA_DIR": "",
            **(env or {}),
        }
    )
    proc = _spawn(port, full, log, soft_nofile)
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

    async def start(n: int, env: dict[str, str] | None = None) -> list[ServerProcess]:
        started = await asyncio.gather(
            *(
                start_server(settings, sorted(recognizable), tmp_path / f"server{i}.log", env)
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
        print(f"failover: ada seated again {takeover_s:.2f} s after SIGKILL of the owner")
    finally:
        await ada.close()
        await bob.close()


async def test_per_address_limits_are_global_and_idle_sockets_go_first(
    cluster: Callable[[int, dict[str, str]], Any], settings: Settings
) -> None:
    env = {
        "DOODLE_MAX_CONNECTIONS_PER_IP": "4",
        "DOODLE_JOIN_ATTEMPTS_PER_MINUTE": "3",
        "DOODLE_JOIN_TIMEOUT_SECONDS": "300",  # idle sockets stay until this test closes them
    }
    a, b = await cluster(2, env)
    code = await new_room(a)
    clients: list[GameClient] = []

    async def connect(server: ServerProcess) -> GameClient:
        client = await GameClient.connect(server.ws_url)
        clients.append(client)
        await client.send({"type": "ping"})
        await client.wait("pong")  # admitted (a refused socket is closed before any pong)
        return client

    try:
        ada = await connect(a)
        await ada.join("ada", room=code)
        bob = await connect(b)
        await bob.join("bob", room=code)
        idle = [await connect(a) for _ in range(2)]  # 127.0.0.1 holds 4 sockets, 2 processes
        # counted over both processes: b has no idle socket of the address to let go
        extra = await GameClient.connect(b.ws_url)
        clients.append(extra)
        assert await asyncio.wait_for(extra.closed, 30) == 4003
        # a real player arriving at a: the oldest idle socket makes room, not the newcomer
        carol = await connect(a)
        assert await asyncio.wait_for(idle[0].closed, 30) == 4003
        await carol.join("carol", room=code)  # the 3rd join of the address, on any process
        refused = await idle[1].join_or_error("eve", room=code)  # the 4th
        assert refused["type"] == "error" and refused["code"] == "rate_limited"
        for player in (ada, bob, carol):  # joined players are never closed by the limits
            player.mark("check")
            await player.send({"type": "ping"})
            await player.wait("pong", cursor="check")
            assert not player.closed.done()
    finally:
        for client in clients:
            await client.close()


async def paused(server: ServerProcess, until: Awaitable[Any]) -> float:
    """SIGSTOP ``server`` until ``until`` is done (bounded), then SIGCONT it, whatever happens.
    Returns the monotonic time of the SIGCONT."""
    server.proc.send_signal(signal.SIGSTOP)
    try:
        await asyncio.wait_for(until, 30)
    finally:
        server.proc.send_signal(signal.SIGCONT)
    return time.monotonic()


def refused(client: GameClient, code: str) -> list[dict[str, Any]]:
    return [e for e in client.find("error") if e["code"] == code]


async def test_a_paused_process_gets_its_players_seats_back(
    cluster: Callable[[int], Any], settings: Settings, recognizable: dict[str, Any]
) -> None:
    a, b = await cluster(2)
    code = await new_room(a)
    ada = await GameClient.connect(a.ws_url)
    bob = await GameClient.connect(b.ws_url)
    try:
        await ada.join("ada", room=code)  # process a owns the room, bob plays on b
        await bob.join("bob", room=code)
        assert await lease_of(settings, code) == f"{a.proc_id} 1"
        await ada.send({"type": "settings", "rounds": 2, "seconds": 120})
        await ada.send({"type": "start"})
        await play_round([ada, bob], recognizable, 1)
        score_1 = (await bob.wait("round_ended", round=1, cursor="s"))["scores"][bob.player_id]
        assert score_1 > 0

        drawing = recognizable[(await bob.wait("round_started", round=2))["prompt"]][0]
        await ada.wait("round_started", round=2, cursor="r2")
        bob.mark("r2")
        await bob.settle(await bob.draw(drawing[:1]), "r2")
        # b stops beating: the owner takes bob for gone; meanwhile bob draws on
        gone = ada.wait("player_status", player_id=bob.player_id, connected=False)
        resumed = await paused(b, asyncio.gather(gone, bob.draw(drawing[1:], first_stroke=1)))

        # b is back: bob's still-open socket gets its seat back before his strokes are applied
        await ada.wait("player_status", player_id=bob.player_id, connected=True)
        print(f"pause: bob seated again {time.monotonic() - resumed:.2f} s after SIGCONT of b")
        again = await bob.wait("welcome")
        assert again["player_id"] == bob.player_id
        seat = next(p for p in again["snapshot"]["players"] if p["id"] == bob.player_id)
        # recognized before or after the pause
        rec = await ada.wait("recognized", player_id=bob.player_id, cursor="r2")
        assert rec["score"] == score_1 + rec["points"]
        assert seat["score"] in (score_1, rec["score"])  # nothing lost while he was "gone"
        await ada.draw(drawing)
        end = await ada.wait("round_ended", round=2)
        assert end["scores"][bob.player_id] == rec["score"]
        mine = next(r for r in end["results"] if r["player_id"] == bob.player_id)
        assert mine["recognized"] and mine["strokes"][0] == drawing[0]
        assert not refused(bob, "not_joined") and not refused(bob, "bad_resume")
    finally:
        await ada.close()
        await bob.close()


async def test_a_paused_owner_gets_its_players_seats_back(
    cluster: Callable[[int], Any], settings: Settings, recognizable: dict[str, Any]
) -> None:
    a, b = await cluster(2)
    code = await new_room(a)
    ada = await GameClient.connect(a.ws_url)
    bob = await GameClient.connect(b.ws_url)
    try:
        await ada.join("ada", room=code)
        await bob.join("bob", room=code)
        await ada.send({"type": "settings", "rounds": 1, "seconds": 120})
        await ada.send({"type": "start"})
        drawing = recognizable[(await ada.wait("round_started"))["prompt"]][0]
        ada.mark("r1")
        await ada.settle(await ada.draw(drawing[:1]), "r1")
        # the owner stops past its lease: b takes the room over and takes ada for gone
        gone = bob.wait("player_status", player_id=ada.player_id, connected=False)
        resumed = await paused(a, asyncio.gather(gone, ada.draw(drawing[1:], first_stroke=1)))
        owner = await lease_of(settings, code)
        assert owner is not None and owner.split()[0] == b.proc_id

        await bob.wait("player_status", player_id=ada.player_id, connected=True)
        print(f"pause: ada seated again {time.monotonic() - resumed:.2f} s after SIGCONT of a")
        assert (await ada.wait("welcome"))["player_id"] == ada.player_id
        rec = await bob.wait("recognized", player_id=ada.player_id, cursor="rec")
        await bob.draw(drawing)
        end = await bob.wait("round_ended")
        mine = next(r for r in end["results"] if r["player_id"] == ada.player_id)
        assert mine["recognized"] and mine["points"] == rec["points"]
        assert mine["strokes"][0] == drawing[0]
        assert not refused(ada, "not_joined") and not refused(ada, "bad_resume")
    finally:
        await ada.close()
        await bob.close()


async def test_a_takeover_after_the_deadline_applies_the_strokes_sent_before_it(
    cluster: Callable[[int], Any], settings: Settings, recognizable: dict[str, Any]
) -> None:
    a, b = await cluster(2)
    code = await new_room(a)
    ada = await GameClient.connect(a.ws_url)
    bob = await GameClient.connect(b.ws_url)
    rc = aioredis.Redis.from_url(str(settings.redis_url), decode_responses=True)
    try:
        await ada.join("ada", room=code)  # process a owns the room
        await bob.join("bob", room=code)
        await ada.send({"type": "settings", "rounds": 1, "seconds": 5})
        await ada.send({"type": "start"})
        started = await bob.wait("round_started")
        shown = time.monotonic()
        drawing = recognizable[started["prompt"]][0]
        a.proc.send_signal(signal.SIGSTOP)  # the owner stops with the round running
        try:
            # its lease outlives the deadline by 0.8 s: the takeover lands after the deadline
            left_ms = started["deadline"] - started["server_time"]
            elapsed_ms = round((time.monotonic() - shown) * 1000)
            lease = f"{settings.redis_prefix}room:{{{code}}}:lease"
            assert await rc.pexpire(lease, left_ms - elapsed_ms + 800)
            sent = await bob.draw(drawing)  # queued in the command stream before the deadline
            assert sent > 0
            end = await bob.wait("round_ended")  # ended by the new owner, process b
        finally:
            a.proc.send_signal(signal.SIGCONT)
        assert (await lease_of(settings, code) or "").split()[0] == b.proc_id
        mine = next(r for r in end["results"] if r["player_id"] == bob.player_id)
        assert mine["strokes"] == drawing  # every stroke that arrived in time counts
        assert mine["recognized"], mine["guesses"]
        assert mine["elapsed_ms"] < started["seconds"] * 1000
        assert not refused(bob, "bad_phase")
    finally:
        await rc.aclose()
        await ada.close()
        await bob.close()
