"""Start a real game server for tests and benchmarks: the one place that does it.

Two ways, both on loopback:

* :func:`serve_app` runs an app with a real ``uvicorn.Server`` in this event loop, on a
  socket bound to ``127.0.0.1:0``, and waits on uvicorn's own ``started`` flag.
* :func:`start_server` spawns ``python -m game_server`` on a free port with the environment it
  is given (settings are ``DOODLE_*`` variables), waits until ``/healthz`` answers 200, and
  returns a :class:`ServerProcess` that can be stopped, killed, paused and resumed.

In front of several such processes, :func:`start_nginx` runs Debian's nginx
(``scripts/test-setup.sh`` installs it) with the shipped site ``deploy/nginx/doodle-arena.conf``
and its list of local upstreams pointed at them (:class:`NginxProcess`).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from starlette.types import ASGIApp

__all__ = [
    "AppServer",
    "NginxProcess",
    "ServerProcess",
    "ServerStartError",
    "free_port",
    "nginx_site",
    "running_server",
    "serve_app",
    "server_env",
    "start_nginx",
    "start_server",
]

REPO = Path(__file__).resolve().parent.parent
DEPLOY_NGINX = REPO / "deploy" / "nginx"


class ServerStartError(RuntimeError):
    """The server process exited or did not become healthy in time."""


def _urls(host: str, port: int) -> tuple[str, str]:
    return f"http://{host}:{port}", f"ws://{host}:{port}/ws"


# --------------------------------------------------------------------------- in this process


@dataclass
class AppServer:
    server: uvicorn.Server
    host: str
    port: int

    @property
    def http_url(self) -> str:
        return _urls(self.host, self.port)[0]

    @property
    def ws_url(self) -> str:
        return _urls(self.host, self.port)[1]


@asynccontextmanager
async def serve_app(app: ASGIApp, **config: Any) -> AsyncIterator[AppServer]:
    """Serve ``app`` with a real ``uvicorn.Server`` on a socket bound to 127.0.0.1:0
    (``config``: more ``uvicorn.Config`` options); shut down on exit."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    host, port = sock.getsockname()[:2]
    config.setdefault("log_level", "warning")
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", **config))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
                raise ServerStartError("uvicorn exited before it started")
            await asyncio.sleep(0.01)  # wait for uvicorn's own 'started' flag
        yield AppServer(server=server, host=host, port=port)
    finally:
        server.should_exit = True
        await task
        sock.close()


