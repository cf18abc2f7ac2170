"""The load generator drives a real server (subprocess, embedded Redis), or two behind Debian's
nginx sharing one Redis, over real WebSockets from several client processes and reports the
documented JSON keys; it reads guesses from both the per-update ``guess`` and the per-tick
``frame`` messages; its target guard refuses non-loopback addresses."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from bench.load import cli, clients, player, server, stats, sweep
from bench.load.pacer import Pacer

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "url",
    ["ws://127.0.0.1:8123/ws", "ws://localhost:1/ws", "ws://[::1]:8123/ws", "ws://127.0.0.2/ws"],
)
def test_loopback_targets_are_accepted(url: str) -> None:
    host, port = server.check_loopback(url)
    assert host and port


@pytest.mark.parametrize(
    "url", ["ws://10.0.0.1:8123/ws", "ws://example.com/ws", "ws://0.0.0.0:80/ws", "http://x/ws"]
)
def test_other_targets_are_refused(url: str) -> None:
    with pytest.raises(server.LoadError):
        server.check_loopback(url)


def test_cli_refuses_a_remote_url() -> None:
    with pytest.raises(SystemExit):
        cli.parse_args(["--url", "ws://192.168.1.10:8000/ws"])


def _runs(p99: float) -> list[dict[str, Any]]:
    return [
        {"players": n, "updates_per_s": 8.0 * n, "latency_ms": {"p50": 5.0, "p95": 9.0, "p99": p99}}
        for n in (2, 4, 8)
    ]


def test_sweep_plot_is_written(tmp_path: Path) -> None:
    path = sweep.plot_sweep({"this": _runs(12.0)}, tmp_path / "plot.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_two_saved_sweeps_are_plotted_side_by_side(tmp_path: Path) -> None:
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps({"label": "main", "sweep": _runs(300.0)}))
    new.write_text(json.dumps({"sweep": _runs(30.0)}))  # no label: the file's name
    assert sweep.load_sweep(str(new)) == ("new", _runs(30.0))
    out = tmp_path / "both.png"
    assert cli.main(["--plot-from", str(old), "--plot-from", str(new), "--plot", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_players_frame_guess_is_read_alone() -> None:
    top = [{"label": "p2", "p": 0.81}]  # a label that looks like a player id is not a key
    guesses = {"p2": {"seq": 7, "guesses": top}, "p3": {"seq": 9, "guesses": top}}
    ink = {"p2": [{"op": "points", "stroke": 0, "points": [[1, 2, 3]]}, {"op": "clear"}]}
    compact = json.dumps({"type": "frame", "ink": ink, "guesses": guesses}, separators=(",", ":"))
    spaced = json.dumps({"type": "frame", "guesses": guesses, "ink": ink}, indent=1)
    for raw in (compact, spaced):
        assert player.frame_guess(raw, player.key_pattern("p3")) == guesses["p3"]
        assert player.frame_guess(raw, player.key_pattern("p2")) == guesses["p2"]
        assert player.frame_guess(raw, player.key_pattern("p4")) is None
    only_ink = json.dumps({"type": "frame", "ink": ink})
    assert player.frame_guess(only_ink, player.key_pattern("p2")) is None
    ink_after = json.dumps({"type": "frame", "guesses": {"p3": guesses["p3"]}, "ink": ink})
    assert player.frame_guess(ink_after, player.key_pattern("p2")) is None  # p2's ink, no guess


def test_stats_of_client_processes_add_up() -> None:
    a, b = stats.Stats(window_start=1.0, window_end=2.0), stats.Stats(1.0, 2.0)
    a.sent_updates, b.sent_updates = 3, 4
    a.latencies_ms, b.latencies_ms = [1.0], [2.0, 3.0]
    a.count_error("bad_stroke")
    b.count_error("bad_stroke")
    b.count_error("drawing_locked")  # a benign race, not an error
    merged = stats.Stats.merged([a.to_dict(), b.to_dict()])
    assert (merged.window_start, merged.window_end) == (1.0, 2.0)
    assert merged.sent_updates == 7
    assert sorted(merged.latencies_ms) == [1.0, 2.0, 3.0]
    assert merged.errors == {"bad_stroke": 2}
    assert merged.races == {"drawing_locked": 1}


def _load_json(*options: str) -> dict[str, Any]:
    """``python -m bench.load --json --capacity`` (nobody is locked out by a recognition: all
    keep streaming) with short windows and ``options``; its JSON."""
    cmd = [
        sys.executable, "-m", "bench.load", "--duration", "3", "--warmup", "1", "--grace", "2",
        "--json", "--capacity", *options,
    ]  # fmt: skip
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def test_players_in_two_client_processes_against_a_real_server() -> None:
    opts = ("--players", "4", "--rooms", "2", "--client-procs", "2", "--speedup", "3")
    result = _load_json(*opts)
    for key in ("updates_per_s", "latency_ms", "players", "rooms", "recognized", "errors"):
        assert key in result
    assert {"p50", "p95", "p99"} <= result["latency_ms"].keys()
    assert result["players"] == 4 and result["rooms"] == 2
    assert result["client_procs"] == 2
    assert result["updates"] > 0
    assert result["latency_ms"]["n"] > 0
    assert result["errors"] == 0 and result["dropped_connections"] == 0
    assert result["players_in_round_at_end"] == 4  # both rooms' games started
    assert result["server_peak_rss_mb"] > 0
    assert result["server_cpu_us_per_update"] > 0
    assert result["client_cpu_us_per_update"] > 0
    assert result["mode"] == "capacity"
    assert result["processes"] == 1 and result["target"] == "spawned"
    (proc,) = result["server_processes"]
    assert proc["rooms_owned"] == 2
    assert proc["cpu_us_per_update"] == pytest.approx(result["server_cpu_us_per_update"])
    # the event loop's thread is part of the process's CPU, the AI's thread the rest
    assert 0 < proc["loop_thread_cpu_us_per_update"] <= proc["cpu_us_per_update"]
    # (each reading is in clock ticks, per thread)
    assert proc["loop_thread_cpu_s"] + proc["other_threads_cpu_s"] == pytest.approx(
        proc["cpu_s"], abs=0.2
    )
    assert result["server_loop_thread_cpu_us_per_update"] == pytest.approx(
        proc["loop_thread_cpu_us_per_update"]
    )
    assert "nginx_cpu_us_per_update" not in result


def test_two_server_processes_behind_nginx_share_the_rooms() -> None:
    """``--processes 2``: one Redis, two servers, Debian's nginx with the shipped site; every
    room's sockets carry its code, so nginx's consistent hash spreads the rooms over both
    processes (20 rooms: all on one process has a chance of about 2 in a million)."""
    result = _load_json("--processes", "2", "--players", "20", "--rooms", "20")
    assert result["processes"] == 2 and result["target"] == "spawned, behind nginx"
    assert result["errors"] == 0 and result["dropped_connections"] == 0
    assert result["players_in_round_at_end"] == 20
    assert result["latency_ms"]["n"] > 0
    procs = result["server_processes"]
    assert len(procs) == 2 and len({p["pid"] for p in procs}) == 2
    owned = [p["rooms_owned"] for p in procs]
    assert sum(owned) == 20 and min(owned) > 0, owned
    assert all(p["cpu_us_per_update"] > 0 for p in procs)
    assert result["server_cpu_us_per_update"] == pytest.approx(
        sum(p["cpu_us_per_update"] for p in procs)
    )
    # the processes' own CPU plus the Redis they share
    assert result["server_total_cpu_us_per_update"] >= result["server_cpu_us_per_update"]
    assert result["nginx_cpu_us_per_update"] >= 0
    assert result["server_log_problems"] == {} and result["nginx_log_problems"] == {}
    assert result["server_env"] == {"DOODLE_RECOGNITION_THRESHOLD": "2"}


def _client_run() -> clients.ClientRun:
    cfg = clients.ClientConfig(
        ws_url="ws://127.0.0.1:1/ws", origin="http://127.0.0.1:1", rooms=(("ROOM", 2),),
        first_index=0, seed=0, speedup=1.0, interval_ms=100.0, rounds=1, seconds=20,
        compression=False, capacity=True, connect_concurrency=1, grace=0.0,
    )  # fmt: skip
    run = clients.ClientRun(cfg)
    run.stats.window_start, run.stats.window_end = 0.0, float("inf")
    return run


@pytest.mark.parametrize("per_update", [False, True])
async def test_a_guess_ends_the_latency_of_every_update_it_covers(per_update: bool) -> None:
    """The same guesses, as today's per-update ``guess`` messages or in a per-tick ``frame``."""
    run = _client_run()
    me = player.Player(run, "ROOM", 0, host=False, room_size=2)
    me.player_id, me.prompt, me.attempt_open = "p1", "cat", True
    me.key = player.key_pattern("p1")
    me.pending.extend([(6, 10.0), (7, 10.5), (8, 11.0)])
    top = [{"label": "cat", "p": 0.9}]
    other = {"type": "guess", "player_id": "p2", "seq": 99, "guesses": top}
    mine = {"type": "guess", "player_id": "p1", "seq": 7, "guesses": top}
    if per_update:
        messages = [{"type": "ink", "player_id": "p2", "stroke": 0, "points": [[1, 2, 3]]}]
        messages += [other, mine]
    else:
        ink = {"p2": [{"op": "points", "stroke": 0, "points": [[1, 2, 3]]}]}
        guesses = {k["player_id"]: {"seq": k["seq"], "guesses": top} for k in (other, mine)}
        messages = [{"type": "frame", "ink": ink, "guesses": guesses}]
    for m in messages:
        me.handle(json.dumps(m), 12.0)
    assert run.stats.latencies_ms == [2000.0, 1500.0]  # seq 6 and 7; 8 still pending
    assert list(me.pending) == [(8, 11.0)]
    assert run.stats.guesses == 1  # p2's guess is not counted for p1
    assert me.attempt_hit  # capacity mode: the top guess is the prompt


