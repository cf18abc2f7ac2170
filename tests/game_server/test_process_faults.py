"""Faults of one real ``python -m game_server`` process (issue 13, docs/SECURITY.md "Faults"):
its embedded redis-server is reaped when it is SIGKILLed, the embedded Redis keeps its data
across restarts, and connections that never join or never finish their HTTP headers are closed.
"""

from __future__ import annotations

import asyncio
import os
import re
import select
import shutil
import signal
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from game_server.config import Settings
from game_server.redis_embedded import EmbeddedRedis
from tests.game_client import GameClient
from tests.game_server.test_game_ws import play_round
from tests.game_server.test_multiprocess import ServerProcess, leaderboard, new_room, start_server


def parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (from /proc)."""
    return [
        int(e.name)
        for e in Path("/proc").iterdir()
        if e.name.isdigit() and parent_of(int(e.name)) == pid
    ]


def redis_server_of(server: ServerProcess) -> tuple[int, Path]:
    """The pid and unix socket path of the redis-server started by ``server`` (any depth)."""
    found = re.search(r"started embedded redis-server at unix://(\S+)", server.log.read_text())
    assert found is not None, "the server did not log its embedded redis-server"
    todo = [server.proc.pid]
    while todo:
        pid = todo.pop()
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() == "redis-server":
                return pid, Path(found.group(1))
        except OSError:
            continue
        todo += children(pid)
    raise AssertionError("no redis-server under the game server")


def open_files_limit(pid: int) -> tuple[str, str]:
    """(soft, hard) RLIMIT_NOFILE of process ``pid``."""
    limits = Path(f"/proc/{pid}/limits").read_text()
    row = next(line for line in limits.splitlines() if line.startswith("Max open files"))
    soft, hard = row.split()[3:5]
    return soft, hard


def wait_exit(pid: int, within: float) -> bool:
    """Whether process ``pid`` (not necessarily our child) exits within ``within`` seconds."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        readable, _, _ = select.select([fd], [], [], within)
        return bool(readable)
    finally:
        os.close(fd)


@pytest.fixture
async def embedded(settings: Settings, tmp_path: Path) -> AsyncIterator[Any]:
    """``await embedded(name, prompts, env)``: a server with its own embedded Redis. Every
    server and redis-server started is gone after the test, whatever happened."""
    started: list[ServerProcess] = []
    redises: list[int] = []

    async def start(name: str, prompts: list[str], env: dict[str, str]) -> ServerProcess:
        server = await start_server(
            replace(settings, redis_url=None), prompts, tmp_path / f"{name}.log", env
        )
        started.append(server)
        redises.append(redis_server_of(server)[0])
        return server

    yield start
    for server in started:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait()
    for pid in redises:
        if not wait_exit(pid, 0):
            os.kill(pid, signal.SIGKILL)


async def test_sigkill_of_the_server_reaps_its_embedded_redis(embedded: Any) -> None:
    server = await embedded("server", [], {})
    redis_pid, sock = redis_server_of(server)
    watchdog = parent_of(redis_pid)
    assert sock.exists() and watchdog is not None
    killed = time.monotonic()
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait()
    assert wait_exit(redis_pid, 15), "redis-server outlived its SIGKILLed game server"
    print(f"reaped: redis-server gone {time.monotonic() - killed:.3f} s after SIGKILL")
    assert wait_exit(watchdog, 15)
    assert not sock.parent.exists()  # its private socket directory is removed too


