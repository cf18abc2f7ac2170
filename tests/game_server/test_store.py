"""Lease, fencing, atomic persistence and idempotent awards against a real Redis."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from game_server import lease as leases
from game_server import protocol
from game_server.config import Settings
from game_server.frames import decode_event
from game_server.store import Fenced, Store

CODE = "ABCDEFGH"


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[Store]:
    assert settings.redis_url is not None
    client = aioredis.Redis.from_url(settings.redis_url, decode_responses=True)
    yield Store(client, settings)
    await client.aclose()


async def test_lease_is_exclusive_renewable_and_fenced(store: Store) -> None:
    r = store.redis
    lk, ek = store.room_key(CODE, "lease"), store.room_key(CODE, "epoch")
    assert lk.endswith("room:{ABCDEFGH}:lease") and ek.endswith("room:{ABCDEFGH}:epoch")
    first = await leases.acquire(r, lk, ek, "procA", 5000, 60_000)
    assert first is not None and first.epoch == 1
    assert await leases.acquire(r, lk, ek, "procB", 5000, 60_000) is None
    assert await leases.renew_all(r, [(lk, first)], 5000) == [True]
    assert 0 < await r.pttl(lk) <= 5000
    # the lease runs out (simulated: the key expires) and procB takes over with epoch 2
    await r.pexpire(lk, 1)
    await r.delete(lk)
    second = await leases.acquire(r, lk, ek, "procB", 5000, 60_000)
    assert second is not None and second.epoch == 2
    # the stale owner can neither renew nor release nor write
    assert await leases.renew_all(r, [(lk, first), (lk, second)], 5000) == [False, True]
    assert not await leases.release(r, lk, first)
    await store.create_room(CODE, {"v": 0})
    with pytest.raises(Fenced):
        await store.persist(
            CODE, first.epoch, {"v": "stale"}, "0-0",
            reset_ink=False, ink=["x"], game_id="g", scores={"p1": 5}, events=[],
        )  # fmt: skip
    loaded = await store.load_room(CODE)
    assert loaded == ({"v": 0}, "0-0", [])
    await store.persist(
        CODE, second.epoch, {"v": 1}, "5-0",
        reset_ink=False, ink=[json.dumps({"p": "p1"})], game_id="g", scores={"p1": 7}, events=[],
    )  # fmt: skip
    assert await store.load_room(CODE) == ({"v": 1}, "5-0", [{"p": "p1"}])
    assert await store.game_scores(CODE, "g") == {"p1": 7}
    assert await leases.release(r, lk, second)
    assert not await r.exists(lk)


async def test_events_are_published_only_by_the_current_owner(store: Store) -> None:
    r = store.redis
    lk, ek = store.room_key(CODE, "lease"), store.room_key(CODE, "epoch")
    owner = await leases.acquire(r, lk, ek, "procA", 5000, 60_000)
    assert owner is not None
    await store.create_room(CODE, {})
    pubsub = r.pubsub()
    await pubsub.subscribe(store.channel(CODE))
    assert (await pubsub.get_message(timeout=5))["type"] == "subscribe"  # type: ignore[index]
    with pytest.raises(Fenced):
        await store.persist(
            CODE, owner.epoch + 1, {}, "0-0", reset_ink=False, ink=[], game_id=None, scores={},
            events=['{"kind":"x"}\n{"type":"stale"}'],
        )  # fmt: skip
    await store.persist(
        CODE, owner.epoch, {}, "0-0", reset_ink=False, ink=[], game_id=None, scores={},
        events=['{"kind":"x"}\n{"type":"fresh"}'],
    )  # fmt: skip
    msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5)
    assert msg is not None
    assert decode_event(msg["data"])[1] == '{"type":"fresh"}'
    # a tick with ink only: the state is left as it is, the ink and cursor are written
    await store.persist(
        CODE, owner.epoch, None, "7-0", reset_ink=False, ink=['{"p":"p1"}'], game_id=None,
        scores={}, events=[],
    )  # fmt: skip
    assert await store.load_room(CODE) == ({}, "7-0", [{"p": "p1"}])
    await pubsub.aclose()


async def test_awards_count_once(store: Store) -> None:
    results = await asyncio.gather(
        *(store.award("ROOM:g1:1:p1", "kada", "ada", 500, "2026-01-02") for _ in range(5))
    )
    assert sorted(results) == [False, False, False, False, True]
    assert await store.award("ROOM:g1:2:p1", "kada", "ada", 100, "2026-01-02")
    assert await store.leaderboard("all", "2026-01-02", 10) == [
        {"rank": 1, "player": "kada", "name": "ada", "score": 600}
    ]
    assert await store.leaderboard("today", "2026-01-02", 10) == [
        {"rank": 1, "player": "kada", "name": "ada", "score": 600}
    ]
    assert await store.leaderboard("today", "2026-01-03", 10) == []


async def test_leaderboard_ranks_identities_not_names(store: Store) -> None:
    """Two people called Alice stay two entries; a renamed player keeps one entry."""
    await store.award("R1:g1:1:p1", "k1", "Alice", 300, "2026-01-02")
    await store.award("R2:g2:1:p1", "k2", "Alice", 200, "2026-01-02")
    await store.award("R2:g2:2:p1", "k2", "Alice B", 50, "2026-01-02")
    assert await store.leaderboard("all", "2026-01-02", 10) == [
        {"rank": 1, "player": "k1", "name": "Alice", "score": 300},
        {"rank": 2, "player": "k2", "name": "Alice B", "score": 250},
    ]


async def test_game_gallery_is_kept_with_a_ttl(store: Store) -> None:
    assert await store.load_game("0123456789ab") is None
    await store.archive_game("0123456789ab", "r2", {"round": 2})
    await store.archive_game("0123456789ab", "r1", {"round": 1})
    assert await store.load_game("0123456789ab") is None  # not finished yet
    await store.archive_game("0123456789ab", "meta", {"game_id": "0123456789ab", "ranking": []})
    game = await store.load_game("0123456789ab")
    assert game == {
        "game_id": "0123456789ab",
        "ranking": [],
        "rounds": [{"round": 1}, {"round": 2}],
    }
    ttl = await store.redis.pttl(store.game_key("0123456789ab"))
    assert 0 < ttl <= store.settings.game_ttl_seconds * 1000


async def test_commands_stream_in_order(store: Store) -> None:
    sent = [protocol.Command(f"c:{i}", i, protocol.Undo(seq=i)) for i in range(3)]
    ids = [await store.send_command(CODE, protocol.encode_command(c)) for c in sent]
    got = await store.read_commands(CODE, "0-0", block_ms=100)
    assert [c for _, c in got] == sent  # typed commands, as sent
    assert [i for i, _ in got] == ids
    assert await store.read_commands(CODE, ids[-1], block_ms=1) == []


async def test_a_round_record_counts_once_per_id(store: Store) -> None:
    from game_server.difficulty import bucket_of, round_record

    record = round_record(f"{CODE}:g:1", "cat", 3, [900, 4500])
    assert await store.record_round(record)
    assert not await store.record_round(record)  # a new owner posting it again
    assert await store.record_round(round_record(f"{CODE}:g:2", "cat", 1, []))
    stats = await store.prompt_stats(["cat", "dog"])
    assert list(stats) == ["cat"]
    cat = stats["cat"]
    assert (cat.rounds, cat.drawings, cat.recognized) == (2, 4, 2)
    assert cat.histogram[bucket_of(900)] == 1 and cat.histogram[bucket_of(4500)] == 1
    assert sum(cat.histogram) == 2


async def test_persists_started_together_share_one_pipeline_each_fenced_on_its_own(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = store.redis
    owned = {}
    for code in ("ROOMAAAA", "ROOMBBBB", "ROOMCCCC"):
        lk, ek = store.room_key(code, "lease"), store.room_key(code, "epoch")
        lease = await leases.acquire(r, lk, ek, "procA", 5000, 60_000)
        assert lease is not None
        owned[code] = lease.epoch
        await store.create_room(code, {"v": 0})
    pipelines = 0
    real_pipeline = r.pipeline

    def counting_pipeline(*args: object, **kwargs: object) -> object:
        nonlocal pipelines
        pipelines += 1
        return real_pipeline(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(r, "pipeline", counting_pipeline)

    async def persist(code: str, epoch: int) -> None:
        await store.persist(
            code, epoch, {"v": code}, "0-0", reset_ink=False, ink=[json.dumps({"p": code})],
            game_id=None, scores={}, events=[],
        )  # fmt: skip

    stale = owned["ROOMBBBB"] + 1  # another process owns ROOMBBBB now
    results = await asyncio.gather(
        persist("ROOMAAAA", owned["ROOMAAAA"]),
        persist("ROOMBBBB", stale),
        persist("ROOMCCCC", owned["ROOMCCCC"]),
        return_exceptions=True,
    )
    assert pipelines == 1
    assert results[0] is None and isinstance(results[1], Fenced) and results[2] is None
    assert await store.load_room("ROOMAAAA") == ({"v": "ROOMAAAA"}, "0-0", [{"p": "ROOMAAAA"}])
    assert await store.load_room("ROOMBBBB") == ({"v": 0}, "0-0", [])
    # Redis forgot its scripts (restart, SCRIPT FLUSH): the persist still runs, fenced
    await r.script_flush()
    await persist("ROOMCCCC", owned["ROOMCCCC"])
    with pytest.raises(Fenced):
        await persist("ROOMBBBB", stale)
    assert (await store.load_room("ROOMCCCC"))[2] == [{"p": "ROOMCCCC"}] * 2
