"""The server's Redis pool opens connections without scanning the installed packages."""

from __future__ import annotations

import redis
import redis.utils

from game_server.app import redis_pool
from game_server.config import Settings


async def test_a_new_connection_does_not_look_up_the_package_version(
    settings: Settings, monkeypatch
) -> None:
    looked_up: list[str] = []

    def version() -> str:  # redis-py's lookup in the packages' metadata
        looked_up.append("redis")
        return redis.__version__

    monkeypatch.setattr(redis.utils, "get_lib_version", version)
    pool = redis_pool(settings)
    try:
        conns = [await pool.get_connection() for _ in range(3)]  # three new connections
        for conn in conns:
            assert conn.driver_info is not None  # what CLIENT SETINFO tells Redis
            assert conn.driver_info.lib_version == redis.__version__
            assert await conn.send_command("PING") is None
            assert await conn.read_response() == "PONG"
            await pool.release(conn)
    finally:
        await pool.disconnect()
    assert looked_up == []
