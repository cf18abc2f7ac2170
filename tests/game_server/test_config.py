from __future__ import annotations

from pathlib import Path

import pytest

from game_server.config import ConfigError, Settings


def test_defaults_without_environment() -> None:
    s = Settings.from_env({})
    assert s.redis_url is None
    assert s.port == 8000
    assert s.default_rounds == 6
    assert s.default_round_seconds == 20


def test_reads_environment() -> None:
    s = Settings.from_env(
        {
            "REDIS_URL": "redis://example:6379/0",
            "DOODLE_PORT": "9001",
            "DOODLE_ALLOWED_ORIGINS": "https://a.example, https://b.example",
            "DOODLE_ROOM_CAPACITY": "4",
        }
    )
    assert s.redis_url == "redis://example:6379/0"
    assert s.port == 9001
    assert s.allowed_origins == ("https://a.example", "https://b.example")
    assert s.room_capacity == 4


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DOODLE_PORT", "eighty"),
        ("DOODLE_ROOM_CAPACITY", "0"),
        ("DOODLE_INTERMISSION_SECONDS", "x"),
    ],
)
def test_rejects_bad_values(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


def test_overrides_must_name_real_settings() -> None:
    assert Settings.from_env({}, port=1234).port == 1234
    with pytest.raises(ConfigError):
        Settings.from_env({}, no_such_setting=1)


def test_the_embedded_redis_data_dir_is_per_user_by_default() -> None:
    home = Settings.from_env({"HOME": "/home/ada"}).data_dir
    assert home == Path("/home/ada/.local/share/doodle-arena")
    xdg = Settings.from_env({"HOME": "/home/ada", "XDG_DATA_HOME": "/data"}).data_dir
    assert xdg == Path("/data/doodle-arena")
    assert Settings.from_env({"DOODLE_DATA_DIR": "/srv/d"}).data_dir == Path("/srv/d")
    assert Settings.from_env({"HOME": "/home/ada", "DOODLE_DATA_DIR": ""}).data_dir is None
    timeouts = Settings.from_env(
        {"DOODLE_JOIN_TIMEOUT_SECONDS": "3", "DOODLE_HEADER_TIMEOUT_SECONDS": "2.5"}
    )
    assert (timeouts.join_timeout_seconds, timeouts.header_timeout_seconds) == (3.0, 2.5)
