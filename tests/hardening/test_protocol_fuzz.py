"""Property-based fuzzing of the message layer: ``protocol.parse_client_message`` either returns a
well-formed message within every limit or raises :class:`ProtocolError` with a documented code,
for thousands of malformed, random and hostile frames. Nothing else may escape."""

from __future__ import annotations

import math
import re
from collections import Counter
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from game_server import protocol
from game_server.config import Settings
from game_server.limits import MessageLimiter, TokenBucket, Verdict
from game_server.protocol import ProtocolError, parse_client_message
from tests.hardening import strategies as hs

DOCS = Path(__file__).resolve().parents[2] / "docs"
SETTINGS = Settings()
FUZZ = hsettings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def documented(section: str) -> set[str]:
    """The first column of the table under ``## <section>`` in docs/protocol.md."""
    text = (DOCS / "protocol.md").read_text()
    body = text.split(f"## {section}", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `?([\w]+)`? \|", body, flags=re.M)) - {"code"}


ERROR_CODES = documented("Error codes (`error.code`)")


def check_valid(msg: Any, s: Settings) -> None:
    """A message the parser accepted respects every documented limit."""
    if isinstance(msg, protocol.Points):
        assert 1 <= len(msg.points) <= s.max_points_per_update
        assert 0 <= msg.stroke <= s.max_strokes_per_drawing
        for x, y, t in msg.points:
            assert all(math.isfinite(v) for v in (x, y, t))
            assert abs(x) <= s.coordinate_limit and abs(y) <= s.coordinate_limit
            assert 0 <= t <= protocol.MAX_T_MS
    elif isinstance(msg, protocol.Join):
        assert msg.name == protocol.validate_name(msg.name, s)
        assert 1 <= len(msg.name) <= s.max_name_length
        assert msg.room is None or protocol.is_room_code(msg.room)
    elif isinstance(msg, protocol.SettingsMsg):
        assert 1 <= msg.rounds <= s.max_rounds
        assert s.min_round_seconds <= msg.seconds <= s.max_round_seconds
        assert msg.mode in (None, *protocol.MODES)
        assert msg.difficulty in (None, *protocol.LEVELS)
    elif isinstance(msg, protocol.Chat):
        assert 1 <= len(msg.text) <= protocol.MAX_CHAT_CHARS
        assert msg.text == " ".join(msg.text.split()) and msg.text.isprintable()
    elif isinstance(msg, protocol.Undo | protocol.Clear):
        assert 0 <= msg.seq <= 2**53


def run_fuzz(
    strategy: st.SearchStrategy[Any], name: str, examples: int, s: Settings = SETTINGS
) -> Counter[str]:
    """Parse every generated frame; return outcome counts (``ok`` or the error code)."""
    outcomes: Counter[str] = Counter()

    @hsettings(FUZZ, max_examples=examples)
    @given(strategy)
    def one(frame: str | bytes) -> None:
        try:
            msg = parse_client_message(frame, s)
        except ProtocolError as exc:
            assert exc.code in ERROR_CODES, exc.code
            assert isinstance(exc.message, str) and 0 < len(exc.message) <= 200
            assert exc.to_message()["type"] == "error"
            outcomes[exc.code] += 1
            return
        check_valid(msg, s)
        outcomes["ok"] += 1

    one()
    tried = sum(outcomes.values())
    refused = tried - outcomes["ok"]
    print(
        f"\nFIGURES protocol-fuzz {name}: tried={tried} refused={refused} crashes=0 "
        f"{dict(outcomes)}"
    )
    return outcomes


def test_random_and_hostile_frames_only_raise_protocol_errors() -> None:
    outcomes = run_fuzz(hs.frames(SETTINGS.max_message_bytes), "frames", 800)
    assert sum(outcomes.values()) >= 700
    assert {"bad_json", "bad_message", "too_large"} <= set(outcomes)


def test_message_shaped_objects_only_raise_protocol_errors() -> None:
    outcomes = run_fuzz(hs.message_dicts().map(hs.dumps), "messages", 400)
    assert sum(outcomes.values()) >= 350
    assert {"bad_message", "bad_name"} <= set(outcomes)


def test_points_batches_only_raise_protocol_errors() -> None:
    small = Settings(max_points_per_update=64, coordinate_limit=100.0)
    batch = st.fixed_dictionaries(
        {
            "type": st.just("points"),
            "seq": st.one_of(st.integers(-2, 2**54), hs.json_values),
            "stroke": st.one_of(st.integers(-2, 600), hs.json_values),
            "points": hs.hostile_points,
        }
    ).map(hs.dumps)
    outcomes = run_fuzz(batch, "points", 400, small)
    assert sum(outcomes.values()) >= 350
    assert "bad_points" in outcomes


def test_names_are_validated() -> None:
    names = st.one_of(st.text(max_size=40), hs.json_values)
    outcomes = run_fuzz(
        names.map(lambda n: hs.dumps({"type": "join", "name": n, "quickplay": True})), "names", 300
    )
    assert outcomes["ok"] > 0 and outcomes["bad_name"] > 0


def test_specific_hostile_frames() -> None:
    s = Settings(max_message_bytes=4096)
    cases: list[tuple[str | bytes, str]] = [
        ('{"type":"points","seq":1,"stroke":0,"points":[[1' + "0" * 400 + ",1,1]]}", "bad_points"),
        ('{"type":"points","seq":1,"stroke":0,"points":[[NaN,1,1]]}', "bad_json"),
        ('{"type":"points","seq":1,"stroke":0,"points":[[Infinity,1,1]]}', "bad_json"),
        ('{"type":"points","seq":1,"stroke":0,"points":[[1e400,1,1]]}', "bad_points"),
        ('{"type":"points","seq":1,"stroke":0,"points":[[true,1,1]]}', "bad_points"),
        ('{"type":"points","seq":1,"stroke":0,"points":[[1,1,-1]]}', "bad_points"),
        ('{"type":"points","seq":1,"stroke":0,"points":[]}', "bad_points"),
        ('{"type":"points","seq":true,"stroke":0,"points":[[1,1,1]]}', "bad_message"),
        ('{"type":"points","seq":1.5,"stroke":0,"points":[[1,1,1]]}', "bad_message"),
        ('{"type":"join","name":"' + "a" * 25 + '"}', "bad_name"),
        ('{"type":"join","name":"<b>"}', "bad_name"),
        ('{"type":"join","name":"ada","room":"../../x"}', "room_not_found"),
        ('{"type":"join","name":"ada","resume":"K7QH2MZP.short"}', "bad_resume"),
        ('{"type":"kick","player_id":"admin"}', "no_such_player"),
        ('{"type":"settings","rounds":0,"seconds":20}', "bad_message"),
        ('{"type":"settings","rounds":1,"seconds":100000}', "bad_message"),
        ('{"type":"' + "x" * 3000 + '"}', "bad_message"),
        ("[" * 1500 + "]" * 1500, "bad_json"),
        ("[]", "bad_json"),
        ('"ping"', "bad_json"),
        ('{"type":null}', "bad_message"),
        (b'{"type":"ping"}', "bad_message"),
        ("x" * 4097, "too_large"),
        ('{"type":"ping","p":"' + "é" * 2100 + '"}', "too_large"),
    ]
    for frame, code in cases:
        try:
            parse_client_message(frame, s)
        except ProtocolError as exc:
            assert exc.code == code, (frame[:60], exc.code, exc.message)
            assert len(exc.message) <= 200
        else:
            raise AssertionError(f"accepted {frame[:60]!r}")
    # extra fields are ignored; in particular no message can name the player it acts for
    msg = parse_client_message('{"type":"undo","seq":3,"player_id":"p1","conn":"x:1"}', s)
    assert msg == protocol.Undo(seq=3)


def test_documented_codes_match_the_code() -> None:
    """Every close code constant is in CLOSE_CODES (docs/protocol.md's table is generated from
    it, tests/test_tooling.py keeps that current), once, under one name."""
    table = {c.code for c in protocol.CLOSE_CODES}
    for name in dir(protocol):
        if name.startswith("CLOSE_") and name != "CLOSE_CODES":
            assert getattr(protocol, name) in table, name
    assert len(table) == len(protocol.CLOSE_CODES) == len({c.name for c in protocol.CLOSE_CODES})
    assert documented("Close codes") == {str(code) for code in table}
    assert protocol.CLOSE_RATE_LIMIT == 1008


# ---------------------------------------------------------------------- limits


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_token_bucket_allows_burst_then_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=8, burst=5, clock=clock)
    assert [bucket.take() for _ in range(6)] == [True] * 5 + [False]
    clock.t += 0.125  # one token (binary-exact times)
    assert bucket.take() and not bucket.take()
    clock.t += 100  # never more than the burst
    assert sum(bucket.take() for _ in range(10)) == 5


