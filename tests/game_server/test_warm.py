"""A server process compiles the raster's and the MLP's numba kernels before it serves (not in a
tick)."""

from __future__ import annotations

import os
import subprocess
import sys

from game_server.config import Settings

# in a fresh interpreter: nothing has rendered a drawing there yet
PROBE = """
import asyncio
import redis.asyncio as aioredis
from game_server.config import Settings
from game_server.node import Node
from model import load_classifier
from model.incremental import _kernels
from model.sparse_mlp import _kernel

async def main():
    settings = Settings.from_env()
    redis = aioredis.Redis.from_url(settings.redis_url, decode_responses=True)
    node = Node(settings, redis, load_classifier())
    await node.start()
    try:
        print(all(kernel.signatures for kernel in [*_kernels(), _kernel()]))
    finally:
        await node.close()
        await redis.aclose()

asyncio.run(main())
"""


def test_node_start_compiles_the_numba_kernels(settings: Settings) -> None:
    assert settings.redis_url is not None
    env = {
        **os.environ,
        "REDIS_URL": settings.redis_url,
        "DOODLE_REDIS_PREFIX": settings.redis_prefix,
    }
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"
