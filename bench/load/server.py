"""The server under load: one ``python -m game_server`` spawned through :mod:`game_server.harness`
(its own embedded Redis), or ``--processes N`` of them sharing one real redis-server behind
Debian's nginx with the shipped site (``deploy/nginx/doodle-arena.conf``: every socket of a room
on one process), limits sized for one client address; or the ``--url`` of a running one
(loopback only). Their CPU time, peak memory, rooms owned and log problems."""

from __future__ import annotations

import argparse
import ipaddress
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench import classifier as classifier_mod
from bench.load.stats import cpu_seconds, cpu_used, thread_seconds, vm_hwm_mb
from game_server import harness
from game_server.redis_embedded import EmbeddedRedis, EmbeddedRedisError

_LOOPBACK_NAMES = {"localhost", "ip6-localhost"}


class LoadError(RuntimeError):
    """The load test could not run (bad target, server did not start, ...)."""


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


# the spawned server: its own fresh embedded Redis that keeps nothing (no AOF, no lock shared with
# another local server), limits sized for players who all connect from 127.0.0.1
SPAWN_ENV: dict[str, str | None] = {
    "REDIS_URL": None,
    "DOODLE_DATA_DIR": "",
    "DOODLE_LOG_LEVEL": "warning",
    "DOODLE_MAX_CONNECTIONS_PER_IP": "100000",
    "DOODLE_JOIN_ATTEMPTS_PER_MINUTE": "100000",
    "DOODLE_INTERMISSION_SECONDS": "1",
    # players draw at once (no get-ready card, no auto-start countdown): the benchmark measures
    # drawing, and its rooms are private
    "DOODLE_READY_SECONDS": "0",
}


class Target:
    """Where the load goes, and what is known of it (``servers``, and with ``--processes`` > 1
    the shared ``redis`` and ``nginx``, when spawned here)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.servers: list[harness.ServerProcess] = []
        self.redis: EmbeddedRedis | None = None
        self.nginx: harness.NginxProcess | None = None
        self._tmp: Path | None = None  # the stand-in model, nginx's configuration and logs
        self._url_pid: int | None = None
        self.model = "as served by --url"
        self.env_used: dict[str, str] = {}
        if args.url:
            check_loopback(args.url)
            self.ws_url, self._url_pid = args.url, args.server_pid
            return
        self._tmp = Path(tempfile.mkdtemp(prefix="bench-load-"))
        env = dict(kv.split("=", 1) for kv in args.server_env)
        if args.capacity:  # nobody is ever recognized: every player keeps drawing
            env.setdefault("DOODLE_RECOGNITION_THRESHOLD", "2")
        self.env_used = dict(env)
        self.model = env.get("DOODLE_MODEL_PATH", "shipped artifact")
        if "DOODLE_MODEL_PATH" not in env and (
            args.stand_in or not classifier_mod.shipped_artifact_loads()
        ):
            env["DOODLE_MODEL_PATH"] = str(classifier_mod.write_stand_in_artifact(self._tmp))
            self.model = "STAND-IN random-weight MLP (--stand-in, or no shipped artifact)"
        self.env_used.pop("DOODLE_MODEL_PATH", None)
        try:
            self._spawn(args.processes, {**SPAWN_ENV, **env})
        except (harness.ServerStartError, EmbeddedRedisError) as exc:
            self.close()
            raise LoadError(str(exc)) from exc
        except BaseException:  # e.g. SIGTERM (SystemExit) while starting: stop what started
            self.close()
            raise

    def _spawn(self, processes: int, env: dict[str, str | None]) -> None:
        if processes == 1:
            self.servers.append(harness.start_server(env))
            self.ws_url = self.servers[0].ws_url
            return
        assert self._tmp is not None
        self.redis = EmbeddedRedis().start()  # one real redis-server for all of them
        for _ in range(processes):
            self.servers.append(harness.start_server({**env, "REDIS_URL": self.redis.url}))
        self.nginx = harness.start_nginx([s.port for s in self.servers], self._tmp / "nginx")
        self.ws_url = self.nginx.ws_url

    @property
    def http_url(self) -> str:
        host, port = check_loopback(self.ws_url)
        return f"http://{host}:{port}"

    def meter(self) -> ServerMeter:
        pids = [s.pid for s in self.servers] or ([self._url_pid] if self._url_pid else [])
        return ServerMeter(
            pids,
            redis=self.redis.pid if self.redis is not None else None,
            nginx=self.nginx.pid if self.nginx is not None else None,
        )

    def rooms_owned(self) -> list[int | None]:
        """How many rooms each spawned process owns now (its ``/healthz``)."""
        out: list[int | None] = []
        for s in self.servers:
            try:
                out.append(len(s.health(timeout=10)[1].get("owned_rooms", [])))  # a busy loop
            except OSError:
                out.append(None)
        return out

    def log_sizes(self) -> list[int]:
        return [s.log_size() for s in self.servers]

    def log_summary(self, limits: list[int] | None = None) -> dict[str, Any]:
        """Warnings and errors the spawned servers logged (up to byte ``limits[i]`` of server
        ``i``: the end of the run, before the clients hang up and the servers shut down), by
        logger; and nginx's error log lines by level."""
        if not self.servers:
            return {}
        counts: Counter[str] = Counter()
        for i, server in enumerate(self.servers):
            for line in _read(server.log, limits[i] if limits else None).splitlines():
                parts = line.split(" ", 4)
                if len(parts) >= 4 and parts[2] in ("WARNING", "ERROR", "CRITICAL"):
                    counts[f"{parts[2]} {parts[3]}"] += 1
        out: dict[str, Any] = {"server_log_problems": dict(counts)}
        if counts:
            out["server_log"] = [str(s.log) for s in self.servers]
        if self.nginx is not None:
            log = self.nginx.directory / "error.log"
            levels = Counter(
                level
                for line in _read(log).splitlines()
                for level in ("[warn]", "[error]", "[crit]", "[alert]", "[emerg]")
                if level in line
            )
            out["nginx_log_problems"] = dict(levels)
            if levels:
                out["nginx_log"] = str(log)
        return out

    def describe(self) -> dict[str, Any]:
        if not self.servers:
            return {"target": self.ws_url, "model": self.model}
        target = "spawned" if self.nginx is None else "spawned, behind nginx"
        return {"target": target, "model": self.model, "server_env": self.env_used}

    def close(self, keep_log: bool = False) -> None:
        """Stop what was spawned; keep the logs when ``keep_log``."""
        if self.nginx is not None:
            self.nginx.stop()
        for server in self.servers:
            server.stop()
            if not keep_log:
                server.log.unlink(missing_ok=True)
        if self.redis is not None:
            self.redis.stop()
        if self._tmp is not None and not (keep_log and self.nginx is not None):
            shutil.rmtree(self._tmp, ignore_errors=True)  # kept: nginx's error log


