"""``python -m bench.fanout``: both write paths measured against a real uvicorn server."""

from __future__ import annotations

from bench.fanout import measure


async def test_both_paths_are_measured_against_a_real_server() -> None:
    result = await measure(sockets=3, rounds=20, repeat=2)
    assert set(result["us_per_message"]) == {"queue", "wire"}
    assert all(len(runs) == 2 and min(runs) > 0 for runs in result["runs_us"].values())
    assert result["message_bytes"] > 100
