"""A serving process runs the garbage collector's young generation every 10,000 container
allocations, not Python's 700 (docs/BENCHMARKS.md, "Garbage collection")."""

from __future__ import annotations

import gc
from typing import Any

from game_server.app import GC_THRESHOLDS, create_app
from game_server.config import Settings


async def test_the_server_sets_its_collector_thresholds_once_serving(
    settings: Settings, server_factory: Any
) -> None:
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)  # Python's defaults
    try:
        async with server_factory(create_app(settings)):
            assert gc.get_threshold() == GC_THRESHOLDS
            assert GC_THRESHOLDS[0] == 10_000
    finally:
        gc.set_threshold(*before)