def _read(path: Path, limit: int | None = None) -> str:
    try:
        with path.open("rb") as fh:
            return fh.read(limit if limit is not None else -1).decode(errors="replace")
    except OSError:
        return ""


class ServerMeter:
    """CPU seconds over the window of the server processes (each with its children: a lone
    spawned server's embedded Redis), of the Redis they share and of nginx when there are;
    their peak RSS; optionally a py-spy profile of the first server over the window."""

    def __init__(self, pids: list[int], redis: int | None = None, nginx: int | None = None) -> None:
        self.pids = pids
        self.redis = redis
        self.nginx = nginx
        self._t0 = 0.0
        self._c0: list[dict[int, float]] = []
        self._threads0: list[dict[int, float]] = []
        self.spy: subprocess.Popen[bytes] | None = None

    def _cpu(self) -> list[dict[int, float]]:
        """One reading per server process, then the shared Redis's, then nginx's (trees)."""
        trees = [*self.pids, self.redis or 0, self.nginx or 0]
        return [cpu_seconds([pid], children=True) if pid else {} for pid in trees]

    def start(self, py_spy: str | None = None, duration: float = 0.0) -> None:
        self._t0 = time.monotonic()
        self._c0 = self._cpu()
        self._threads0 = [thread_seconds(pid) for pid in self.pids]
        if py_spy and self.pids:
            # sample the server during the window (collapsed stacks for bench.profile)
            exe = Path(sys.executable).with_name("py-spy")
            self.spy = subprocess.Popen(
                [str(exe) if exe.exists() else "py-spy", "record", "--pid", str(self.pids[0]),
                 "--duration", str(max(1, int(duration))), "--rate", "250", "--format", "raw",
                 "--nonblocking", "--output", py_spy],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip

    def stop(self) -> dict[str, Any]:
        wall = time.monotonic() - self._t0
        used = [cpu_used(a, b) for a, b in zip(self._c0, self._cpu(), strict=True)]
        threads = [
            cpu_used(a, thread_seconds(pid))
            for a, pid in zip(self._threads0, self.pids, strict=True)
        ]
        if self.spy is not None:
            try:
                self.spy.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.spy.kill()
                self.spy.wait()
        if not self.pids:
            return {}

        def pct(seconds: float) -> float:
            return 100.0 * seconds / wall if wall else 0.0

        procs = []
        for pid, tree, thread in zip(self.pids, used, threads, strict=False):
            main = tree.pop(pid, 0.0)
            loop = thread.pop(pid, 0.0)  # the main thread: the event loop
            procs.append(
                {
                    "pid": pid,
                    "cpu_s": main,
                    "cpu_pct": pct(main),
                    # of which the event loop's thread, and the others (the AI's worker thread)
                    "loop_thread_cpu_s": loop,
                    "other_threads_cpu_s": sum(thread.values()),
                    "children_cpu_s": sum(tree.values()),
                    "peak_rss_mb": vm_hwm_mb(pid),
                }
            )
        main = sum(p["cpu_s"] for p in procs)
        # the Redis: each server's children (its embedded one) and the shared one
        others = sum(p["children_cpu_s"] for p in procs) + sum(used[-2].values())
        peaks = [p["peak_rss_mb"] for p in procs if p["peak_rss_mb"] is not None]
        loop_s = sum(p["loop_thread_cpu_s"] for p in procs)
        out: dict[str, Any] = {
            "server_cpu_s": main,
            "server_cpu_pct": pct(main),
            "server_loop_thread_cpu_s": loop_s,
            "server_loop_thread_cpu_pct": pct(loop_s),
            "children_cpu_pct": pct(others),
            "children_cpu_s": others,
            "server_peak_rss_mb": max(peaks) if peaks else None,
            "server_processes": procs,
        }
        if self.nginx:
            nginx = sum(used[-1].values())
            out.update(nginx_cpu_s=nginx, nginx_cpu_pct=pct(nginx))
        return out
