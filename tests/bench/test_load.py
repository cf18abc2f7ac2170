"""The load generator drives a real server (subprocess, embedded Redis) over real WebSockets
and reports the documented JSON keys; its target guard refuses non-loopback addresses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench import load

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "url",
    ["ws://127.0.0.1:8123/ws", "ws://localhost:1/ws", "ws://[::1]:8123/ws", "ws://127.0.0.2/ws"],
)
def test_loopback_targets_are_accepted(url: str) -> None:
    host, port = load.check_loopback(url)
    assert host and port


@pytest.mark.parametrize(
    "url", ["ws://10.0.0.1:8123/ws", "ws://example.com/ws", "ws://0.0.0.0:80/ws", "http://x/ws"]
)
def test_other_targets_are_refused(url: str) -> None:
    with pytest.raises(load.LoadError):
        load.check_loopback(url)


def test_cli_refuses_a_remote_url() -> None:
    with pytest.raises(SystemExit):
        load.parse_args(["--url", "ws://192.168.1.10:8000/ws"])


def test_sweep_plot_is_written(tmp_path: Path) -> None:
    runs = [
        {
            "players": n,
            "updates_per_s": 8.0 * n,
            "latency_ms": {"p50": 5.0, "p95": 9.0, "p99": 12.0},
        }
        for n in (2, 4, 8)
    ]
    path = load.plot_sweep(runs, tmp_path / "plot.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_two_players_against_a_real_server() -> None:
    cmd = [
        sys.executable, "-m", "bench.load", "--players", "2", "--rooms", "1",
        "--duration", "3", "--warmup", "1", "--grace", "2", "--speedup", "3", "--json",
        "--capacity",  # nobody is locked out by a recognition: both keep streaming
    ]  # fmt: skip
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout)
    for key in ("updates_per_s", "latency_ms", "players", "rooms", "recognized", "errors"):
        assert key in result
    assert {"p50", "p95", "p99"} <= result["latency_ms"].keys()
    assert result["players"] == 2 and result["rooms"] == 1
    assert result["updates"] > 0
    assert result["latency_ms"]["n"] > 0
    assert result["dropped_connections"] == 0
    assert result["server_peak_rss_mb"] > 0
    assert result["mode"] == "capacity"
