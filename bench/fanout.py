"""Server CPU of writing one message to one WebSocket, by path: ``queue`` (the socket's
``asyncio.Queue`` -> its writer task -> Starlette ``send_text`` -> uvicorn ``send``, the path of
every message before ``ws.Wire``) against ``wire`` (``ws.Wire.write``: one frame straight onto
the transport, what the server does when nothing is queued for the socket).

``python -m bench.fanout [--sockets 64] [--rounds 1000] [--repeat 5] [--json]``

A real uvicorn server (``websockets-sansio``, uvloop) with the ``ws.ExposeSend`` middleware
runs in this process; the clients are raw TCP sockets in a child process that do the WebSocket
handshake and then discard what they read (so they keep the server's sockets writable at little
cost to the other core). A round writes one frame-sized message to every socket, as one tick's
fan-out does, then yields once to the event loop (the writer tasks run then). CPU is this
process's ``time.process_time`` over the rounds; the two paths alternate, ``--repeat`` times
each, and the medians are reported per message.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from game_server.harness import serve_app
from game_server.ws import ExposeSend, Wire

# a typical frame of a room of 8 (one player's new points and a guess)
TEXT = json.dumps(
    {
        "type": "frame",
        "ink": {"p2": [{"op": "points", "stroke": 3, "points": [[120, 88, 4120]] * 6}]},
        "guesses": {"p2": {"seq": 41, "guesses": [{"label": "cat", "p": 0.41}] * 3}},
    },
    separators=(",", ":"),
)

CLIENTS = r"""
import selectors, socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
sel = selectors.DefaultSelector()
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(4096)
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ)
print("ready", flush=True)
open_ = n
while open_:
    for key, _ in sel.select():
        if not key.fileobj.recv(1 << 20):
            sel.unregister(key.fileobj)
            open_ -= 1
"""


class Sock:
    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self.wire = Wire.of(ws)
        self.out: asyncio.Queue[str] = asyncio.Queue()
        self.writer = asyncio.create_task(self._writer())

    async def _writer(self) -> None:
        while True:
            await self.ws.send_text(await self.out.get())
            self.out.task_done()


async def measure(sockets: int, rounds: int, repeat: int) -> dict[str, Any]:
    socks: list[Sock] = []
    done, connected = asyncio.Event(), asyncio.Event()

    async def endpoint(ws: WebSocket) -> None:
        await ws.accept()
        socks.append(Sock(ws))
        if len(socks) == sockets:
            connected.set()
        await done.wait()  # then uvicorn closes the connection: the clients see EOF and exit

    app = Starlette(routes=[WebSocketRoute("/ws", endpoint)], middleware=[Middleware(ExposeSend)])
    async with serve_app(app, loop="uvloop") as srv:
        clients = await asyncio.create_subprocess_exec(
            sys.executable, "-c", CLIENTS, str(srv.port), str(sockets),
            stdout=subprocess.PIPE,
        )  # fmt: skip
        assert clients.stdout is not None
        await clients.stdout.readline()
        await asyncio.wait_for(connected.wait(), 60)
        assert all(s.wire is not None for s in socks), "not uvicorn's websockets-sansio"
        per_msg: dict[str, list[float]] = {"queue": [], "wire": []}
        for _ in range(repeat):
            for path in per_msg:
                t0 = time.process_time()
                for _ in range(rounds):
                    for s in socks:
                        if path == "wire":
                            if not s.wire.write(TEXT):  # type: ignore[union-attr]
                                s.out.put_nowait(TEXT)  # the socket's buffer is full
                        else:
                            s.out.put_nowait(TEXT)
                    await asyncio.sleep(0)  # one loop pass: the writer tasks run
                for s in socks:
                    await s.out.join()
                per_msg[path].append((time.process_time() - t0) / (rounds * sockets) * 1e6)
        done.set()
        for s in socks:
            s.writer.cancel()
        await clients.wait()
    medians = {p: statistics.median(v) for p, v in per_msg.items()}
    return {
        "sockets": sockets,
        "rounds": rounds,
        "repeat": repeat,
        "message_bytes": len(TEXT),
        "us_per_message": {p: round(m, 2) for p, m in medians.items()},
        "runs_us": {p: [round(x, 2) for x in v] for p, v in per_msg.items()},
        "ratio_queue_over_wire": round(medians["queue"] / medians["wire"], 2),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.fanout", description=__doc__.split("\n")[0])
    p.add_argument("--sockets", type=int, default=64)
    p.add_argument("--rounds", type=int, default=1000)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args(argv)
    result = asyncio.run(measure(args.sockets, args.rounds, args.repeat))
    if args.json:
        print(json.dumps(result))
    else:
        for path, us in result["us_per_message"].items():
            print(f"{path:6s} {us:7.2f} us of server CPU per message")
        print(f"queue / wire: {result['ratio_queue_over_wire']}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
