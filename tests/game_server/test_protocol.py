"""Every client message is parsed and validated in game_server/protocol.py."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from game_server import protocol
from game_server.config import Settings
from game_server.protocol import ProtocolError, parse_client_message

S = Settings.from_env({})


def parse(obj: Any) -> protocol.ClientMessage:
    return parse_client_message(json.dumps(obj), S)


def code_of(raw: str | bytes) -> str:
    with pytest.raises(ProtocolError) as info:
        parse_client_message(raw, S)
    return info.value.code


def test_valid_messages() -> None:
    assert parse({"type": "join", "name": "  Ada  Lovelace ", "room": "abcdefgh"}) == protocol.Join(
        name="Ada Lovelace", room="ABCDEFGH"
    )
    assert parse({"type": "settings", "rounds": 2, "seconds": 5}) == protocol.SettingsMsg(2, 5)
    p = parse({"type": "points", "seq": 3, "stroke": 0, "points": [[1.5, -2, 0], [3, 4, 16.25]]})
    assert p == protocol.Points(seq=3, stroke=0, points=((1.5, -2, 0), (3, 4, 16.25)))
    assert parse({"type": "kick", "player_id": "p2"}) == protocol.Kick("p2")
    for kind in ("start", "play_again", "leave", "ping"):
        parse({"type": kind})
    assert parse({"type": "undo", "seq": 1}) == protocol.Undo(1)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("not json", "bad_json"),
        ("[1, 2]", "bad_json"),
        ('{"type": "points", "seq": 1, "stroke": 0, "points": [[NaN, 1, 0]]}', "bad_json"),
        ('{"type": "points", "seq": 1, "stroke": 0, "points": [[1e999, 1, 0]]}', "bad_points"),
        ('{"type": "nope"}', "bad_message"),
        ('{"kind": "join"}', "bad_message"),
        ('{"type": "settings", "rounds": 0, "seconds": 20}', "bad_message"),
        ('{"type": "settings", "rounds": 2, "seconds": 2}', "bad_message"),
        ('{"type": "settings", "rounds": true, "seconds": 20}', "bad_message"),
        ('{"type": "join", "name": ""}', "bad_name"),
        ('{"type": "join", "name": "<script>"}', "bad_name"),
        ('{"type": "join", "name": "' + "x" * 25 + '"}', "bad_name"),
        ('{"type": "join", "name": "ada", "room": "no"}', "room_not_found"),
        ('{"type": "join", "name": "ada", "resume": "bad"}', "bad_resume"),
        ('{"type": "points", "seq": 1, "stroke": 0, "points": []}', "bad_points"),
        ('{"type": "points", "seq": 1, "stroke": 0, "points": [[1, 2]]}', "bad_points"),
        ('{"type": "points", "seq": 1, "stroke": 0, "points": [[1, "2", 3]]}', "bad_points"),
        ('{"type": "points", "seq": 1, "stroke": 0, "points": [[99999, 2, 3]]}', "bad_points"),
        ('{"type": "points", "seq": 1, "stroke": 0, "points": [[1, 2, -1]]}', "bad_points"),
        ('{"type": "points", "seq": -1, "stroke": 0, "points": [[1, 2, 3]]}', "bad_message"),
        ('{"type": "kick", "player_id": "admin"}', "no_such_player"),
        (b'{"type": "ping"}', "bad_message"),
    ],
)
def test_invalid_messages(raw: str | bytes, code: str) -> None:
    assert code_of(raw) == code


def test_limits_come_from_settings() -> None:
    pts = [[1, 1, 0]] * (S.max_points_per_update + 1)
    assert code_of(json.dumps({"type": "points", "seq": 1, "stroke": 0, "points": pts})) == (
        "bad_points"
    )
    big = json.dumps({"type": "join", "name": "a", "pad": "x" * S.max_message_bytes})
    assert code_of(big) == "too_large"
    deep = "[" * 100_000 + "]" * 100_000
    assert code_of(deep) in ("too_large", "bad_json")


@hsettings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
        lambda children: (
            st.lists(children, max_size=5)
            | st.dictionaries(
                st.sampled_from(["type", "name", "points", "seq", "stroke", "rounds", "room"])
                | st.text(max_size=5),
                children,
                max_size=6,
            )
        ),
        max_leaves=30,
    )
)
def test_arbitrary_json_never_crashes_the_parser(obj: Any) -> None:
    try:
        raw = json.dumps(obj)
    except ValueError:
        return
    try:
        parse_client_message(raw, S)
    except ProtocolError as exc:
        assert exc.code in {
            "bad_json", "bad_message", "too_large", "bad_name", "bad_points",
            "room_not_found", "bad_resume", "no_such_player",
        }  # fmt: skip


def test_settings_take_an_optional_mode_and_difficulty() -> None:
    msg = parse(
        {"type": "settings", "rounds": 2, "seconds": 20, "mode": "beat", "difficulty": "hard"}
    )
    assert msg == protocol.SettingsMsg(2, 20, "beat", "hard")
    assert parse({"type": "settings", "rounds": 2, "seconds": 20, "mode": None}) == (
        protocol.SettingsMsg(2, 20)
    )
    for bad in ({"mode": "solo"}, {"difficulty": "insane"}, {"mode": 1}):
        assert code_of(json.dumps({"type": "settings", "rounds": 2, "seconds": 20, **bad})) == (
            "bad_message"
        )


def test_chat_is_plain_text_of_bounded_length() -> None:
    assert parse({"type": "chat", "text": "  a  <b>cat</b>\n "}) == protocol.Chat("a <b>cat</b>")
    assert parse({"type": "chat", "text": "é" * protocol.MAX_CHAT_CHARS}).text == "é" * 100
    for text in ("", "   ", "x" * (protocol.MAX_CHAT_CHARS + 1), "bell\x07", "rtl\u202e"):
        assert code_of(json.dumps({"type": "chat", "text": text})) == "bad_chat"
    assert code_of(json.dumps({"type": "chat", "text": 5})) == "bad_message"
    assert code_of(json.dumps({"type": "chat"})) == "bad_message"


def test_beat_messages_travel_on_the_command_stream() -> None:
    """A room owned by another process gets chat and beat settings as typed commands."""
    for msg in (
        protocol.Chat("is it a cat?"),
        protocol.SettingsMsg(2, 20, "beat", "hard"),
        protocol.SettingsMsg(2, 20),
    ):
        cmd = protocol.Command("proc:1", 5, msg)
        assert protocol.decode_command(protocol.encode_command(cmd)) == cmd


def test_join_key_is_a_short_url_safe_token() -> None:
    key = "Zq3-_x" * 4
    assert parse({"type": "join", "name": "ada", "key": key}).key == key  # type: ignore[union-attr]
    for bad in ("short", "x" * 65, "has space in it!!", "émoji-🙂-key-0123", 12345):
        assert code_of(json.dumps({"type": "join", "name": "ada", "key": bad})) == "bad_message"