def test_message_limiter_refuses_then_closes_on_sustained_abuse() -> None:
    clock = FakeClock()
    lim = MessageLimiter(rate=10, burst=5, strikes=20, window_s=10, clock=clock)
    verdicts = [lim.check() for _ in range(5 + 20)]
    assert verdicts[:5] == [Verdict.ACCEPT] * 5
    assert verdicts[5:] == [Verdict.REFUSE] * 20
    assert lim.check() is Verdict.CLOSE  # the 21st refusal within 10 s
    # strikes older than the window are forgiven: an occasional burst never leads to a close
    clock2 = FakeClock()
    lim2 = MessageLimiter(rate=10, burst=5, strikes=20, window_s=10, clock=clock2)
    for _ in range(10):
        assert [lim2.check() for _ in range(5)] == [Verdict.ACCEPT] * 5
        assert all(lim2.check() is Verdict.REFUSE for _ in range(15))
        clock2.t += 11
    assert lim2.refused == 150


@FUZZ
@given(st.lists(st.floats(0, 0.5), min_size=1, max_size=300))
def test_limiter_never_accepts_more_than_burst_plus_rate(gaps: list[float]) -> None:
    clock = FakeClock()
    lim = MessageLimiter(rate=20, burst=10, strikes=10**6, window_s=10, clock=clock)
    accepted = 0
    for gap in gaps:
        clock.t += gap
        accepted += lim.check() is Verdict.ACCEPT
    assert accepted <= 10 + 20 * sum(gaps) + 1e-6


