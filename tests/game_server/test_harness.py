"""The one harness that starts servers for tests and benchmarks: a real ``python -m
game_server`` process that answers /healthz, can be paused (SIGSTOP), resumed and stopped, and a
start-up failure that says why."""

from __future__ import annotations

from pathlib import Path

import pytest

from game_server import harness
from game_server.config import Settings


def test_a_server_process_is_ready_pauses_resumes_and_stops(
    settings: Settings, tmp_path: Path
) -> None:
    env = {"REDIS_URL": str(settings.redis_url), "DOODLE_REDIS_PREFIX": settings.redis_prefix}
    with harness.running_server(env, tmp_path / "server.log") as srv:
        assert srv.process_id  # read from /healthz once it answered 200
        assert srv.ws_url == f"ws://127.0.0.1:{srv.port}/ws"
        srv.pause()
        with pytest.raises(OSError):  # a stopped process answers nothing
            srv.health(timeout=0.5)
        srv.resume()
        status, body = srv.health()
        assert status == 200 and body["process"] == srv.process_id
        assert srv.stop() == 0  # SIGTERM: a graceful shutdown
    assert not srv.alive()


def test_a_server_that_cannot_start_is_reported_with_its_log(tmp_path: Path) -> None:
    with pytest.raises(harness.ServerStartError, match="configuration error"):
        harness.start_server({"DOODLE_LEASE_MS": "soon"}, tmp_path / "server.log")