def _cmdline(proc: psutil.Process) -> list[str]:
    try:
        return proc.cmdline()
    except psutil.Error:  # it exited meanwhile
        return []


@pytest.mark.parametrize(("processes", "last"), [(1, "-m game_server"), (2, "nginx")])
def test_a_terminated_run_stops_its_server(processes: int, last: str) -> None:
    """SIGTERM (e.g. ``timeout``) unwinds the run: no orphaned server process (nor Redis, nor
    nginx) is left, also when it comes while they start (``last``: the last one started)."""
    cmd = [
        sys.executable, "-m", "bench.load", "--players", "2", "--rooms", "1",
        "--duration", "120", "--warmup", "0", "--capacity", "--processes", str(processes),
    ]  # fmt: skip
    bench = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    spawned: list[psutil.Process] = []
    names: list[str] = []
    try:
        me = psutil.Process(bench.pid)
        deadline = time.monotonic() + 60
        while bench.poll() is None and time.monotonic() < deadline:
            spawned = me.children(recursive=True)
            names = [" ".join(_cmdline(p)) for p in spawned]
            if any(last in n for n in names):
                break
            time.sleep(0.05)  # polling for a child process to appear (bounded)
        assert sum("-m game_server" in n for n in names) == processes, names
        bench.send_signal(signal.SIGTERM)
        assert bench.wait(timeout=60) == 128 + signal.SIGTERM
        _, alive = psutil.wait_procs(spawned, timeout=30)
        assert not alive, [p.pid for p in alive]
    finally:
        if bench.poll() is None:
            bench.kill()
            bench.wait()
        for proc in spawned:  # a failed test leaves nothing running either
            with contextlib.suppress(psutil.Error):
                proc.kill()