async def test_a_restart_keeps_the_local_leaderboard(
    embedded: Any, recognizable: dict[str, Any], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    env = {"DOODLE_DATA_DIR": str(data)}
    prompts = sorted(recognizable)
    server = await embedded("s1", prompts, env)
    redis_pid, sock = redis_server_of(server)
    ada = await GameClient.connect(server.ws_url)
    try:
        await ada.join("ada", room=await new_room(server))
        await ada.send({"type": "settings", "rounds": 1, "seconds": 120})
        await ada.send({"type": "start"})
        await play_round([ada], recognizable, 1)
        await ada.wait("game_ended")
        before = await leaderboard(server)
        assert before and before["ada"] > 0
    finally:
        await ada.close()
        server.proc.send_signal(signal.SIGKILL)  # the worst case: no graceful stop at all
        server.proc.wait()
    assert wait_exit(redis_pid, 15)
    assert (data / "redis" / "appendonly.aof").stat().st_size > 0
    again = await embedded("s2", prompts, env)
    assert redis_server_of(again)[1] == sock  # the same data directory
    assert await leaderboard(again) == before
    again.proc.terminate()
    assert again.proc.wait(timeout=30) == 0


async def _stalled(port: int, data: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection that sends ``data`` (part of a request) and then nothing."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    return reader, writer


@pytest.fixture
async def short_timeouts(settings: Settings, tmp_path: Path) -> AsyncIterator[ServerProcess]:
    env = {"DOODLE_JOIN_TIMEOUT_SECONDS": "1", "DOODLE_HEADER_TIMEOUT_SECONDS": "1"}
    server = await start_server(settings, [], tmp_path / "server.log", env, soft_nofile=256)
    yield server
    server.proc.kill()
    server.proc.wait()


async def test_idle_and_half_open_connections_are_closed(short_timeouts: ServerProcess) -> None:
    server = short_timeouts
    # the open-files limit is raised to the hard limit at start-up
    soft, hard = open_files_limit(server.proc.pid)
    assert soft == hard

    # more half-sent HTTP requests (WebSocket upgrades cut short, nothing at all) than the soft
    # open-files limit the server was started with: it keeps serving, and closes them all
    upgrade = b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
    stalled = [await _stalled(server.port, upgrade if i % 2 else b"") for i in range(300)]
    try:
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"{server.http_url}/healthz")).status_code == 200
        async with asyncio.timeout(30):  # all closed by the server
            assert set(await asyncio.gather(*(r.read() for r, _ in stalled))) == {b""}
    finally:
        for _, writer in stalled:
            writer.close()

    # a WebSocket that never joins is closed with 4005; one that joined stays open
    idle = await GameClient.connect(server.ws_url)
    failed = await GameClient.connect(server.ws_url)
    player = await GameClient.connect(server.ws_url)
    try:
        await idle.send({"type": "ping"})  # pings do not count as joining
        assert (await failed.join_or_error("eve", room="ABCDEFGH"))["code"] == "room_not_found"
        await player.join("ada")
        assert await asyncio.wait_for(idle.closed, 20) == 4005
        assert await asyncio.wait_for(failed.closed, 20) == 4005
        player.mark("after")
        await player.send({"type": "ping"})
        await player.wait("pong", cursor="after")
        assert not player.closed.done()
    finally:
        for client in (idle, failed, player):
            await client.close()


async def denied_xadds(admin: aioredis.Redis) -> int:
    """How many XADDs Redis refused (ACL LOG groups equal refusals, with a count)."""
    return sum(int(e["count"]) for e in await admin.acl_log() if e["object"] == "xadd")


async def test_a_resync_is_retried_until_the_socket_has_its_snapshot(
    settings: Settings, tmp_path: Path
) -> None:
    """The pub/sub connections drop (as in a Redis restart); the resync requests of the sockets
    on a process that does not own their room go through the room's stream, and fail at first
    (XADD refused, as while Redis still loads its data): they are retried."""
    directory = tempfile.mkdtemp(prefix="dr-")  # short: unix socket paths are limited
    own = EmbeddedRedis(directory=directory).start()
    admin = aioredis.Redis.from_url(own.url, decode_responses=True)
    mine = replace(settings, redis_url=own.url)
    owner, server = await asyncio.gather(
        start_server(mine, [], tmp_path / "owner.log"), start_server(mine, [], tmp_path / "s.log")
    )
    host = await GameClient.connect(owner.ws_url)
    players = [await GameClient.connect(server.ws_url) for _ in range(3)]
    try:
        code = await new_room(owner)
        await host.join("host", room=code)  # the owner's process owns the room
        for i, p in enumerate(players):
            await p.join(f"p{i}", room=code)
        await admin.execute_command("ACL", "SETUSER", "default", "-xadd")
        await admin.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
        async with asyncio.timeout(30):
            while await denied_xadds(admin) < len(players):  # noqa: ASYNC110 - Redis's log
                await asyncio.sleep(0.05)  # bounded by the timeout
        await admin.execute_command("ACL", "SETUSER", "default", "+xadd")
        everyone = {q.player_id for q in [host, *players]}
        for p in players:
            snap = (await p.wait("snapshot", within=30))["snapshot"]
            assert {q["id"] for q in snap["players"]} == everyone
    finally:
        for p in [host, *players]:
            await p.close()
        for proc in (owner, server):
            proc.proc.kill()
            proc.proc.wait()
        await admin.aclose()
        own.stop()
        shutil.rmtree(directory, ignore_errors=True)
