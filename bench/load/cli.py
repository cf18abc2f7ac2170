"""``python -m bench.load`` options and output."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from bench import load
from bench.load.report import format_result
from bench.load.run import run_repeated
from bench.load.server import LoadError, check_loopback
from bench.load.sweep import load_sweep, plot_sweep, sweep

MAX_PLAYERS = 5000
MAX_DURATION_S = 900.0
MAX_PROCESSES = 16
MAX_ROOM_SIZE = 12  # the server's DOODLE_ROOM_CAPACITY default


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.load", description=(load.__doc__ or "").split("\n")[0]
    )
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
    p.add_argument(
        "--processes",
        type=int,
        default=1,
        metavar="N",
        help="spawn N server processes sharing one Redis behind Debian's nginx with the "
        "shipped site (default 1: one process, its own embedded Redis, no nginx)",
    )
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
        help="spawned server never recognizes (DOODLE_RECOGNITION_THRESHOLD=2), so every "
        "player keeps drawing; recognition is then judged client-side from the guesses "
        "(with --url, start that server with the same setting yourself)",
    )
    p.add_argument(
        "--client-procs",
        type=int,
        default=0,
        metavar="N",
        help="load-generator processes (default 0: one per 256 players, at most one per core)",
    )
    p.add_argument(
        "--py-spy", default=None, metavar="FILE", help="py-spy the (first) server to FILE"
    )
    p.add_argument("--connect-concurrency", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sweep", default=None, help="comma-separated player counts, e.g. 12,48,96")
    p.add_argument("--room-size", type=int, default=8, help="players per room in a sweep")
    p.add_argument("--plot", default="docs/load_latency.png", help="sweep plot PNG path")
    p.add_argument("--title", default=None, help="sweep plot title")
    p.add_argument("--label", default=None, help="name of this sweep in plots (default: git rev)")
    p.add_argument(
        "--compare",
        action="append",
        default=[],
        metavar="JSON",
        help="a saved sweep (--sweep --json) to plot beside this one (repeatable)",
    )
    p.add_argument(
        "--plot-from",
        action="append",
        default=[],
        metavar="JSON",
        help="re-plot saved sweeps, side by side when repeated",
    )
    p.add_argument("--repeat", type=int, default=1, help="runs per point; report medians")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    args = p.parse_args(argv)
    if not 1 <= args.players <= MAX_PLAYERS:
        p.error(f"--players must be 1..{MAX_PLAYERS}")
    if not 1 <= args.rooms <= args.players:
        p.error("--rooms must be 1..players")
    if -(-args.players // args.rooms) > MAX_ROOM_SIZE or args.room_size > MAX_ROOM_SIZE:
        p.error(f"at most {MAX_ROOM_SIZE} players per room (the server's DOODLE_ROOM_CAPACITY)")
    if not 0 < args.duration <= MAX_DURATION_S or args.warmup < 0 or args.grace < 0:
        p.error(f"--duration must be in (0, {MAX_DURATION_S:.0f}] s")
    if args.speedup <= 0:
        p.error("--speedup must be > 0")
    if not 1 <= args.processes <= MAX_PROCESSES:
        p.error(f"--processes must be 1..{MAX_PROCESSES}")
    if args.url and args.processes != 1:
        p.error("--processes spawns servers: not with --url")
    if args.client_procs < 0:
        p.error("--client-procs must be >= 0")
    if args.url:
        try:
            check_loopback(args.url)
        except LoadError as exc:
            p.error(str(exc))
    return args


def _terminated(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds: the spawned server and client processes stop


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminated)
    if args.plot_from:  # re-draw saved sweeps (JSON of --sweep --json)
        print(plot_sweep(dict(map(load_sweep, args.plot_from)), Path(args.plot), args.title))
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
        if result.get("plot"):
            print(f"plot: {result['plot']}")
    else:
        print(format_result(result))
    return 0
