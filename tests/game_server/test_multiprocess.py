"""Several real server processes (``python -m game_server``), one real Redis, one game.

Players are spread over processes with no stickiness; the room's owner is whoever holds its
lease. The failover test SIGKILLs the owner mid-round. Sockets on the owner's process and on
others see the same events; Debian's nginx with the shipped configuration routes every socket
of a room to one process. An overloaded process leaves a new room to one that is not.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from game_server import harness
from game_server.config import Settings
from game_server.harness import ServerProcess
from tests.game_client import GameClient
from tests.game_server.test_game_ws import play_round, recognized_points
from tests.quickdraw import model_drawing, update_batches

LEASE_MS = 1000


async def start_server(
    settings: Settings,
    prompts: list[str],
    log: Path,
    env: dict[str, str] | None = None,
    soft_nofile: int | None = None,
) -> ServerProcess:
    """A real ``python -m game_server`` on a free port (:func:`game_server.harness.start_server`);
    ``settings.redis_url`` None: it starts its embedded Redis (keeping no data). ``env``: more
    ``DOODLE_*`` settings; ``soft_nofile``: start it with that soft open-files limit."""
    full: dict[str, str | None] = {
        "REDIS_URL": settings.redis_url,
        "DOODLE_REDIS_PREFIX": settings.redis_prefix,
        "DOODLE_LEASE_MS": str(LEASE_MS),
        "DOODLE_PROMPTS": ",".join(prompts),
        "DOODLE_INTERMISSION_SECONDS": "0.2",
        "DOODLE_TICK_MS": "5",
        "DOODLE_LOG_LEVEL": "info",
        **(env or {}),
    }
    wrapper: tuple[str, ...] = ()
    if soft_nofile is not None:
        wrapper = ("sh", "-c", f'ulimit -Sn {soft_nofile} && exec "$@"', "sh")
    return await asyncio.to_thread(harness.start_server, full, log, wrapper=wrapper)


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
    await asyncio.gather(*(asyncio.to_thread(p.stop) for p in procs))


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
        assert owner is not None and owner.split()[0] in (a.process_id, b.process_id)
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
        assert owner == f"{a.process_id} 1"
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
        await ada.settle("r2")  # every update of the stroke was applied (or refused)
        refused = [m for m in ada.find("error") if m.get("ref") == "points"]
        killed_at = time.monotonic()
        a.kill()
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
        assert proc in (b.process_id, c.process_id) and int(epoch) == 2

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
    """A tiny drawing the model does not recognize as ``word`` (its recognition rule)."""
    marks = [[[[0, 0, 0], [3, 4, 10]]], [[[0, 0, 0], [0, 50, 10]]], [[[0, 0, 0], [50, 0, 10]]]]
    for mark, row in zip(marks, classifier.predict([model_drawing(m) for m in marks]), strict=True):
        if not classifier.recognizes(row, word):
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
        assert await lease_of(settings, code) == f"{a.process_id} 1"
        await bob.send({"type": "settings", "rounds": 1, "seconds": 120, "mode": "beat"})
        await dan.wait("settings")
        await bob.send({"type": "start"})
        await guess_all(people, bob, 1)

        # turn 2: ada draws a mark the AI does not recognize, cy guesses, then the owner dies
        word = (await ada.wait("round_started", turn=2))["prompt"]
        assert (await dan.wait("round_started", turn=2))["prompt"] is None
        ada.mark("t2")
        await ada.draw(unrecognized_mark(classifier, word))
        await ada.settle("t2")
        await cy.send({"type": "chat", "text": word})
        first = await dan.wait("guessed", player_id=cy.player_id)
        a.kill()
        await dan.send({"type": "chat", "text": word})  # applied by the next owner
        second = await ada.wait("guessed", player_id=dan.player_id, within=60)
        assert first["first"] and not second["first"] and second["points"] < first["points"]
        end2 = await cy.wait("round_ended", turn=2)
        assert end2["winner"] == cy.player_id
        assert [g["player_id"] for g in end2["guessers"]] == [cy.player_id, dan.player_id]
        assert end2["scores"][ada.player_id] == second["drawer_score"]
        owner = await lease_of(settings, code)
        assert owner is not None and owner.split()[0] in (b.process_id, c.process_id)

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


def between(client: GameClient, first: str, last: str) -> list[dict[str, Any]]:
    """The messages ``client`` got from its first ``first`` to its first ``last``."""
    kinds = [m["type"] for m in client.messages]
    return client.messages[kinds.index(first) : kinds.index(last) + 1]


async def test_local_and_remote_sockets_see_the_same_events_in_the_same_order(
    cluster: Callable[[int], Any], settings: Settings, recognizable: dict[str, Any]
) -> None:
    a, b = await cluster(2)
    code = await new_room(a)
    ada, watch_a = await GameClient.connect(a.ws_url), await GameClient.connect(a.ws_url)
    bob, watch_b = await GameClient.connect(b.ws_url), await GameClient.connect(b.ws_url)
    try:
        await ada.join("ada", room=code)  # process a owns the room: its sockets are local
        await bob.join("bob", room=code)
        await watch_a.join("wa", room=code, spectator=True)
        await watch_b.join("wb", room=code, spectator=True)
        assert await lease_of(settings, code) == f"{a.process_id} 1"
        await ada.send({"type": "settings", "rounds": 1, "seconds": 120})
        await ada.send({"type": "start"})
        await play_round([ada, bob], recognizable, 1)
        for watcher in (watch_a, watch_b):
            await watcher.wait("game_ended")
        local, remote = (between(w, "game_started", "game_ended") for w in (watch_a, watch_b))
        assert local == remote
        frames = [m for m in local if m["type"] == "frame"]
        assert {ada.player_id, bob.player_id} <= {p for f in frames for p in f.get("ink", {})}
        # each drawer got the others' ink and its own guesses, never its own ink
        for me in (ada, bob):
            mine = [m for m in me.messages if m["type"] == "frame"]
            assert all(me.player_id not in m.get("ink", {}) for m in mine)
            assert me.guesses(str(me.player_id))
    finally:
        for c in (ada, bob, watch_a, watch_b):
            await c.close()


@pytest.fixture
async def nginx(tmp_path: Path) -> AsyncIterator[Callable[[list[int]], Any]]:
    """Debian's nginx with deploy/nginx/doodle-arena.conf (:func:`harness.start_nginx`)."""
    procs: list[harness.NginxProcess] = []

    async def start(upstreams: list[int]) -> str:
        proc = await asyncio.to_thread(harness.start_nginx, upstreams, tmp_path / "nginx")
        procs.append(proc)
        return proc.http_url

    yield start
    for proc in procs:
        proc.stop()


