"""What admission control costs a player: the time from a ``join`` into a new room to its
``welcome`` when the player's process claims the room itself, against when it is overloaded and
hands the room to another process (whose claim loop takes it within ``lease_ms / 3``).

``python -m bench.admission [--joins 15] [--lease-ms 3000] [--json]``

Two real uvicorn servers (two :class:`game_server.node.Node`, two process ids) run in this
process on one embedded Redis (``REDIS_URL`` if set); the players are real WebSocket clients.
The first server is made overloaded by feeding its load meter one sample above the enter level
(with a calm time longer than the run, so it stays overloaded), and made normal again by
resetting it; every join goes to it. Each
new room is created with ``POST /api/rooms``, then joined; the two cases alternate.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
import uuid
from dataclasses import replace
from typing import Any

import httpx
import websockets

from game_server.app import create_app
from game_server.config import Settings
from game_server.harness import serve_app
from game_server.overload import Sample
from game_server.redis_embedded import EmbeddedRedis


async def join_ms(http_url: str, ws_url: str) -> float:
    """Create a room, join it; ms from the join to the welcome."""
    async with httpx.AsyncClient() as http:
        code = (await http.post(f"{http_url}/api/rooms")).json()["code"]
    async with websockets.connect(ws_url) as ws:
        t0 = time.perf_counter()
        await ws.send(json.dumps({"type": "join", "name": "bench", "room": code}))
        while True:
            msg = json.loads(await ws.recv())
            if msg["type"] == "welcome":
                return (time.perf_counter() - t0) * 1000
            if msg["type"] == "error":
                raise RuntimeError(f"join refused: {msg}")


async def run(redis_url: str, joins: int, lease_ms: int) -> dict[str, Any]:
    base = Settings.from_env({}, redis_url=redis_url, redis_prefix=f"bench:{uuid.uuid4().hex}:")
    settings = replace(base, lease_ms=lease_ms, overload_calm_ms=10**9, log_level="warning")
    busy_app, spare_app = create_app(settings), create_app(settings)
    times: dict[str, list[float]] = {"claimed": [], "handed_off": []}
    async with serve_app(busy_app) as busy, serve_app(spare_app):
        owners = busy_app.state.node.owners
        for _ in range(joins):
            for case in times:
                if case == "handed_off":  # overloaded until the calm time (the whole run)
                    owners.load.observe(0, Sample(lag_ms=settings.overload_enter_ms))
                else:
                    owners.load.overloaded = False
                await owners.publish_load()
                times[case].append(await join_ms(busy.http_url, busy.ws_url))
    return {
        "joins": joins,
        "lease_ms": lease_ms,
        "welcome_ms": {
            case: {
                "median": round(statistics.median(ts), 1),
                "min": round(min(ts), 1),
                "max": round(max(ts), 1),
            }
            for case, ts in times.items()
        },
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--joins", type=int, default=15, help="joins per case")
    p.add_argument("--lease-ms", type=int, default=3000, help="DOODLE_LEASE_MS of both servers")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    url = os.environ.get("REDIS_URL")
    if url:
        result = asyncio.run(run(url, args.joins, args.lease_ms))
    else:
        with EmbeddedRedis() as redis_server:
            result = asyncio.run(run(redis_server.url, args.joins, args.lease_ms))
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for case, row in result["welcome_ms"].items():
        print(f"{case:<11} welcome after {row['median']} ms (median; {row['min']}..{row['max']})")


if __name__ == "__main__":
    main()
