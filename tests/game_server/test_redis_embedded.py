from __future__ import annotations

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
