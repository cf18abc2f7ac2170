"""One measured load run: the target server, its rooms, the client processes, the window."""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import time
import urllib.error
import urllib.request
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from bench.load import clients, report
from bench.load.server import LoadError, Target
from bench.load.stats import Stats, cpu_seconds, cpu_used
from bench.stats import median_of_runs

PLAYERS_PER_CLIENT_PROC = 256


def default_client_procs(players: int) -> int:
    """One client process per 256 players, at most one per core."""
    return max(1, min(os.cpu_count() or 1, math.ceil(players / PLAYERS_PER_CLIENT_PROC)))


def create_room(http_url: str) -> str:
    req = urllib.request.Request(f"{http_url}/api/rooms", method="POST", data=b"")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # loopback only (checked)
            status, body = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
    except OSError as exc:
        raise LoadError(f"POST /api/rooms failed: {exc}") from exc
    if status not in (200, 201):
        raise LoadError(f"POST /api/rooms -> {status}: {body[:200]!r}")
    return str(json.loads(body)["code"])


def client_configs(args: argparse.Namespace, target: Target) -> list[clients.ClientConfig]:
    """The rooms (players spread evenly) split over the client processes, whole rooms each."""
    sizes = [
        args.players // args.rooms + (1 if r < args.players % args.rooms else 0)
        for r in range(args.rooms)
    ]
    rooms = [(create_room(target.http_url), size) for size in sizes]
    n_procs = min(args.client_procs or default_client_procs(args.players), len(rooms))
    out, first = [], 0
    for k in range(n_procs):
        mine = tuple(rooms[k::n_procs])
        out.append(
            clients.ClientConfig(
                ws_url=target.ws_url,
                origin=target.http_url,
                rooms=mine,
                first_index=first,
                seed=args.seed + k,
                speedup=args.speedup,
                interval_ms=args.interval_ms,
                rounds=args.rounds,
                seconds=args.seconds,
                compression=args.compression,
                capacity=args.capacity,
                connect_concurrency=args.connect_concurrency,
                grace=args.grace,
            )
        )
        first += sum(size for _, size in mine)
    return out


def _sleep_until(t: float) -> None:
    time.sleep(max(0.0, t - time.monotonic()))  # the coordinator waits out the window


def measure(
    args: argparse.Namespace, target: Target, configs: list[clients.ClientConfig]
) -> dict[str, Any]:
    """Start the client processes, measure one window, return the report."""
    ctx = multiprocessing.get_context("spawn")
    pipes: list[Connection] = []
    procs: list[BaseProcess] = []
    try:
        for cfg in configs:
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=clients.client_process, args=(child, cfg), daemon=True)
            proc.start()
            child.close()
            pipes.append(parent)
            procs.append(proc)
        connect_budget = 60.0 + 1.0 * args.players
        connect_s = max(clients.message(c, "connected", connect_budget) for c in pipes)
        start = time.monotonic() + args.warmup
        end = start + args.duration
        for c in pipes:
            c.send((start, end))
        client_pids = [os.getpid(), *(p.pid for p in procs if p.pid)]
        meter = target.meter()
        _sleep_until(start)
        meter.start(args.py_spy, args.duration)
        c0 = cpu_seconds(client_pids)
        _sleep_until(end)
        server = meter.stop()
        client_cpu = sum(cpu_used(c0, cpu_seconds(client_pids)).values())
        owned = target.rooms_owned()  # a --url server with --server-pid: not known
        for proc, rooms in zip(server.get("server_processes", []), owned, strict=False):
            proc["rooms_owned"] = rooms
        parts = [clients.message(c, "stats", args.grace + 60.0) for c in pipes]
        log_bytes = target.log_sizes()
        for c in pipes:
            c.send("close")
        for p in procs:
            p.join(timeout=15)
    except (TimeoutError, RuntimeError) as exc:
        raise LoadError(f"{exc} ({args.players} players)") from exc
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
                p.join()
    stats = Stats.merged(parts)
    result = report.build(args, stats, connect_s, client_cpu, server, len(procs))
    result.update(target.describe())
    result.update(target.log_summary(log_bytes))
    return result


def run_once(args: argparse.Namespace) -> dict[str, Any]:
    target = Target(args)
    result: dict[str, Any] = {}
    try:
        result = measure(args, target, client_configs(args, target))
        return result
    except LoadError as exc:
        if target.servers:
            logs = ", ".join(str(s.log) for s in target.servers)
            raise LoadError(f"{exc} (server logs: {logs})") from exc
        raise
    finally:
        problems = result.get("server_log_problems") or result.get("nginx_log_problems")
        target.close(keep_log=not result or bool(problems))


def run_repeated(args: argparse.Namespace) -> dict[str, Any]:
    """``--repeat`` runs (a fresh server each), combined as medians field by field."""
    runs = [run_once(args) for _ in range(args.repeat)]
    if len(runs) == 1:
        return runs[0]
    out = median_of_runs(runs)
    out["repeat"] = len(runs)
    out["runs"] = runs
    return out