async def test_nginx_routes_every_socket_of_a_room_to_one_process(
    cluster: Callable[[int], Any], settings: Settings, nginx: Callable[[list[int]], Any]
) -> None:
    a, b = await cluster(2)
    url = await nginx([a.port, b.port])
    ws_url = url.replace("http://", "ws://") + "/ws"
    rc = aioredis.Redis.from_url(str(settings.redis_url), decode_responses=True)
    clients: list[GameClient] = []
    owners = []
    try:
        for _ in range(6):
            async with httpx.AsyncClient() as client:
                code = (await client.post(f"{url}/api/rooms")).json()["code"]
            ada = await GameClient.connect(f"{ws_url}?room={code}")
            bob = await GameClient.connect(f"{ws_url}?room={code}")
            clients += [ada, bob]
            await ada.join("ada", room=code)  # the first join claims the room where it lands
            stream = f"{settings.redis_prefix}room:{{{code}}}:cmd"
            first = (await rc.xinfo_stream(stream))["last-generated-id"]
            await bob.join("bob", room=code)
            await ada.send({"type": "settings", "rounds": 3, "seconds": 30})
            await bob.wait("settings")
            await bob.send({"type": "ping"})
            await bob.wait("pong")
            # bob's join and ada's settings reached the owner without the command stream: both
            # sockets are on the owner's process (nginx hashed the room to it)
            assert (await rc.xinfo_stream(stream))["last-generated-id"] == first
            lease = await lease_of(settings, code)
            assert lease is not None
            owners.append(lease.split()[0])
        assert set(owners) <= {a.process_id, b.process_id}
    finally:
        for c in clients:
            await c.close()
        await rc.aclose()


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


def drawn(strokes: list[Any], updates: int) -> list[list[Any]]:
    """The drawing made of the first ``updates`` updates of ``strokes`` as
    :meth:`GameClient.draw` sends them."""
    out: list[list[Any]] = []
    for index, points in itertools.islice(update_batches(strokes), updates):
        if index == len(out):
            out.append([])
        out[index] += points
    return out


