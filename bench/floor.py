"""The stack's floor: what this box can serve with the product's own WebSocket path and no game.

``python -m bench.floor --players 512 --rooms 64`` starts :func:`create_app` (below) under
uvicorn exactly as the game server runs (uvloop, httptools, the websockets-sansio protocol, no
permessage-deflate), then drives it with the real load generator (``bench.load --capacity
--url``): the same simulated players, real drawings and stroke-to-guess timing as a game run.

The floor server keeps only what any server of this design must do per update: receive the
WebSocket frame through Starlette, parse and validate it with the product's parser
(``protocol.parse_client_message``), and once per tick (10 ms, like ``DOODLE_TICK_MS``) write
one ``frame`` per room with every player's new ink and a guess for each update, encoded once
(``frames.Frame``) and written as shared bytes to each socket (``ws.Wire``), as the game does.
No rules, no model, no Redis, no persistence: whatever the game adds costs more than this.
The guess is a constant (the client times it as it times the game's).

The figures are in docs/BENCHMARKS.md ("The stack's floor").
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
import json
import os
import socket
import subprocess
import sys
import time
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from game_server import protocol
from game_server.config import Settings
from game_server.frames import Frame, dumps
from game_server.node import new_room_code
from game_server.ws import ExposeSend, Wire

TICK_S = 0.010
PROMPT = "cat"
GUESS = [{"label": "dog", "p": 0.2}, {"label": "cat", "p": 0.1}, {"label": "cow", "p": 0.05}]


class Seat:
    __slots__ = ("pid", "wire", "ws")

    def __init__(self, pid: str, ws: WebSocket) -> None:
        self.pid = pid
        self.ws = ws
        self.wire = Wire.of(ws)


class Room:
    def __init__(self) -> None:
        self.seats: dict[str, Seat] = {}
        self.ink: dict[str, list[Any]] = {}
        self.guesses: dict[str, dict[str, Any]] = {}

    def broadcast(self, msg: dict[str, Any]) -> None:
        text = dumps(msg)
        for seat in self.seats.values():
            if seat.wire is None or not seat.wire.write(text):
                raise RuntimeError("the floor server writes directly only")

    def flush(self) -> None:
        if not (self.ink or self.guesses):
            return
        frame = Frame(self.ink, self.guesses)
        self.ink, self.guesses = {}, {}
        for seat in self.seats.values():
            wire = frame.wire_for(seat.pid)
            if wire is not None and seat.wire is not None:
                seat.wire.write_frame(wire)


class Floor:
    def __init__(self) -> None:
        self.settings = Settings.from_env()
        self.rooms: dict[str, Room] = {}
        self.ids = itertools.count(1)
        self.ticker: asyncio.Task[None] | None = None

    async def tick(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + TICK_S
            for room in self.rooms.values():
                room.flush()
            await asyncio.sleep(max(0.0, due - loop.time()))

    async def create_room(self, request: Request) -> JSONResponse:
        code = new_room_code()
        self.rooms[code] = Room()
        if self.ticker is None:
            self.ticker = asyncio.get_running_loop().create_task(self.tick())
        return JSONResponse({"code": code}, status_code=201)

    async def ws(self, ws: WebSocket) -> None:
        await ws.accept()
        room: Room | None = None
        pid = f"p{next(self.ids)}"
        try:
            while True:
                raw = await ws.receive_text()
                msg = protocol.parse_client_message(raw, self.settings)
                if isinstance(msg, protocol.Points) and room is not None:
                    ops = room.ink.setdefault(pid, [])
                    ops.append({"op": "points", "stroke": msg.stroke, "points": msg.points})
                    room.guesses[pid] = {"seq": msg.seq, "guesses": GUESS}
                elif isinstance(msg, protocol.Join) and room is None:
                    room = self.rooms[msg.room or ""]
                    room.broadcast({"type": "player_joined", "player_id": pid})
                    room.seats[pid] = Seat(pid, ws)
                    snapshot = {"players": [{"id": p} for p in room.seats]}
                    welcome = {"type": "welcome", "player_id": pid, "snapshot": snapshot}
                    await ws.send_text(dumps(welcome))
                elif isinstance(msg, protocol.Start) and room is not None:
                    room.broadcast({"type": "round_started", "prompt": PROMPT, "round": 1})
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            if room is not None:
                room.seats.pop(pid, None)


def create_app() -> Starlette:
    floor = Floor()
    app = Starlette(
        routes=[
            Route("/api/rooms", floor.create_room, methods=["POST"]),
            WebSocketRoute("/ws", floor.ws),
        ]
    )
    return ExposeSend(app)  # type: ignore[return-value]


def serve(port: int) -> None:
    gc.collect()
    gc.freeze()
    config = uvicorn.Config(
        create_app(), host="127.0.0.1", port=port, log_level="warning",
        ws_per_message_deflate=False,
    )  # fmt: skip
    uvicorn.Server(config).run()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_up(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("the floor server exited")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.1)
    raise SystemExit("the floor server did not start")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.floor", description=__doc__.split("\n")[0])
    ap.add_argument("--serve", type=int, metavar="PORT", help="only serve on PORT")
    ap.add_argument("--players", type=int, default=512)
    ap.add_argument("--rooms", type=int, default=64)
    ap.add_argument("--duration", type=float, default=15)
    args, rest = ap.parse_known_args(argv)
    if args.serve:
        serve(args.serve)
        return 0
    port = _free_port()
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    server = subprocess.Popen([sys.executable, "-m", "bench.floor", "--serve", str(port)], env=env)
    try:
        _wait_up(port, server)
        cmd = [
            sys.executable, "-m", "bench.load", "--capacity", "--json",
            "--url", f"ws://127.0.0.1:{port}/ws", "--server-pid", str(server.pid),
            "--players", str(args.players), "--rooms", str(args.rooms),
            "--duration", str(args.duration), *rest,
        ]  # fmt: skip
        out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
        result = json.loads(out)
        result["server"] = "bench.floor"
        print(json.dumps(result))
    finally:
        server.terminate()
        server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
