"""Hypothesis strategies for hostile client frames (docs/SECURITY.md, "Fuzzing")."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

MESSAGE_TYPES = [
    "join", "settings", "start", "points", "undo", "clear", "kick", "play_again", "leave", "ping",
    "chat",
]  # fmt: skip
FIELDS = [
    "name", "room", "quickplay", "resume", "spectator", "rounds", "seconds", "seq", "stroke",
    "points", "player_id", "type", "__proto__", "constructor", "text", "mode", "difficulty",
]  # fmt: skip

HUGE_NUMBERS = [
    10**400, -(10**400), 2**63, 2**64 + 1, 2**53 + 1, -(2**63), 1e308, -1e308, 5e-324,
    1.7976931348623157e308,
]  # fmt: skip

numbers = st.one_of(
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(HUGE_NUMBERS),
    st.integers(min_value=-20_000, max_value=20_000),
)
hostile_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            " ",
            "\x00",
            "\u202e",
            "ｐ１",
            "p1",
            "p0",
            "p999999",
            "p-1",
            "🎨" * 30,
            "Robert'); DROP TABLE rooms;--",
            "<script>alert(1)</script>",
            "../../etc/passwd",
            "K7QH2MZP",
            "k7qh2mzp",
            "K7QH2MZP.AAAAAAAAAAAAAAAAAAAA",
            "\ufeffada",
            "a" * 25,
            "\u0301\u0301\u0301",
            "ada\nbob",
            "\t",
            "null",
            "NaN",
        ]
    ),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, hostile_text)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=6),
        st.dictionaries(hostile_text, children, max_size=6),
    ),
    max_leaves=12,
)

point_like = st.one_of(
    st.lists(numbers, min_size=3, max_size=3),
    st.lists(numbers, max_size=5),
    json_values,
)
hostile_points = st.one_of(
    st.lists(point_like, max_size=12),
    st.tuples(st.integers(500, 600), st.integers(-20, 20)).map(lambda a: [[a[1], 1, 1]] * a[0]),
    json_values,
)


@st.composite
def message_dicts(draw: st.DrawFn) -> dict[str, Any]:
    """A JSON object shaped like a client message, with hostile field values."""
    msg: dict[str, Any] = {}
    msg["type"] = draw(st.one_of(st.sampled_from(MESSAGE_TYPES), json_values))
    for key in draw(st.lists(st.sampled_from(FIELDS), max_size=6, unique=True)):
        msg[key] = draw(hostile_points if key == "points" else json_values)
    if draw(st.booleans()):
        msg["type"] = draw(st.sampled_from(MESSAGE_TYPES))
    return msg


def dumps(value: Any) -> str:
    """JSON as a hostile client writes it: NaN and Infinity allowed, non-ASCII as is."""
    return json.dumps(value, allow_nan=True, ensure_ascii=False)


VALID_FRAMES = [
    '{"type":"ping"}',
    '{"type":"join","name":"ada","room":"K7QH2MZP"}',
    '{"type":"points","seq":1,"stroke":0,"points":[[1,2,0],[3,4,16]]}',
    '{"type":"settings","rounds":3,"seconds":20}',
    '{"type":"kick","player_id":"p2"}',
]


@st.composite
def mutated_frames(draw: st.DrawFn) -> str:
    """A valid frame with a slice cut out and junk put in (truncation, wrong order, noise)."""
    base = draw(st.sampled_from(VALID_FRAMES))
    i = draw(st.integers(0, len(base)))
    j = draw(st.integers(i, len(base)))
    junk = draw(st.text(max_size=6))
    return base[:i] + junk + base[j:]


@st.composite
def nested(draw: st.DrawFn) -> str:
    depth = draw(st.integers(1, 30_000))
    opener = draw(st.sampled_from(["[", '{"a":']))
    closer = "]" if opener == "[" else "}"
    return opener * depth + "1" + closer * draw(st.integers(0, depth))


def text_frames(max_bytes: int) -> st.SearchStrategy[str]:
    """Text frames: garbage, arbitrary JSON, message-shaped objects, mutations, deep nesting,
    long number literals and frames over ``max_bytes``."""
    return st.one_of(
        st.text(max_size=200),
        json_values.map(dumps),
        message_dicts().map(dumps),
        message_dicts().map(dumps),
        mutated_frames(),
        nested(),
        st.integers(1, 6000).map(_long_number),
        st.integers(1, 64).map(lambda n: "x" * (max_bytes + n)),
        st.integers(1, 64).map(lambda n: _padded_ping(max_bytes // 2 + n)),
    )


def _long_number(digits: int) -> str:
    return '{"type":"points","seq":1,"stroke":0,"points":[[1' + "0" * digits + ",1,1]]}"


def _padded_ping(chars: int) -> str:
    return '{"type":"ping","pad":"' + "é" * chars + '"}'


def frames(max_bytes: int) -> st.SearchStrategy[str | bytes]:
    """What a hostile client can put in one WebSocket message: text or binary."""
    return st.one_of(text_frames(max_bytes), st.binary(max_size=64))
