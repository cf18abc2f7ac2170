from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from game_server.config import SPECS, ConfigError, Settings


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


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("DOODLE_PORT", "70000", "<= 65535"),
        ("DOODLE_RECOGNITION_THRESHOLD", "-0.5", ">= 0"),
        ("DOODLE_COORDINATE_LIMIT", "nan", "finite"),
        ("DOODLE_LOG_JSON", "maybe", "1 or 0"),
        ("DOODLE_METRICS", "of", "1 or 0"),
        ("DOODLE_LOG_LEVEL", "loud", "one of"),
        ("DOODLE_MAX_NAME_LENGTH", "2.5", "integer"),
    ],
)
def test_every_declared_bound_is_checked(name: str, value: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=f"{name} must be .*{problem}"):
        Settings.from_env({name: value})


def test_values_are_parsed_by_their_declared_type() -> None:
    s = Settings.from_env(
        {
            "DOODLE_LOG_LEVEL": "DEBUG",
            "DOODLE_LOG_JSON": "yes",
            "DOODLE_METRICS": "off",
            "DOODLE_PROMPTS": "cat, ,dog",
            "DOODLE_INTERMISSION_SECONDS": "0.5",
            "DOODLE_MODEL_PATH": "",  # empty: the default
            "DOODLE_HOST": "",
        }
    )
    assert (s.log_level, s.log_json, s.metrics_enabled) == ("debug", True, False)
    assert s.prompts == ("cat", "dog")
    assert s.intermission_seconds == 0.5
    assert (s.model_path, s.host) == (None, Settings().host)


def test_every_setting_but_the_web_client_folder_is_declared() -> None:
    declared = {name for name, _, _ in SPECS}
    assert declared == {f.name for f in fields(Settings)} - {"web_client_dir"}
    envs = [spec.env for _, spec, _ in SPECS]
    assert len(set(envs)) == len(envs)
    assert all(e.startswith("DOODLE_") for e in envs if e != "REDIS_URL")


def test_public_settings_are_the_limits_the_browser_needs() -> None:
    public = Settings.from_env({"DOODLE_MAX_NAME_LENGTH": "8"}).public()
    assert public["max_name_length"] == 8
    assert {"max_rounds", "min_round_seconds", "max_round_seconds", "max_points_per_update"} <= set(
        public
    )
    assert not {"redis_url", "redis_prefix", "model_path", "allowed_origins"} & set(public)


def test_an_optional_number_is_parsed_as_a_number() -> None:
    assert Settings.from_env({}).recognition_threshold is None
    assert Settings.from_env({"DOODLE_RECOGNITION_THRESHOLD": "2"}).recognition_threshold == 2.0


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
