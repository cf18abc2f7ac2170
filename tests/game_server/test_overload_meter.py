"""The overload detector (game_server/overload.py), driven with an injected clock and no I/O."""

from __future__ import annotations

import pytest

from game_server.config import ConfigError, Settings
from game_server.overload import MIN_RETRY_AFTER_MS, LoadMeter, Sample

T0 = 1_700_000_000_000


def meter(full_inboxes: int = 2, calm_ms: int = 5000) -> LoadMeter:
    return LoadMeter(enter_ms=1000, leave_ms=200, full_inboxes=full_inboxes, calm_ms=calm_ms)


def test_a_lag_at_the_enter_level_overloads_and_below_it_does_not() -> None:
    m = meter()
    assert not m.observe(T0, Sample(lag_ms=999))
    assert not m.overloaded
    assert m.observe(T0 + 1, Sample(lag_ms=1000))
    assert m.overloaded
    assert not m.observe(T0 + 2, Sample(lag_ms=5000))  # no change: no second report


def test_full_inboxes_overload_from_their_threshold_and_zero_does_not_count_them() -> None:
    m = meter(full_inboxes=2)
    assert not m.observe(T0, Sample(full_inboxes=1))
    assert m.observe(T0, Sample(full_inboxes=2)) and m.overloaded
    off = meter(full_inboxes=0)
    assert not off.observe(T0, Sample(full_inboxes=1000)) and not off.overloaded


def test_leaving_needs_the_lower_level_for_the_whole_calm_time() -> None:
    m = meter(calm_ms=5000)
    m.observe(T0, Sample(lag_ms=2000))
    # between the two levels: still overloaded, however long
    assert not m.observe(T0 + 60_000, Sample(lag_ms=500))
    assert m.overloaded
    # below the leave level, but not yet for the calm time
    assert not m.observe(T0 + 61_000, Sample(lag_ms=100))
    assert not m.observe(T0 + 65_999, Sample(lag_ms=0))
    assert m.overloaded
    assert m.observe(T0 + 66_000, Sample(lag_ms=0))
    assert not m.overloaded


def test_a_spike_or_a_full_inbox_during_the_calm_time_starts_it_again() -> None:
    m = meter(calm_ms=5000)
    m.observe(T0, Sample(lag_ms=2000))
    m.observe(T0 + 1000, Sample(lag_ms=0))
    m.observe(T0 + 3000, Sample(lag_ms=300))  # above the leave level: calm broken
    assert not m.observe(T0 + 6000, Sample(lag_ms=0))  # calm again from here
    assert not m.observe(T0 + 10_999, Sample(lag_ms=0))
    m.observe(T0 + 11_000, Sample(lag_ms=0, full_inboxes=1))  # one full inbox breaks it too
    assert m.overloaded
    assert not m.observe(T0 + 12_000, Sample())
    assert m.observe(T0 + 17_000, Sample())
    assert not m.overloaded


def test_with_no_calm_time_the_first_calm_sample_recovers() -> None:
    m = meter(calm_ms=0)
    m.observe(T0, Sample(lag_ms=1000))
    assert m.observe(T0, Sample(lag_ms=199)) and not m.overloaded


def test_retry_after_is_what_is_left_of_the_calm_time_and_at_least_a_second() -> None:
    m = meter(calm_ms=5000)
    m.observe(T0, Sample(lag_ms=2000))
    assert m.retry_after_ms(T0) == 5000
    m.observe(T0 + 1000, Sample())
    assert m.retry_after_ms(T0 + 3000) == 3000
    assert m.retry_after_ms(T0 + 5500) == MIN_RETRY_AFTER_MS
    assert meter(calm_ms=0).retry_after_ms(T0) == MIN_RETRY_AFTER_MS


def test_the_last_sample_is_kept_for_healthz() -> None:
    m = meter()
    m.observe(T0, Sample(lag_ms=12.5, full_inboxes=1))
    assert m.last == Sample(12.5, 1)


def test_built_from_the_settings_where_a_leave_level_above_the_enter_level_is_refused() -> None:
    s = Settings.from_env(
        {
            "DOODLE_OVERLOAD_ENTER_MS": "300",
            "DOODLE_OVERLOAD_LEAVE_MS": "30",
            "DOODLE_OVERLOAD_FULL_INBOXES": "3",
            "DOODLE_OVERLOAD_CALM_MS": "700",
        }
    )
    m = LoadMeter.of(s)
    assert (m.enter_ms, m.leave_ms, m.full_inboxes, m.calm_ms) == (300, 30, 3, 700)
    env = {"DOODLE_OVERLOAD_ENTER_MS": "100", "DOODLE_OVERLOAD_LEAVE_MS": "200"}
    with pytest.raises(ConfigError, match="DOODLE_OVERLOAD_LEAVE_MS"):
        Settings.from_env(env)
