"""Load generator: simulated players drawing real Quick, Draw! drawings over real WebSockets.

``python -m bench.load --players 40 --rooms 5 --duration 30 [--json] [--url ws://127.0.0.1:P/ws]``

Without ``--url`` it starts ``python -m game_server`` on a free loopback port (embedded Redis:
``REDIS_URL`` removed from its environment), waits for ``/healthz``, and measures the
server's CPU time and peak memory (``VmHWM``) from ``/proc`` through psutil. With ``--url``
it drives an already running server (loopback addresses only: 127.0.0.1, ::1, localhost).

Every room is created with ``POST /api/rooms``; its first player is the host, who sends
``settings`` (``--rounds``, ``--seconds``) and ``start`` once the room is full. On every
``round_started`` each player draws a real drawing of the prompt (raw data of that category,
streamed with its own timings divided by ``--speedup``; one ``points`` batch per
``--interval-ms`` of drawing time, a new batch per stroke), as the protocol says
(docs/protocol.md). A drawing that ends unrecognized is followed by ``clear`` and another
real drawing of the prompt, so drawing players keep streaming until they are recognized or
the round ends.

Latency: every ``points`` message carries a ``seq``; the client notes when it sent it, and
the first ``guess`` for that player whose ``seq`` is >= it ends its stroke-to-guess latency
(the server coalesces: one guess may cover several updates). Only updates sent inside the
measurement window (after ``--warmup``) count. The client's own event-loop lag and CPU are
reported too: when the client saturates its core, latencies include client queueing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil
import websockets

from bench import classifier as classifier_mod
from bench.data import load_category, protocol_updates
from bench.stats import machine_info, median_of_runs, summarize

MAX_PLAYERS = 5000
MAX_DURATION_S = 900.0
_TYPE_RE = re.compile(r'"type"\s*:\s*"([a-z_]+)"')
_LOOPBACK_NAMES = {"localhost", "ip6-localhost"}
RECOGNITION_CONFIDENCE = 0.30  # the server's default DOODLE_RECOGNITION_CONFIDENCE
# error replies to points that crossed a state change in flight (recognized, round over):
# expected in a real game, reported apart from the errors
BENIGN_RACES = ("drawing_locked", "bad_phase")


class LoadError(RuntimeError):
    """The load test could not run (bad target, server did not start, ...)."""


# --------------------------------------------------------------------------- target


def check_loopback(url: str) -> tuple[str, int]:
    """``(host, port)`` of a ws:// URL, refusing any non-loopback host."""
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise LoadError(f"--url must be ws://127.0.0.1:PORT/ws, got {url!r}")
    host = parts.hostname
    if host not in _LOOPBACK_NAMES:
        try:
            if not ipaddress.ip_address(host).is_loopback:
                raise LoadError(f"refusing non-loopback target {host!r} (loopback only)")
        except ValueError as exc:
            raise LoadError(f"refusing non-loopback target {host!r} (loopback only)") from exc
    return host, parts.port or (443 if parts.scheme == "wss" else 80)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _http(method: str, url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # loopback only (checked)
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@dataclass
class ServerProcess:
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def log_summary(self, limit: int | None = None) -> dict[str, Any]:
        """Warnings and errors the server logged (up to byte ``limit``: the end of the run,
        before the clients hang up and the server shuts down), by logger."""
        counts: Counter[str] = Counter()
        try:
            with self.log_path.open("rb") as fh:
                text = fh.read(limit if limit is not None else -1).decode(errors="replace")
        except OSError:
            return {"server_log_problems": {}}
        for line in text.splitlines():
            parts = line.split(" ", 4)
            if len(parts) >= 4 and parts[2] in ("WARNING", "ERROR", "CRITICAL"):
                counts[f"{parts[2]} {parts[3]}"] += 1
        out: dict[str, Any] = {"server_log_problems": dict(counts)}
        if counts:
            out["server_log"] = str(self.log_path)
        return out

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def server_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for the spawned server: embedded Redis, limits sized for one client IP."""
    env = dict(os.environ)
    env.pop("REDIS_URL", None)
    env.update(
        {
            "DOODLE_LOG_LEVEL": "warning",
            # every simulated player connects from 127.0.0.1
            "DOODLE_MAX_CONNECTIONS_PER_IP": "100000",
            "DOODLE_JOIN_ATTEMPTS_PER_MINUTE": "100000",
            "DOODLE_INTERMISSION_SECONDS": "1",
        }
    )
    env.update(extra or {})
    return env


def start_server(
    timeout: float = 60.0, env_extra: dict[str, str] | None = None, log_dir: Path | None = None
) -> ServerProcess:
    """``python -m game_server --host 127.0.0.1 --port <free>`` and wait for ``/healthz``."""
    port = free_port()
    log_dir = log_dir or Path(os.environ.get("TMPDIR", "/tmp"))
    log_path = log_dir / f"bench-load-server-{port}.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "game_server", "--host", "127.0.0.1", "--port", str(port)],
        env=server_env(env_extra),
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=Path(__file__).resolve().parent.parent,
        start_new_session=True,
    )
    log.close()
    server = ServerProcess(proc, port, log_path)
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise LoadError(f"game server exited with {proc.returncode}:\n{tail}")
        try:
            status, _ = _http("GET", f"{server.http_url}/healthz", timeout=2)
            if status == 200:
                return server
        except OSError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise LoadError(f"game server not healthy after {timeout:.0f} s (log: {log_path})")
        time.sleep(0.1)  # polling a child process at start-up


class ProcSampler:
    """CPU seconds and peak RSS of the server process (and its children, e.g. redis)."""

    def __init__(self, pid: int | None) -> None:
        self.proc = psutil.Process(pid) if pid else None
        self._t0 = 0.0
        self._c0: dict[int, float] = {}
        self.spy: subprocess.Popen[bytes] | None = None

    def _cpu(self) -> dict[int, float]:
        out: dict[int, float] = {}
        if self.proc is None:
            return out
        procs = [self.proc]
        with contextlib.suppress(psutil.Error):
            procs += self.proc.children(recursive=True)
        for p in procs:
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                out[p.pid] = t.user + t.system
        return out

    def start(self, py_spy: str | None = None, duration: float = 0.0) -> None:
        self._t0 = time.monotonic()
        self._c0 = self._cpu()
        self.spy = None
        if py_spy and self.proc is not None:
            # sample the server during the window (collapsed stacks for bench.profile)
            exe = Path(sys.executable).with_name("py-spy")
            self.spy = subprocess.Popen(
                [str(exe) if exe.exists() else "py-spy", "record", "--pid", str(self.proc.pid),
                 "--duration", str(max(1, int(duration))), "--rate", "250", "--format", "raw",
                 "--nonblocking", "--output", py_spy],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip

    def stop(self) -> dict[str, Any]:
        wall = time.monotonic() - self._t0
        c1 = self._cpu()
        if self.spy is not None:
            try:
                self.spy.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.spy.kill()
                self.spy.wait()
        if self.proc is None:
            return {}
        main = c1.get(self.proc.pid, 0.0) - self._c0.get(self.proc.pid, 0.0)
        others = sum(v - self._c0.get(k, v) for k, v in c1.items() if k != self.proc.pid)
        return {
            "server_cpu_s": main,
            "server_cpu_pct": 100.0 * main / wall if wall else 0.0,
            "children_cpu_pct": 100.0 * others / wall if wall else 0.0,
            "server_peak_rss_mb": _vm_hwm_mb(self.proc.pid),
        }


def _vm_hwm_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


# --------------------------------------------------------------------------- players


@dataclass
class Stats:
    window_start: float = float("inf")
    window_end: float = float("inf")
    sent_updates: int = 0  # points messages sent inside the window
    sent_total: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    guesses: int = 0
    unanswered: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    races: Counter[str] = field(default_factory=Counter)
    dropped: int = 0
    connect_failures: int = 0
    recognized: int = 0
    drawings_unrecognized: int = 0
    recognized_ms: list[float] = field(default_factory=list)
    player_rounds: int = 0
    player_rounds_recognized: int = 0
    messages_in: int = 0
    rounds_started: int = 0
    bytes_out: int = 0

    def in_window(self, t: float) -> bool:
        return self.window_start <= t < self.window_end


class Library:
    """Real drawings per prompt, with their update batches precomputed."""

    def __init__(self, interval_ms: float, seed: int) -> None:
        self.interval_ms = interval_ms
        self.rng = random.Random(seed)
        self._cache: dict[str, list[list[tuple[float, int, list[list[float]]]]]] = {}

    def updates_for(self, word: str) -> list[tuple[float, int, list[list[float]]]]:
        pool = self._cache.get(word)
        if pool is None:
            pool = [protocol_updates(d, self.interval_ms) for d in load_category(word)]
            pool = [p for p in pool if p]
            self._cache[word] = pool
        if not pool:
            return []
        return self.rng.choice(pool)


class Player:
    def __init__(self, run: LoadRun, room: str, index: int, host: bool, room_size: int) -> None:
        self.run = run
        self.room = room
        self.index = index
        self.host = host
        self.room_size = room_size
        self.ws: Any = None
        self.player_id: str | None = None
        self.seq = 0
        self.pending: deque[tuple[int, float]] = deque()
        self.draw_task: asyncio.Task[None] | None = None
        self.recognized_this_round = False
        self.attempt_open = False
        self.attempt_hit = False
        self.prompt: str | None = None
        self.in_round = False
        self.joined_players = 1
        self.started = False
        self.welcomed: asyncio.Event | None = None

    # -- sending

    async def send(self, obj: dict[str, Any]) -> None:
        data = json.dumps(obj, separators=(",", ":"))
        self.run.stats.bytes_out += len(data)
        await self.ws.send(data)

    async def draw(self, prompt: str) -> None:
        run = self.run
        loop = asyncio.get_running_loop()
        await asyncio.sleep(run.rng.uniform(0.0, 0.5) / run.speedup)  # reading the prompt
        first = True
        while True:
            updates = run.library.updates_for(prompt)
            if not updates:
                return
            if not first:
                self.seq += 1
                await self.send({"type": "clear", "seq": self.seq})
                await asyncio.sleep(0.5 / run.speedup)
            first = False
            self.attempt_open = True
            self.attempt_hit = False
            t0 = loop.time()
            for t_ms, si, pts in updates:
                delay = t0 + t_ms / 1000.0 / run.speedup - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                self.seq += 1
                now = time.perf_counter()
                self.pending.append((self.seq, now))
                if run.stats.in_window(now):
                    run.stats.sent_updates += 1
                run.stats.sent_total += 1
                await self.send({"type": "points", "seq": self.seq, "stroke": si, "points": pts})
            await asyncio.sleep(1.0 / run.speedup)  # looking at the guess
            self.attempt_open = False
            if run.stats.in_window(time.perf_counter()):
                if self.attempt_hit:
                    run.stats.recognized += 1  # capacity mode: recognized client-side
                else:
                    run.stats.drawings_unrecognized += 1  # fully drawn, not recognized

    def _draw_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None and not self.run.stopping:
            exc = task.exception()
            if not isinstance(exc, websockets.ConnectionClosed):
                self.run.stats.errors[f"client_{type(exc).__name__}"] += 1

    def stop_drawing(self) -> None:
        if self.draw_task is not None:
            self.draw_task.cancel()
            self.draw_task = None

    # -- receiving

    def on_guess(self, msg: dict[str, Any], now: float) -> None:
        if msg.get("player_id") != self.player_id:
            return
        seq = msg.get("seq", -1)
        stats = self.run.stats
        if self.run.capacity and self.attempt_open and not self.attempt_hit:
            top = (msg.get("guesses") or [{}])[0]
            if top.get("label") == self.prompt and top.get("p", 0) >= RECOGNITION_CONFIDENCE:
                self.attempt_hit = True  # the server would have recognized this drawing
        if stats.in_window(now):
            stats.guesses += 1
        while self.pending and self.pending[0][0] <= seq:
            _, t_sent = self.pending.popleft()
            if stats.in_window(t_sent):
                stats.latencies_ms.append((now - t_sent) * 1000.0)

    def end_round(self) -> None:
        self.stop_drawing()
        stats = self.run.stats
        if self.in_round:
            stats.player_rounds += 1
            stats.player_rounds_recognized += int(self.recognized_this_round)
        for _, t_sent in self.pending:
            if stats.in_window(t_sent):
                stats.unanswered += 1
        self.pending.clear()
        self.in_round = False

    async def maybe_start(self) -> None:
        if self.host and not self.started and self.joined_players >= self.room_size:
            self.started = True
            run = self.run
            await self.send({"type": "settings", "rounds": run.rounds, "seconds": run.seconds})
            await self.send({"type": "start"})

    async def handle(self, raw: str | bytes, now: float) -> None:
        stats = self.run.stats
        stats.messages_in += 1
        if isinstance(raw, bytes):
            raw = raw.decode()
        m = _TYPE_RE.search(raw, 0, 40)
        kind = m.group(1) if m else None
        if kind == "ink":  # the bulk of the traffic: nothing to do with it
            return
        msg = json.loads(raw)
        kind = msg.get("type")
        if kind == "frame":  # one per room tick: our guess (if any) is in it
            mine = msg.get("guesses", {}).get(self.player_id)
            if mine is not None:
                self.on_guess({"player_id": self.player_id, **mine}, now)
        elif kind == "guess":
            self.on_guess(msg, now)
        elif kind == "welcome":
            self.player_id = msg["player_id"]
            if self.welcomed is not None:
                self.welcomed.set()  # the next player may join (the host joins first)
            snap = msg.get("snapshot") or {}
            self.joined_players = len(snap.get("players") or []) or 1
            await self.maybe_start()
        elif kind == "player_joined":
            self.joined_players += 1
            await self.maybe_start()
        elif kind == "round_started":
            self.end_round()
            stats.rounds_started += 1
            self.in_round = True
            self.recognized_this_round = False
            self.prompt = msg["prompt"]
            self.draw_task = asyncio.create_task(self.draw(msg["prompt"]))
            self.draw_task.add_done_callback(self._draw_done)
        elif kind == "recognized":
            if msg.get("player_id") == self.player_id:
                self.recognized_this_round = True
                self.stop_drawing()
                if stats.in_window(now):
                    stats.recognized += 1
                    if msg.get("elapsed_ms") is not None:
                        stats.recognized_ms.append(float(msg["elapsed_ms"]))
        elif kind == "round_ended":
            self.end_round()
        elif kind == "game_ended":
            self.end_round()
            if self.host:
                await self.send({"type": "start"})
        elif kind == "error":
            code = msg.get("code", "?")
            if msg.get("ref") == "join" and self.welcomed is not None:
                self.welcomed.set()
            if code in BENIGN_RACES:
                stats.races[code] += 1
            else:
                stats.errors[code] += 1

    async def play(self, connected: asyncio.Event | None = None) -> None:
        run = self.run
        try:
            self.ws = await websockets.connect(
                run.ws_url,
                origin=run.origin,
                compression="deflate" if run.compression else None,
                max_size=2**22,
                open_timeout=30,
                ping_interval=None,
            )
        except (OSError, websockets.WebSocketException, TimeoutError):
            run.stats.connect_failures += 1
            return
        try:
            self.welcomed = connected
            await self.send({"type": "join", "name": f"bot{self.index}", "room": self.room})
            async for raw in self.ws:
                await self.handle(raw, time.perf_counter())
        except websockets.ConnectionClosed as exc:
            if not run.stopping:
                run.stats.dropped += 1
                run.stats.errors[f"closed_{exc.rcvd.code if exc.rcvd else 'abnormal'}"] += 1
        except asyncio.CancelledError:
            raise
        finally:
            if connected is not None:
                connected.set()
            self.stop_drawing()
            if run.stopping:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.ws.close(), 2)


class LoadRun:
    def __init__(self, args: argparse.Namespace, ws_url: str) -> None:
        self.args = args
        self.ws_url = ws_url
        host, port = check_loopback(ws_url)
        self.http_url = f"http://{host}:{port}"
        self.origin = f"http://{host}:{port}"
        self.speedup = args.speedup
        self.rounds = args.rounds
        self.seconds = args.seconds
        self.compression = args.compression
        self.capacity = args.capacity
        self.rng = random.Random(args.seed)
        self.library = Library(args.interval_ms, args.seed)
        self.stats = Stats()
        self.stopping = False
        self.lag_ms: list[float] = []
        self.drawing_at_end = 0
        self.phase = "connecting"
        self.server: ServerProcess | None = None
        self.log_bytes_at_end: int | None = None
        self.in_round_at_end = 0

    async def create_room(self) -> str:
        status, body = await asyncio.to_thread(_http, "POST", f"{self.http_url}/api/rooms")
        if status not in (200, 201):
            raise LoadError(f"POST /api/rooms -> {status}: {body[:200]!r}")
        return str(json.loads(body)["code"])

    async def lag_probe(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            t = loop.time()
            await asyncio.sleep(0.05)
            lag = (loop.time() - t - 0.05) * 1000.0
            if self.stats.in_window(time.perf_counter()):
                self.lag_ms.append(lag)

    async def main(self, sampler: ProcSampler) -> dict[str, Any]:
        args = self.args
        n_players, n_rooms = args.players, args.rooms
        sizes = [
            n_players // n_rooms + (1 if r < n_players % n_rooms else 0) for r in range(n_rooms)
        ]
        codes = [await self.create_room() for _ in range(n_rooms)]
        players: list[Player] = []
        tasks: list[asyncio.Task[None]] = []
        sem = asyncio.Semaphore(args.connect_concurrency)
        t_connect = time.perf_counter()

        async def launch(p: Player, first: bool) -> None:
            async with sem:
                ev = asyncio.Event()
                task = asyncio.create_task(p.play(ev))
                tasks.append(task)
                # the host joins first; others after it (so the host is host)
                waiter = asyncio.create_task(ev.wait())
                await asyncio.wait({waiter, task}, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()

        idx = 0
        hosts = []
        for code, size in zip(codes, sizes, strict=True):
            for k in range(size):
                p = Player(self, code, idx, host=(k == 0), room_size=size)
                idx += 1
                players.append(p)
                if k == 0:
                    hosts.append(p)
        # hosts first (each must be the first to join its room), then everyone else
        await asyncio.gather(*(launch(p, True) for p in hosts))
        await asyncio.gather(*(launch(p, False) for p in players if not p.host))
        connect_s = time.perf_counter() - t_connect
        self.phase = "warm-up"
        for h in hosts:  # rooms where someone failed to connect: start with who is there
            if not h.started and h.ws is not None:
                with contextlib.suppress(websockets.WebSocketException):
                    h.joined_players = h.room_size
                    await h.maybe_start()
        lag = asyncio.create_task(self.lag_probe())
        me = psutil.Process()
        await asyncio.sleep(args.warmup)
        c0 = sum(me.cpu_times()[:2])
        now = time.perf_counter()
        self.stats.window_start = now
        self.stats.window_end = now + args.duration
        sampler.start(args.py_spy, args.duration)
        self.phase = "measuring"
        await asyncio.sleep(args.duration)
        server = sampler.stop()
        self.drawing_at_end = sum(1 for p in players if p.draw_task is not None)
        self.in_round_at_end = sum(1 for p in players if p.in_round)
        client_cpu = sum(me.cpu_times()[:2]) - c0
        self.phase = "collecting the last guesses and closing"
        # let in-flight guesses of window updates arrive (bounded)
        grace_end = time.perf_counter() + args.grace
        while time.perf_counter() < grace_end and any(  # noqa: ASYNC110 (bounded poll)
            p.pending and p.pending[0][1] < self.stats.window_end for p in players
        ):
            await asyncio.sleep(0.05)
        for p in players:
            for _, t_sent in p.pending:
                if self.stats.in_window(t_sent):
                    self.stats.unanswered += 1
            p.pending.clear()
        if self.server is not None:
            self.log_bytes_at_end = self.server.log_size()
        self.stopping = True
        lag.cancel()
        for p in players:
            p.stop_drawing()
        await asyncio.gather(
            *(asyncio.wait_for(p.ws.close(), 5) for p in players if p.ws is not None),
            return_exceptions=True,
        )
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return self.report(connect_s, client_cpu, server)

    def report(self, connect_s: float, client_cpu: float, server: dict[str, Any]) -> dict[str, Any]:
        st, args = self.stats, self.args
        lat = summarize(st.latencies_ms)
        lag = summarize(self.lag_ms)
        ups = st.sent_updates / args.duration
        out: dict[str, Any] = {
            "players": args.players,
            "rooms": args.rooms,
            "duration_s": args.duration,
            "speedup": args.speedup,
            "compression": self.compression,
            "mode": "capacity" if self.capacity else "game",
            "updates_per_s": ups,
            "updates": st.sent_updates,
            "guesses_per_s": st.guesses / args.duration,
            "latency_ms": {
                "n": lat["n"],
                "p50": lat["median"] if lat["n"] else None,
                "p95": lat["p95"] if lat["n"] else None,
                "p99": lat["p99"] if lat["n"] else None,
                "mean": lat["mean"] if lat["n"] else None,
                "max": lat["max"] if lat["n"] else None,
            },
            "unanswered": st.unanswered,
            "recognized": st.recognized,
            # of the real drawings that were recognized or fully drawn inside the window
            "recognition_rate": (
                st.recognized / (st.recognized + st.drawings_unrecognized)
                if st.recognized + st.drawings_unrecognized
                else None
            ),
            "drawings_unrecognized": st.drawings_unrecognized,
            "player_rounds": st.player_rounds,
            "players_in_round_at_end": self.in_round_at_end,
            "players_drawing_at_end": self.drawing_at_end,
            "rounds_started": st.rounds_started,
            "time_to_recognition_ms_p50": summarize(st.recognized_ms)["median"]
            if st.recognized_ms
            else None,
            "errors": sum(st.errors.values()) + st.connect_failures,
            "error_codes": dict(st.errors),
            "benign_races": dict(st.races),
            "dropped_connections": st.dropped,
            "connect_failures": st.connect_failures,
            "connect_s": connect_s,
            "messages_in_per_s": st.messages_in / max(args.duration, 1e-9),
            "client_cpu_pct": 100.0 * client_cpu / args.duration,
            "client_loop_lag_ms": {"p50": lag["median"], "p99": lag["p99"]} if lag["n"] else None,
        }
        out.update(server)
        if server.get("server_cpu_s") and st.sent_updates:
            out["server_cpu_us_per_update"] = 1e6 * server["server_cpu_s"] / st.sent_updates
        return out


# --------------------------------------------------------------------------- driver


def run_once(args: argparse.Namespace) -> dict[str, Any]:
    server: ServerProcess | None = None
    stand_in_dir: str | None = None
    if args.url:
        ws_url = args.url
        check_loopback(ws_url)
        pid = args.server_pid
    else:
        env_extra = dict(kv.split("=", 1) for kv in args.server_env)
        if args.capacity:  # nobody is ever recognized: every player keeps drawing
            env_extra.setdefault("DOODLE_RECOGNITION_CONFIDENCE", "2")
        model = "shipped artifact"
        if "DOODLE_MODEL_PATH" not in env_extra and (
            args.stand_in or not classifier_mod.shipped_artifact_loads()
        ):
            tmp = tempfile.mkdtemp(prefix="bench-model-")
            stand_in_dir = tmp
            env_extra["DOODLE_MODEL_PATH"] = str(classifier_mod.write_stand_in_artifact(tmp))
            model = "STAND-IN random-weight MLP (--stand-in, or no shipped artifact)"
        elif "DOODLE_MODEL_PATH" in env_extra:
            model = env_extra["DOODLE_MODEL_PATH"]
        server = start_server(env_extra=env_extra)
        ws_url, pid = server.ws_url, server.proc.pid
        server_env_used = {k: v for k, v in env_extra.items() if k != "DOODLE_MODEL_PATH"}
    try:
        run = LoadRun(args, ws_url)
        run.server = server
        sampler = ProcSampler(pid)
        # connecting and joining is bounded too: a server that cannot seat everyone in time
        # is reported as a failed run (LoadError), not waited for
        budget = args.warmup + args.duration + args.grace + 60.0 + 1.0 * args.players
        try:
            result = _run_loop(run.main(sampler), budget)
        except TimeoutError as exc:
            raise LoadError(
                f"run did not finish within {budget:.0f} s ({args.players} players); "
                f"last phase: {run.phase}"
            ) from exc
        result["target"] = "spawned" if server else ws_url
        result.setdefault("model", "as served by --url")
        if server is not None:
            result["model"] = model
            result["server_env"] = server_env_used
            server.stop()
            result.update(server.log_summary(run.log_bytes_at_end))
            if not result["server_log_problems"]:
                server.log_path.unlink(missing_ok=True)
        return result
    except LoadError as exc:
        if server is not None:
            raise LoadError(f"{exc} (server log: {server.log_path})") from exc
        raise
    finally:
        if server is not None:
            server.stop()
        if stand_in_dir is not None:
            shutil.rmtree(stand_in_dir, ignore_errors=True)


def _run_loop(coro: Any, timeout: float) -> dict[str, Any]:
    async def bounded() -> dict[str, Any]:
        return await asyncio.wait_for(coro, timeout)

    try:
        import uvloop

        return uvloop.run(bounded())
    except ImportError:  # pragma: no cover
        return asyncio.run(bounded())


def format_result(r: dict[str, Any]) -> str:
    lat = r["latency_ms"]

    def f(v: Any, fmt: str = "{:.1f}") -> str:
        return "-" if v is None else fmt.format(v)

    rows = [
        ("players / rooms", f"{r['players']} / {r['rooms']}"),
        ("runs (medians of)", str(r.get("repeat", 1))),
        ("model served", str(r.get("model", "?"))),
        ("mode, duration (s), speedup",
         f"{r.get('mode')}, {r['duration_s']:.0f}, {r['speedup']:g}x"),
        ("stroke updates/s (sent)", f(r["updates_per_s"])),
        ("guesses/s (received)", f(r["guesses_per_s"])),
        (
            "stroke-to-guess p50/p95/p99 ms",
            f"{f(lat['p50'])} / {f(lat['p95'])} / {f(lat['p99'])} (n={lat['n']})",
        ),
        ("updates without a guess", str(r["unanswered"])),
        ("recognized (rate)", f"{r['recognized']} ({f(r['recognition_rate'], '{:.0%}')})"),
        ("errors / dropped", f"{r['errors']} / {r['dropped_connections']}  "
         f"{r['error_codes'] or ''}"),
        ("benign races (late points)", str(r.get("benign_races") or 0)),
        ("server CPU %", f(r.get("server_cpu_pct"))),
        ("server CPU us/update", f(r.get("server_cpu_us_per_update"))),
        ("redis (children) CPU %", f(r.get("children_cpu_pct"))),
        ("server peak RSS MB", f(r.get("server_peak_rss_mb"))),
        ("server log warnings/errors", str(r.get("server_log_problems") or 0)),
        ("client CPU % (loop lag p99 ms)", f"{f(r['client_cpu_pct'])} "
         f"({f((r['client_loop_lag_ms'] or {}).get('p99'))})"),
    ]  # fmt: skip
    w = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{w}}  {v}" for k, v in rows)


def run_repeated(args: argparse.Namespace) -> dict[str, Any]:
    """``--repeat`` runs (a fresh server each), combined as medians field by field."""
    runs = [run_once(args) for _ in range(args.repeat)]
    if len(runs) == 1:
        return runs[0]
    out = median_of_runs(runs)
    out["repeat"] = len(runs)
    out["runs"] = runs
    return out


def sweep(args: argparse.Namespace) -> dict[str, Any]:
    counts = [int(x) for x in args.sweep.split(",") if x.strip()]
    runs = []
    for n in counts:
        a = argparse.Namespace(**vars(args))
        a.players = n
        a.rooms = max(1, -(-n // args.room_size))
        try:
            r = run_repeated(a)
        except LoadError as exc:
            print(f"# {n} players: FAILED: {exc}", file=sys.stderr)
            runs.append({"players": n, "rooms": a.rooms, "failed": str(exc)})
            continue
        runs.append(r)
        print(
            f"# {n} players / {a.rooms} rooms: {r['updates_per_s']:.0f} updates/s, "
            f"p99 {r['latency_ms']['p99']} ms",
            file=sys.stderr,
        )
    plot = plot_sweep(runs, Path(args.plot), args.title) if args.plot else None
    return {"machine": machine_info(), "sweep": runs, "plot": str(plot) if plot else None}


def plot_sweep(runs: list[dict[str, Any]], path: Path, title: str | None = None) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [r for r in runs if "failed" not in r]
    xs = [r["players"] for r in runs]
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    for key, style in (("p50", "o-"), ("p95", "s--"), ("p99", "^-")):
        ax.plot(xs, [r["latency_ms"][key] or float("nan") for r in runs], style, label=key)
    ax.axhline(50, color="red", lw=0.8, ls=":", label="target p99 50 ms")
    ax.set_xlabel("simulated drawing players")
    ax.set_ylabel("stroke-to-guess latency (ms)")
    ax.set_yscale("log")
    ax2 = ax.twinx()
    ax2.plot(xs, [r["updates_per_s"] for r in runs], "k.:", label="updates/s")
    ax2.set_ylabel("stroke updates/s sent by the players")
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], loc="upper left", fontsize=8)
    m = machine_info()
    ax.set_title(
        title or f"Doodle Arena load: latency vs players ({m['nproc']} cores, {m['date'][:10]})",
        fontsize=10,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n")[0])
    p.add_argument("--players", type=int, default=40, help="simulated players (default 40)")
    p.add_argument("--rooms", type=int, default=5, help="rooms (players spread evenly)")
    p.add_argument("--duration", type=float, default=30.0, help="measured seconds (default 30)")
    p.add_argument("--warmup", type=float, default=5.0, help="seconds before measuring")
    p.add_argument("--grace", type=float, default=5.0, help="max seconds to await last guesses")
    p.add_argument("--speedup", type=float, default=1.0, help="drawing speed x human (1.0)")
    p.add_argument("--interval-ms", type=float, default=100.0, help="client batching interval")
    p.add_argument("--rounds", type=int, default=20, help="rounds per game (host settings)")
    p.add_argument("--seconds", type=int, default=60, help="round length (host settings)")
    p.add_argument("--url", default=None, help="ws://127.0.0.1:PORT/ws of a running server")
    p.add_argument("--server-pid", type=int, default=None, help="pid of --url's server (CPU)")
    p.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="K=V",
        help="env for the spawned server",
    )
    p.add_argument(
        "--no-compression",
        dest="compression",
        action="store_false",
        help="do not offer permessage-deflate (browsers do)",
    )
    p.add_argument("--stand-in", action="store_true", help="serve a random-weight stand-in model")
    p.add_argument(
        "--capacity",
        action="store_true",
        help="spawned server never recognizes (DOODLE_RECOGNITION_CONFIDENCE=2), so every "
        "player keeps drawing; recognition is then judged client-side from the guesses "
        "(with --url, start that server with the same setting yourself)",
    )
    p.add_argument("--py-spy", default=None, metavar="FILE", help="py-spy the server to FILE")
    p.add_argument("--connect-concurrency", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sweep", default=None, help="comma-separated player counts, e.g. 12,48,96")
    p.add_argument("--room-size", type=int, default=8, help="players per room in a sweep")
    p.add_argument("--plot", default="docs/load_latency.png", help="sweep plot PNG path")
    p.add_argument("--title", default=None, help="sweep plot title")
    p.add_argument("--plot-from", default=None, metavar="JSON", help="re-plot a saved sweep")
    p.add_argument("--repeat", type=int, default=1, help="runs per point; report medians")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    args = p.parse_args(argv)
    if not 1 <= args.players <= MAX_PLAYERS:
        p.error(f"--players must be 1..{MAX_PLAYERS}")
    if not 1 <= args.rooms <= args.players:
        p.error("--rooms must be 1..players")
    if -(-args.players // args.rooms) > 12 or args.room_size > 12:
        p.error("at most 12 players per room (the server's DOODLE_ROOM_CAPACITY default)")
    if not 0 < args.duration <= MAX_DURATION_S or args.warmup < 0 or args.grace < 0:
        p.error(f"--duration must be in (0, {MAX_DURATION_S:.0f}] s")
    if args.speedup <= 0:
        p.error("--speedup must be > 0")
    if args.url:
        try:
            check_loopback(args.url)
        except LoadError as exc:
            p.error(str(exc))
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.plot_from:  # re-draw a saved sweep (JSON of --sweep --json)
        runs = json.loads(Path(args.plot_from).read_text())["sweep"]
        print(plot_sweep(runs, Path(args.plot), args.title))
        return 0
    try:
        result = sweep(args) if args.sweep else run_repeated(args)
    except LoadError as exc:
        print(f"bench.load: {exc}", file=sys.stderr)
        return 2
    if args.json:
        json.dump(result, sys.stdout)
        sys.stdout.write("\n")
    elif args.sweep:
        for r in result["sweep"]:
            if "failed" in r:
                print(f"{r['players']} players: FAILED: {r['failed']}\n")
            else:
                print(format_result(r), end="\n\n")
        if result["plot"]:
            print(f"plot: {result['plot']}")
    else:
        print(format_result(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