def accepted(client: GameClient, updates: int, round_started: dict[str, Any]) -> int:
    """Of ``updates`` sent in the round that ``round_started`` started, those the room applied:
    the ones sent after the player was recognized, before it knew, are refused
    (``drawing_locked``)."""
    start = next(i for i, m in enumerate(client.messages) if m is round_started)
    locked = [
        m for m in client.messages[start:] if m["type"] == "error" and m["code"] == "drawing_locked"
    ]
    return updates - len(locked)


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
        assert await lease_of(settings, code) == f"{a.process_id} 1"
        await ada.send({"type": "settings", "rounds": 2, "seconds": 120})
        await ada.send({"type": "start"})
        await play_round([ada, bob], recognizable, 1)
        score_1 = (await bob.wait("round_ended", round=1, cursor="s"))["scores"][bob.player_id]
        assert score_1 > 0

        second = await bob.wait("round_started", round=2)
        drawing = recognizable[second["prompt"]][0]
        await ada.wait("round_started", round=2, cursor="r2")
        bob.mark("r2")
        first = await bob.draw(drawing[:1])
        await bob.settle("r2")
        # b stops beating: the owner takes bob for gone; meanwhile bob draws on
        gone = ada.wait("player_status", player_id=bob.player_id, connected=False)
        later = asyncio.ensure_future(bob.draw(drawing[1:], first_stroke=1))
        resumed = await paused(b, asyncio.gather(gone, later))

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
        end = await bob.wait("round_ended", round=2)  # after every answer to bob's updates
        assert end["scores"][bob.player_id] == rec["score"]
        mine = next(r for r in end["results"] if r["player_id"] == bob.player_id)
        # every update applied: those sent while b was stopped too
        assert mine["recognized"]
        assert mine["strokes"] == drawn(drawing, accepted(bob, first + later.result(), second))
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
        started = await ada.wait("round_started")
        drawing = recognizable[started["prompt"]][0]
        ada.mark("r1")
        first = await ada.draw(drawing[:1])
        await ada.settle("r1")
        # the owner stops past its lease: b takes the room over and takes ada for gone
        gone = bob.wait("player_status", player_id=ada.player_id, connected=False)
        later = asyncio.ensure_future(ada.draw(drawing[1:], first_stroke=1))
        resumed = await paused(a, asyncio.gather(gone, later))
        owner = await lease_of(settings, code)
        assert owner is not None and owner.split()[0] == b.process_id

        await bob.wait("player_status", player_id=ada.player_id, connected=True)
        print(f"pause: ada seated again {time.monotonic() - resumed:.2f} s after SIGCONT of a")
        assert (await ada.wait("welcome"))["player_id"] == ada.player_id
        rec = await bob.wait("recognized", player_id=ada.player_id, cursor="rec")
        await bob.draw(drawing)
        end = await ada.wait("round_ended")  # after every answer to ada's updates
        mine = next(r for r in end["results"] if r["player_id"] == ada.player_id)
        assert mine["recognized"] and mine["points"] == rec["points"]
        assert mine["strokes"] == drawn(drawing, accepted(ada, first + later.result(), started))
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
        assert (await lease_of(settings, code) or "").split()[0] == b.process_id
        mine = next(r for r in end["results"] if r["player_id"] == bob.player_id)
        assert mine["strokes"] == drawing  # every stroke that arrived in time counts
        assert mine["recognized"], mine["guesses"]
        assert mine["elapsed_ms"] < started["seconds"] * 1000
        assert not refused(bob, "bad_phase")
    finally:
        await rc.aclose()
        await ada.close()
        await bob.close()


# a process whose ticks never come (within the test) and whose inbox is full with one command:
# the first room it claims makes it overloaded, deterministically
NEVER_TICKS = {
    "DOODLE_TICK_MS": str(10**9),
    "DOODLE_INBOX_LIMIT": "1",
    "DOODLE_OVERLOAD_FULL_INBOXES": "1",
}


async def health(server: ServerProcess) -> dict[str, Any]:
    async with httpx.AsyncClient() as client:
        return dict((await client.get(f"{server.http_url}/healthz")).json())


async def test_an_overloaded_process_leaves_a_new_room_to_the_other_process(
    cluster: Callable[..., Any], settings: Settings
) -> None:
    (spare,) = await cluster(1)
    (busy,) = await cluster(1, NEVER_TICKS)
    ada = await GameClient.connect(busy.ws_url)
    bob = await GameClient.connect(busy.ws_url)
    try:
        # ada's join makes busy claim her room; the join waits in its inbox (full): overloaded
        await ada.send({"type": "join", "name": "ada", "room": await new_room(busy)})
        async with asyncio.timeout(30):
            while True:  # polling another process's state (its /healthz), not test sync
                if (await health(busy))["load"]["overloaded"]:
                    break
                await asyncio.sleep(0.05)
        # a new room joined through busy is claimed by spare, and bob plays through busy
        code = await new_room(busy)
        await bob.join("bob", room=code)
        owner = await lease_of(settings, code)
        assert owner is not None and owner.split()[0] == spare.process_id
        assert code in (await health(spare))["owned_rooms"]
        assert code not in (await health(busy))["owned_rooms"]
        bob.mark("mine")
        await bob.send({"type": "settings", "rounds": 2, "seconds": 30})
        await bob.wait("settings", rounds=2, cursor="mine")
        assert not bob.find("error") and not ada.find("welcome")  # busy never ticked
    finally:
        await ada.close()
        await bob.close()
        await asyncio.to_thread(busy.kill)  # its last tick would wait for its tick_ms
