"""The server under load: a ``python -m game_server`` spawned through
:mod:`game_server.harness` (embedded Redis, limits sized for one client address), or the
``--url`` of a running one (loopback only); its CPU time, peak memory and log problems."""

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
from bench.load.stats import cpu_seconds, cpu_used, vm_hwm_mb
from game_server import harness

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
    """Where the load goes, and what is known of it (``server`` when spawned here)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.server: harness.ServerProcess | None = None
        self._model_dir: str | None = None
        self.model = "as served by --url"
        self.env_used: dict[str, str] = {}
        if args.url:
            check_loopback(args.url)
            self.ws_url, self.pid = args.url, args.server_pid
            return
        env = dict(kv.split("=", 1) for kv in args.server_env)
        if args.capacity:  # nobody is ever recognized: every player keeps drawing
            env.setdefault("DOODLE_RECOGNITION_THRESHOLD", "2")
        self.env_used = dict(env)
        self.model = env.get("DOODLE_MODEL_PATH", "shipped artifact")
        if "DOODLE_MODEL_PATH" not in env and (
            args.stand_in or not classifier_mod.shipped_artifact_loads()
        ):
            self._model_dir = tempfile.mkdtemp(prefix="bench-model-")
            env["DOODLE_MODEL_PATH"] = str(classifier_mod.write_stand_in_artifact(self._model_dir))
            self.model = "STAND-IN random-weight MLP (--stand-in, or no shipped artifact)"
        self.env_used.pop("DOODLE_MODEL_PATH", None)
        try:
            self.server = harness.start_server({**SPAWN_ENV, **env})
        except harness.ServerStartError as exc:
            self.close()
            raise LoadError(str(exc)) from exc
        self.ws_url, self.pid = self.server.ws_url, self.server.pid

    @property
    def http_url(self) -> str:
        host, port = check_loopback(self.ws_url)
        return f"http://{host}:{port}"

    def log_summary(self, limit: int | None = None) -> dict[str, Any]:
        """Warnings and errors the spawned server logged (up to byte ``limit``: the end of the
        run, before the clients hang up and the server shuts down), by logger."""
        if self.server is None:
            return {}
        counts: Counter[str] = Counter()
        try:
            with self.server.log.open("rb") as fh:
                text = fh.read(limit if limit is not None else -1).decode(errors="replace")
        except OSError:
            text = ""
        for line in text.splitlines():
            parts = line.split(" ", 4)
            if len(parts) >= 4 and parts[2] in ("WARNING", "ERROR", "CRITICAL"):
                counts[f"{parts[2]} {parts[3]}"] += 1
        out: dict[str, Any] = {"server_log_problems": dict(counts)}
        if counts:
            out["server_log"] = str(self.server.log)
        return out

    def describe(self) -> dict[str, Any]:
        if self.server is None:
            return {"target": self.ws_url, "model": self.model}
        return {"target": "spawned", "model": self.model, "server_env": self.env_used}

    def close(self, keep_log: bool = False) -> None:
        if self.server is not None:
            self.server.stop()
            if not keep_log:
                self.server.log.unlink(missing_ok=True)
        if self._model_dir is not None:
            shutil.rmtree(self._model_dir, ignore_errors=True)


class ServerMeter:
    """CPU seconds of the server process and of its children (its embedded Redis) over the
    window, its peak RSS, and optionally a py-spy profile of the window."""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid
        self._t0 = 0.0
        self._c0: dict[int, float] = {}
        self.spy: subprocess.Popen[bytes] | None = None

    def _cpu(self) -> dict[int, float]:
        return cpu_seconds([self.pid], children=True) if self.pid else {}

    def start(self, py_spy: str | None = None, duration: float = 0.0) -> None:
        self._t0 = time.monotonic()
        self._c0 = self._cpu()
        if py_spy and self.pid:
            # sample the server during the window (collapsed stacks for bench.profile)
            exe = Path(sys.executable).with_name("py-spy")
            self.spy = subprocess.Popen(
                [str(exe) if exe.exists() else "py-spy", "record", "--pid", str(self.pid),
                 "--duration", str(max(1, int(duration))), "--rate", "250", "--format", "raw",
                 "--nonblocking", "--output", py_spy],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip

    def stop(self) -> dict[str, Any]:
        wall = time.monotonic() - self._t0
        used = cpu_used(self._c0, self._cpu())
        if self.spy is not None:
            try:
                self.spy.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.spy.kill()
                self.spy.wait()
        if not self.pid:
            return {}
        main = used.pop(self.pid, 0.0)
        others = sum(used.values())
        return {
            "server_cpu_s": main,
            "server_cpu_pct": 100.0 * main / wall if wall else 0.0,
            "children_cpu_pct": 100.0 * others / wall if wall else 0.0,
            "children_cpu_s": others,
            "server_peak_rss_mb": vm_hwm_mb(self.pid),
        }