def _outcome(parse: Any, obj: dict[str, Any]) -> Any:
    try:
        points = parse(obj, SETTINGS)
    except ProtocolError as exc:
        return ("error", exc.code, exc.message)
    return ("points", [[(type(v), v) for v in p] for p in points])


_in_range = st.one_of(
    st.integers(-10_000, 10_000), st.floats(-1e4, 1e4), st.floats(0, 1), st.sampled_from([0, -0.0])
)
_odd_values = st.one_of(
    hs.numbers, st.booleans(), st.none(), st.text(max_size=3), st.integers(3_599_999, 3_600_001)
)


@st.composite
def _mostly_plain_points(draw: st.DrawFn) -> list[Any]:
    """Plain in-range points, with at most one odd value or odd point somewhere."""
    points: list[Any] = draw(st.lists(st.lists(_in_range, min_size=3, max_size=3), max_size=8))
    odd = draw(st.integers(0, 3))
    if points and odd == 1:  # one value
        p = draw(st.integers(0, len(points) - 1))
        points[p][draw(st.integers(0, 2))] = draw(_odd_values)
    elif points and odd == 2:  # one point
        points[draw(st.integers(0, len(points) - 1))] = draw(hs.point_like)
    return points


@hsettings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(_mostly_plain_points(), hs.hostile_points))
def test_the_fast_points_parse_gives_the_checked_parse_s_outcome(points: Any) -> None:
    """The hot path's one-pass parse of ``points`` (protocol._plain_points) accepts, compacts
    and refuses exactly as the checked parse does (value, type and error message)."""
    obj = {"type": "points", "seq": 1, "stroke": 0, "points": points}
    assert _outcome(protocol._points, obj) == _outcome(protocol._checked_points, obj)