# --------------------------------------------------------------------------- subprocess


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(overrides: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """This process's environment with ``overrides`` applied (``None`` removes a variable,
    e.g. ``{"REDIS_URL": None}`` for an embedded Redis). An embedded Redis keeps no data
    (``DOODLE_DATA_DIR`` empty) unless ``overrides`` name a data directory: a test or benchmark
    server must neither share nor fill the player's own data directory."""
    env = {**os.environ, "DOODLE_DATA_DIR": ""}
    for key, value in (overrides or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


@dataclass
class _LocalChild:
    """A child process serving HTTP and WebSockets on ``127.0.0.1:port``."""

    proc: subprocess.Popen[bytes]
    port: int

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def http_url(self) -> str:
        return _urls("127.0.0.1", self.port)[0]

    @property
    def ws_url(self) -> str:
        return _urls("127.0.0.1", self.port)[1]


@dataclass
class ServerProcess(_LocalChild):
    """A ``python -m game_server`` child process and what it logs."""

    log: Path
    process_id: str | None = None  # the server's own id, from /healthz

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_size(self) -> int:
        try:
            return self.log.stat().st_size
        except OSError:
            return 0

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def health(self, timeout: float = 2.0) -> tuple[int, dict[str, Any]]:
        """``(status, body)`` of ``GET /healthz``; raises ``OSError`` when nothing answers."""
        url = f"{self.http_url}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:  # loopback only
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        try:
            body = json.loads(raw)
        except ValueError:
            body = {}
        return status, body if isinstance(body, dict) else {}

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Block until ``/healthz`` answers 200 (and note the server's process id)."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.alive():
                raise ServerStartError(
                    f"game server exited with {self.proc.returncode}:\n{self.log_tail()}"
                )
            try:
                status, body = self.health()
                if status == 200:
                    self.process_id = body.get("process")
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise ServerStartError(
                    f"game server not healthy after {timeout:.0f} s (log: {self.log}):\n"
                    f"{self.log_tail()}"
                )
            time.sleep(0.05)  # polling a child process at start-up

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM (graceful shutdown), SIGKILL after ``timeout``; the exit status."""
        if self.alive():
            self.resume()  # a stopped process cannot handle SIGTERM
            self.proc.terminate()
            try:
                return self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        return self.kill()

    def kill(self) -> int:
        """SIGKILL (a crash: no shutdown code runs); the exit status."""
        if self.alive():
            self.proc.kill()
        return self.proc.wait()

    def pause(self) -> None:
        """SIGSTOP: the process hangs (sockets open, nothing answered)."""
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after :meth:`pause`."""
        if self.alive():
            self.proc.send_signal(signal.SIGCONT)


def start_server(
    env: Mapping[str, str | None] | None = None,
    log: Path | None = None,
    *,
    timeout: float = 60.0,
    wrapper: tuple[str, ...] = (),
) -> ServerProcess:
    """``python -m game_server --host 127.0.0.1 --port <free>`` with :func:`server_env`
    ``(env)``, output to ``log`` (default: a file in ``$TMPDIR``); returns once healthy.
    ``wrapper``: a command that execs the server (e.g. ``sh -c 'ulimit ...; exec "$@"' sh``)."""
    port = free_port()
    if log is None:
        log = Path(os.environ.get("TMPDIR", "/tmp")) / f"game-server-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                *wrapper,
                sys.executable,
                "-m",
                "game_server",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=REPO,
            env=server_env(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C of the caller does not reach it: stop() does
        )
    server = ServerProcess(proc, port, log)
    try:
        server.wait_ready(timeout)
    except BaseException:
        server.kill()
        raise
    return server


@contextmanager
def running_server(
    env: Mapping[str, str | None] | None = None, log: Path | None = None, timeout: float = 60.0
) -> Iterator[ServerProcess]:
    """:func:`start_server`, stopped on exit."""
    server = start_server(env, log, timeout=timeout)
    try:
        yield server
    finally:
        server.stop()


# --------------------------------------------------------------------------- nginx in front


def nginx_site(upstreams: Sequence[int], port: int, conf_dir: Path) -> str:
    """The shipped site (deploy/nginx/doodle-arena.conf) listening on ``127.0.0.1:port``, with
    the shipped list of local upstreams (deploy/nginx/upstream-local.conf) pointed at the
    processes on ``upstreams`` (ports on 127.0.0.1), installed in ``conf_dir`` as the site
    includes it."""
    servers = "".join(f"server 127.0.0.1:{p};\n" for p in upstreams)
    local, n = re.subn(
        r"(^server 127\.0\.0\.1:\d+;\n)+",
        servers,
        (DEPLOY_NGINX / "upstream-local.conf").read_text(),
        flags=re.M,
    )
    if n != 1:
        raise ServerStartError("upstream-local.conf no longer lists the local servers")
    site = (DEPLOY_NGINX / "doodle-arena.conf").read_text()
    include = re.findall(r"^\s*include (\S+);", site, flags=re.M)
    if len(include) != 2 or len(set(include)) != 1:
        raise ServerStartError("doodle-arena.conf: both upstream blocks must include the list")
    (conf_dir / include[0]).write_text(local)
    site, n = re.subn(r"listen \d+;", f"listen 127.0.0.1:{port};", site)
    if n != 1:
        raise ServerStartError("doodle-arena.conf: expected one 'listen PORT;'")
    return site


@dataclass
class NginxProcess(_LocalChild):
    """Debian's nginx (one process, no master) serving the shipped site from ``directory``."""

    directory: Path

    def error_log(self) -> str:
        try:
            return (self.directory / "error.log").read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def wait_ready(self, timeout: float) -> None:
        """Block until ``/healthz`` answers 200 through nginx (an upstream is up)."""
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise ServerStartError(f"nginx exited:\n{self.error_log()}")
            try:
                with urllib.request.urlopen(f"{self.http_url}/healthz", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:  # not up yet, or 502 while no upstream answers
                pass
            if time.monotonic() > deadline:
                raise ServerStartError(
                    f"nginx not ready after {timeout:.0f} s:\n{self.error_log()}"
                )
            time.sleep(0.05)  # polling a child process at start-up

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM (nginx's fast shutdown), SIGKILL after ``timeout``; the exit status."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                return self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()


def start_nginx(
    upstreams: Sequence[int],
    directory: Path,
    *,
    connections: int = 8192,
    timeout: float = 30.0,
) -> NginxProcess:
    """Debian's nginx on a free port of 127.0.0.1 with :func:`nginx_site` in front of the
    processes on ``upstreams``; its configuration, temporary files and logs in ``directory``
    (created); ``connections``: its ``worker_connections`` (each proxied socket takes two).
    Returns once ``/healthz`` answers through it."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    temp = " ".join(
        f"{kind}_temp_path {directory}/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (directory / "nginx.conf").write_text(
        f"daemon off; master_process off; pid {directory}/nginx.pid;\n"
        f"error_log {directory}/error.log; worker_rlimit_nofile {2 * connections + 64};\n"
        f"events {{ worker_connections {connections}; }}\n"
        f"http {{ access_log off; {temp}\n{nginx_site(upstreams, port, directory)}\n}}\n"
    )
    with (directory / "stdout.log").open("wb") as out:
        proc = subprocess.Popen(
            [binary, "-p", str(directory), "-e", str(directory / "error.log"),
             "-c", str(directory / "nginx.conf")],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C of the caller does not reach it: stop() does
        )  # fmt: skip
    nginx = NginxProcess(proc, port, directory)
    try:
        nginx.wait_ready(timeout)
    except BaseException:
        nginx.stop()
        raise
    return nginx
