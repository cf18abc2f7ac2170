from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import redis

from game_server.redis_embedded import EmbeddedRedis


def test_embedded_redis_is_a_real_server_and_stops() -> None:
    with EmbeddedRedis() as server:
        client = redis.Redis.from_url(server.url)
        assert client.set("k", "v", nx=True, px=5000)
        assert not client.set("k", "w", nx=True, px=5000)
        assert client.eval("return redis.call('GET', KEYS[1])", 1, "k") == b"v"
        info = client.info("server")
        assert info["redis_version"].startswith(("6.", "7."))
        client.close()
        socket_path = server.socket_path
    assert not socket_path.exists()


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "State:\tZ" in state  # exited, not yet reaped by init


def test_embedded_redis_dies_with_a_killed_parent() -> None:
    script = (
        "import sys\n"
        "from game_server.redis_embedded import EmbeddedRedis\n"
        "server = EmbeddedRedis().start()\n"
        "print(server.pid, flush=True)\n"
        "sys.stdin.read()\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert parent.stdout is not None
    pid = int(parent.stdout.readline())
    assert not _gone(pid)
    parent.kill()  # SIGKILL: no cleanup code runs in the parent
    parent.wait()
    deadline = time.monotonic() + 30
    while not _gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)  # polling the child's state, bounded
    assert _gone(pid)
    parent.stdout.close()
    assert parent.stdin is not None
    parent.stdin.close()
