"""``python -m bench.admission``: joins claimed here and handed off, against real servers."""

from __future__ import annotations

from bench.admission import run


async def test_both_cases_are_measured_against_real_servers(redis_url: str) -> None:
    result = await run(redis_url, joins=2, lease_ms=300)
    assert set(result["welcome_ms"]) == {"claimed", "handed_off"}
    assert all(row["min"] > 0 for row in result["welcome_ms"].values())
