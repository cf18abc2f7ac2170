from __future__ import annotations

from pathlib import Path

import pytest
import redis

from game_server.redis_embedded import EmbeddedRedis, EmbeddedRedisError


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


def test_a_data_directory_keeps_its_data_and_serves_one_server_at_a_time(tmp_path: Path) -> None:
    with EmbeddedRedis(appendonly=True, directory=tmp_path) as server:
        client = redis.Redis.from_url(server.url)
        client.zincrby("lb", 120, "ada")
        client.close()
        with pytest.raises(EmbeddedRedisError, match="locked"):
            EmbeddedRedis(appendonly=True, directory=tmp_path).start()
    with EmbeddedRedis(appendonly=True, directory=tmp_path) as again:
        client = redis.Redis.from_url(again.url)
        assert client.zscore("lb", "ada") == 120
        client.close()