async def test_the_pacer_releases_players_in_time_order_never_early() -> None:
    loop = asyncio.get_running_loop()
    pacer = Pacer()
    released: list[float] = []

    async def wait(due: float) -> None:
        await pacer.until(due)
        assert loop.time() >= due
        released.append(due)

    t = loop.time()
    dues = [t + 0.012, t + 0.001, t + 0.006, t + 0.006, t - 1.0]
    stopped = asyncio.ensure_future(pacer.until(t + 0.003))
    stopped.cancel()  # a player that stopped drawing: skipped, the others still released
    await asyncio.gather(*(wait(d) for d in dues))
    assert released == sorted(dues)
    assert pacer._timer is None  # nobody waits: no timer left armed


def test_the_floor_server_serves_the_load_generator() -> None:
    """``bench.floor``: the product's WebSocket path without a game, driven by the same load
    generator; every update is answered by a frame carrying its player's guess."""
    cmd = [
        sys.executable, "-m", "bench.floor", "--players", "4", "--rooms", "1",
        "--duration", "3", "--warmup", "1", "--grace", "2", "--speedup", "3",
    ]  # fmt: skip
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout)
    assert result["server"] == "bench.floor" and result["target"] != "spawned"
    assert result["players_in_round_at_end"] == 4
    assert result["updates"] > 0 and result["unanswered"] == 0
    assert result["latency_ms"]["n"] > 0
    assert result["errors"] == 0 and result["dropped_connections"] == 0
    assert result["server_cpu_us_per_update"] > 0
