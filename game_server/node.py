"""One server process: its Redis clients, event hub, inference runner and owned rooms."""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
from typing import Any

import redis.asyncio as aioredis

from game_server.address_limits import AddressLimits
from game_server.clock import Clock
from game_server.config import Settings
from game_server.hub import Hub
from game_server.inference import InferenceRunner
from game_server.liveness import Liveness
from game_server.owner import Owners
from game_server.protocol import ROOM_CODE_ALPHABET, ROOM_CODE_LENGTH, ProtocolError
from game_server.rules import Room
from game_server.store import Store

log = logging.getLogger("game_server.node")


def new_room_code() -> str:
    return "".join(secrets.choice(ROOM_CODE_ALPHABET) for _ in range(ROOM_CODE_LENGTH))


class Node:
    def __init__(self, settings: Settings, redis: aioredis.Redis, classifier: Any) -> None:
        self.settings = settings
        self.redis = redis
        self.classifier = classifier
        self.proc_id = secrets.token_hex(6)
        self.clock = Clock()
        self.store = Store(redis, settings)
        self.hub = Hub(redis, self.store.channel, self.proc_id)
        self.runner = InferenceRunner(classifier)
        self.liveness = Liveness(
            redis,
            self.store.proc_key(self.proc_id),
            settings.lease_ms * 2,
            self.hub.sockets,
            lambda: self.owners.renew_leases(),
        )
        self.owners = Owners(
            settings,
            self.store,
            self.clock,
            self.runner,
            self.proc_id,
            self.hub.rooms,
            self.hub.deliver,
            self.liveness.beat,
            lambda: self.hub.healthy,
        )
        self._conn_ids = itertools.count(1)
        self.addresses = AddressLimits(
            redis,
            settings.redis_prefix,
            self.proc_id,
            settings.max_connections_per_ip,
            settings.join_attempts_per_minute,
            self.store.alive_processes,
        )

    @property
    def labels(self) -> list[str]:
        return self.runner.labels

    def new_conn_id(self) -> str:
        return f"{self.proc_id}:{next(self._conn_ids)}"

    async def start(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.runner.warm)
        try:
            await self.liveness.beat()
        except Exception:
            log.warning("Redis unavailable at start-up", exc_info=True)
        await self.owners.publish_load()
        self.owners.start()

    async def close(self) -> None:
        await self.owners.close()
        await self.hub.close()
        await self.runner.close()

    async def admit(self, code: str | None) -> None:
        """Raise ``server_busy`` (retryable) if this process is overloaded and a join into
        ``code`` (None: a new room) would need a room that no other process can take: one
        without an owner, while no other live process has spare capacity."""
        owners = self.owners
        if not owners.load.overloaded:
            return
        owned = code is not None and bool(
            await self.redis.exists(self.store.room_key(code, "lease"))
        )
        if owned or await owners.spare_elsewhere():
            return
        raise ProtocolError(
            "server_busy",
            "the server is busy; try again in a moment",
            "join",
            owners.load.retry_after_ms(self.clock.now_ms()),
        )

    async def create_room(self, public: bool) -> str:
        for _ in range(10):
            code = new_room_code()
            room = Room(code, self.settings, self.labels, public=public)
            if await self.store.create_room(code, room.to_dict()):
                if public:
                    await self.store.set_public_count(code, 0)
                return code
        raise RuntimeError("could not allocate a room code")
