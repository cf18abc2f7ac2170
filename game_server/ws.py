"""The WebSocket endpoint ``/ws``: a thin adapter between a socket and its room.

Each socket gets a connection id (``<process>:<n>``). Client frames are decoded and validated
once by ``protocol.parse_client_message`` and the typed message is forwarded as a
:class:`protocol.Command`: straight into the room's inbox when this process owns the room (the
owner-local fast path), else onto the room's command stream in Redis (read by the owner on
another process). Events come back through the :class:`hub.Hub`. The socket never decides game
outcomes itself.

Outgoing messages are written straight onto the socket's transport from the code that produced
them (:class:`Wire`, e.g. the tick's fan-out) when nothing is queued for the socket and its
transport takes writes; otherwise they go into the socket's bounded queue, drained in order by
its writer task, and a socket that falls a whole queue behind is closed (4004).

The URL may name the room (``/ws?room=CODE``) so that a load balancer can send a room's sockets to
one process; the server itself does not need it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from redis.exceptions import RedisError
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

from game_server import logging_setup, protocol
from game_server.frames import Frame, dumps
from game_server.limits import MessageLimiter, Verdict
from game_server.metrics import metrics_of
from game_server.node import Node
from game_server.protocol import ProtocolError, error_message

log = logging.getLogger("game_server.ws")

JOIN_TIMEOUT_S = 15.0
RESYNC_RETRY_S = 0.2  # first pause between resync requests, doubled up to RESYNC_WAIT_S
RESYNC_WAIT_S = 5.0  # how long a resync request waits for its snapshot before asking again


SERVER_SEND = "doodle.server_send"  # scope key: the server's own ``send`` (see ExposeSend)


class ExposeSend:
    """ASGI middleware: keeps the server's own ``send`` of a WebSocket in its scope (Starlette
    wraps the one the endpoint sees), so that :class:`Wire` can find uvicorn's protocol."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            scope[SERVER_SEND] = send
        await self.app(scope, receive, send)


_PROTOCOL_STATE = ("writable", "disconnected", "close_sent", "conn", "transport")


class Wire:
    """Writes a text message straight onto a socket's transport, as uvicorn's
    ``websockets-sansio`` protocol does for ``websocket.send`` (one WebSocket frame, then
    ``transport.write``), without the queue, writer task and ASGI ``send`` chain."""

    def __init__(self, proto: WebSocketsSansIOProtocol) -> None:
        self._proto = proto

    @classmethod
    def of(cls, ws: WebSocket) -> Wire | None:
        """The socket's wire; None under another server or WebSocket implementation."""
        proto = getattr(ws.scope.get(SERVER_SEND), "__self__", None)
        if not isinstance(proto, WebSocketsSansIOProtocol):
            return None
        # the protocol state this class reads (uvicorn 0.35, for one, has no ``disconnected``)
        return cls(proto) if all(hasattr(proto, a) for a in _PROTOCOL_STATE) else None

    def _open(self) -> bool:
        """The transport takes writes (below its high-water mark, the connection open)."""
        p = self._proto
        return not (
            not p.writable.is_set()
            or p.disconnected
            or p.close_sent
            or p.conn.state is not State.OPEN
            or p.transport.is_closing()
        )

    def write(self, text: str) -> bool:
        """Write ``text`` now if the transport takes writes; False: nothing was written."""
        if not self._open():
            return False
        p = self._proto
        p.conn.send_text(text.encode())
        p.transport.write(b"".join(p.conn.data_to_send()))
        return True

    @property
    def shares_frames(self) -> bool:
        """The socket negotiated no extension, so it can take a frame built once for many
        sockets (permessage-deflate compresses per socket)."""
        return not self._proto.conn.extensions

    def write_frame(self, frame: bytes) -> bool:
        """Write ``frame``, a whole unmasked WebSocket frame built once for many sockets
        (:meth:`frames.Frame.wire_for`; only where :attr:`shares_frames`), now if the transport
        takes writes; False: nothing was written."""
        if not self._open():
            return False
        self._proto.transport.write(frame)
        return True


def origin_allowed(ws: WebSocket, allowed: tuple[str, ...]) -> bool:
    origin = ws.headers.get("origin")
    if origin is None:
        return True  # not a browser (browsers always send Origin on WebSocket handshakes)
    if allowed:
        return origin in allowed
    host = ws.headers.get("host", "")
    return origin.split("://", 1)[-1] == host


class Connection:
    def __init__(self, node: Node, ws: WebSocket) -> None:
        self.node = node
        self.ws = ws
        self.ip = ws.client.host if ws.client else "?"
        self.settings = node.settings
        self.conn_id = node.new_conn_id()
        self.room: str | None = None
        self._resyncs: set[asyncio.Task[None]] = set()
        self._snapshot = asyncio.Event()  # a resync's snapshot arrived
        self.player_id: str | None = None
        self.resume_token: str | None = None
        self.out: asyncio.Queue[tuple[str | None, int | None]] = asyncio.Queue(
            maxsize=node.settings.send_queue_size
        )
        self._wire = Wire.of(ws)
        self._sending = False  # the writer task holds a message it has not written yet
        self._join_reply: asyncio.Future[tuple[dict[str, Any], Any]] | None = None
        self._closing = False
        self._not_joining = asyncio.Event()  # cleared while a join is in flight
        self._not_joining.set()
        s = node.settings
        self._limiter = MessageLimiter(
            s.messages_per_second,
            s.message_burst,
            s.rate_limit_strikes,
            s.rate_limit_window_seconds,
        )
        self.metrics = metrics_of(ws.app)
        self._guess_timer = self.metrics.guess_timer()
        logging_setup.bind(conn=self.conn_id)

    # ------------------------------------------------------------------ outgoing

    def deliver(self, header: dict[str, Any], payload: str | Frame | None) -> None:
        """Called by the hub for every event addressed to this socket (or its room)."""
        if isinstance(payload, Frame):
            if self.player_id is None:
                return  # part of the welcome's snapshot
            seq = payload.guess_seq(self.player_id)
            if seq is not None:
                self._guess_timer.guessed(seq)
            if self._direct() and self._wire.shares_frames:  # type: ignore[union-attr]
                wire = payload.wire_for(self.player_id)
                if wire is None or self._wire.write_frame(wire):  # type: ignore[union-attr]
                    return  # nothing for this socket, or the shared bytes written at once
            text = payload.text_for(self.player_id)
            if text is not None:
                self._enqueue(text)
            return
        text = payload
        if header.get("to") == self.conn_id:
            fut = self._join_reply
            if fut is not None and not fut.done() and header.get("kind") in ("welcome", "error"):
                fut.set_result((header, text))
                return
            if header.get("kind") == "error":
                self._count_error(text)
            elif header.get("kind") == "snapshot":
                self._snapshot.set()
        elif self.player_id is None:
            return  # room events before our welcome are part of the welcome's snapshot
        self._enqueue(text, header.get("close"))

    def _count_error(self, text: str | None) -> None:
        try:
            self.metrics.refused(str(json.loads(text or "{}").get("code", "internal")))
        except (ValueError, AttributeError):
            self.metrics.refused("internal")

    def resync(self) -> None:
        """Called by the hub after a pub/sub reconnect: ask the owner for a snapshot."""
        if self.room is None or self.player_id is None or self._resyncs:
            return
        task = asyncio.get_running_loop().create_task(self._resync(self.room))
        self._resyncs.add(task)
        task.add_done_callback(self._resyncs.discard)

    async def _resync(self, code: str) -> None:
        """Ask until a snapshot arrives: just after Redis is back the request can fail (still
        loading its data, stale connections) or find no owner yet."""
        backoff = RESYNC_RETRY_S
        while self.room == code:
            self._snapshot.clear()
            try:
                await self._command(code, protocol.Resync())
                await asyncio.wait_for(self._snapshot.wait(), RESYNC_WAIT_S)
                return
            except (RedisError, OSError, TimeoutError):
                log.warning("conn %s: resync request failed; retrying", self.conn_id)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, RESYNC_WAIT_S)

    def _direct(self) -> bool:
        """A message may be written straight onto the socket (:class:`Wire`): nothing is
        queued before it."""
        return (
            self._wire is not None and not self._closing and not self._sending and self.out.empty()
        )

    def _enqueue(self, text: str | None, close: int | None = None) -> None:
        if self._closing:
            return
        if close is None and text is not None and self._direct() and self._wire.write(text):  # type: ignore[union-attr]
            return  # written at once, after everything queued before it
        try:
            self.out.put_nowait((text, close))
        except asyncio.QueueFull:
            self._closing = True
            self.out._queue.clear()  # type: ignore[attr-defined]
            self.out.put_nowait((None, protocol.CLOSE_SLOW_CONSUMER))
        if close is not None:
            self._closing = True

    def send(self, msg: dict[str, Any]) -> None:
        if msg.get("type") == "error":
            self.metrics.refused(str(msg.get("code")))
        self._enqueue(dumps(msg))

    async def _writer(self) -> None:
        while True:
            text, close = await self.out.get()
            self._sending = True  # until written, later messages queue behind this one
            if text is not None:
                await self.ws.send_text(text)
            if close is not None:
                await self.ws.close(code=close)
                return
            self._sending = False

    @property
    def idle(self) -> bool:
        """Neither joined nor joining a room (the first to go when its address is full)."""
        return self.player_id is None and self._not_joining.is_set() and not self._closing

    def evict(self) -> None:
        """Make room for a newer socket of this address: close with 4003."""
        self.metrics.refused("too_many_connections")
        self._enqueue(None, protocol.CLOSE_TOO_MANY_CONNECTIONS)

    async def _close_if_not_joined(self) -> None:
        """Close the socket (4005) if it has not joined within ``join_timeout_seconds``: an
        idle socket holds a file descriptor and a place in its address's limit."""
        await asyncio.sleep(self.settings.join_timeout_seconds)
        await self._not_joining.wait()  # a join in flight: its reply decides
        if self.player_id is None:
            log.info("conn %s: closed, no join within the join timeout", self.conn_id)
            self._enqueue(None, protocol.CLOSE_JOIN_TIMEOUT)

    # ------------------------------------------------------------------ incoming

    async def run(self) -> None:
        writer = asyncio.create_task(self._writer(), name=f"ws-out-{self.conn_id}")
        reader = asyncio.create_task(self._reader(), name=f"ws-in-{self.conn_id}")
        deadline = asyncio.create_task(self._close_if_not_joined(), name=f"ws-j-{self.conn_id}")
        try:
            await asyncio.wait({writer, reader}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (reader, writer, deadline):
                t.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
            await self._cleanup()

    async def _reader(self) -> None:
        while True:
            # backpressure: while the room's inbox is full, read nothing more from this socket
            # (uvicorn then stops reading it and TCP pushes back on the client)
            actor = self.node.owners.local(self.room) if self.room is not None else None
            if actor is not None:
                await actor.room_for_input()
            try:
                frame = await self.ws.receive()
            except (WebSocketDisconnect, RuntimeError):
                return
            if frame["type"] == "websocket.disconnect":
                return
            raw = frame.get("text")
            if raw is None:
                raw = frame.get("bytes") or b""
            verdict = self._limiter.check()
            if verdict is Verdict.CLOSE:
                log.warning("conn %s: closed for rate-limit abuse", self.conn_id)
                self.metrics.refused("rate_limit_close")
                self._enqueue(None, protocol.CLOSE_RATE_LIMIT)
                return
            if verdict is Verdict.REFUSE:
                self.send(error_message("rate_limited", "too many messages; slow down"))
                continue
            try:
                msg = protocol.parse_client_message(raw, self.settings)
                self.metrics.message(msg)
                await self._handle(msg)
            except ProtocolError as exc:
                self.send(exc.to_message())
            except (RedisError, OSError, TimeoutError):
                log.warning("conn %s: Redis unavailable", self.conn_id, exc_info=True)
                self.send(error_message("unavailable", "the game store is unavailable; retry"))
            except Exception:
                log.exception("conn %s: unexpected error", self.conn_id)
                self.send(error_message("internal", "unexpected server error"))

    async def _handle(self, msg: protocol.ClientMessage) -> None:
        if isinstance(msg, protocol.Ping):
            self.send({"type": "pong", "server_time": self.node.clock.now_ms()})
            return
        if isinstance(msg, protocol.Join):
            await self._join(msg)
            return
        if self.room is None or self.player_id is None:
            raise ProtocolError("not_joined", "join a room first")
        if isinstance(msg, protocol.Points | protocol.Undo | protocol.Clear):
            self._guess_timer.sent(msg.seq)
        await self._command(self.room, msg)

    async def _command(self, code: str, msg: protocol.RoomMessage) -> None:
        await self.node.liveness.ensure()  # after a pause: our Reattach goes first
        await self._submit(code, msg)

    async def _submit(self, code: str, msg: protocol.RoomMessage) -> None:
        cmd = protocol.Command(self.conn_id, self.node.clock.now_ms(), msg)
        actor = self.node.owners.local(code)
        if actor is not None:
            actor.submit(cmd)
        else:
            await self.node.store.send_command(code, protocol.encode_command(cmd))

    async def reattach(self) -> None:
        """Called by liveness after our heartbeat lapsed: the owner may have taken this socket
        for dead; re-announce its seat (a no-op for the owner if it still holds it)."""
        if self.room is not None and self.resume_token is not None:
            await self._submit(self.room, protocol.Reattach(self.resume_token))

    # ------------------------------------------------------------------ joining

    async def _join(self, msg: protocol.Join) -> None:
        if self.player_id is not None or self._join_reply is not None:
            raise ProtocolError("already_joined", "this connection already joined", "join")
        if not await self.node.addresses.allow_join_attempt(self.ip, self.node.clock.now_ms()):
            raise ProtocolError("rate_limited", "too many join attempts; wait a minute", "join")
        self._not_joining.clear()
        try:
            if msg.resume is not None:
                code = protocol.room_of_resume_token(msg.resume)
                if not await self.node.store.room_exists(code):
                    raise ProtocolError("bad_resume", "unknown or expired resume token", "join")
                await self._try_join(code, msg)
            elif msg.room is not None and not msg.quickplay:
                if not await self.node.store.room_exists(msg.room):
                    raise ProtocolError("room_not_found", "no such room", "join")
                await self.node.admit(msg.room)
                await self._try_join(msg.room, msg)
            else:
                await self._quickplay(msg)
        finally:
            self._join_reply = None
            self._not_joining.set()

    async def _quickplay(self, msg: protocol.Join) -> None:
        """Fill the fullest open room first; but while some process has spare capacity, a new
        room (which goes to such a process) instead of a room whose owner is overloaded."""
        store = self.node.store
        rooms = await store.open_public_rooms()
        if not msg.spectator:
            rooms = {c: n for c, n in rooms.items() if n < self.settings.room_capacity}
        owner = await store.room_owners(list(rooms))
        spare = await store.spare_processes(self.node.clock.now_ms())
        fullest = sorted(rooms, key=lambda c: -rooms[c])
        relieved = [c for c in fullest if owner[c] is None or owner[c] in spare]
        crowded = [c for c in fullest if c not in relieved]
        # None: a new room (the last try: it joins it or raises)
        for code in [*relieved, None] if spare else [*relieved, *crowded, None]:
            try:
                if code is None:
                    await self.node.admit(None)
                    await self._try_join(await self.node.create_room(public=True), msg)
                    return
                if not await store.room_exists(code):
                    await store.forget_public(code)
                    continue
                await self.node.admit(code)
                await self._try_join(code, msg)
                return
            except ProtocolError as exc:
                if code is None or exc.code not in ("room_full", "room_not_found", "server_busy"):
                    raise

    async def _try_join(self, code: str, msg: protocol.Join) -> None:
        """Send a join to ``code``'s owner and wait for the welcome (or an error)."""
        loop = asyncio.get_running_loop()
        self._join_reply = loop.create_future()
        self.room = code
        await self.node.hub.add(code, self)
        try:
            await self._command(code, msg)
            await self.node.owners.ensure(code)
            header, text = await asyncio.wait_for(self._join_reply, JOIN_TIMEOUT_S)
        except BaseException:
            await self._leave_room(code, disconnect=True)
            raise
        if header.get("kind") == "welcome":
            self.player_id = header["player_id"]
            self.resume_token = json.loads(text or "{}").get("resume_token")
            logging_setup.bind(room=code, player=self.player_id)
            log.info("joined room %s as %s", code, self.player_id)
            self._enqueue(text, header.get("close"))
            return
        err = json.loads(text) if text else {}
        await self._leave_room(code, disconnect=False)
        raise ProtocolError(err.get("code", "internal"), err.get("message", "join failed"), "join")

    async def _leave_room(self, code: str, disconnect: bool) -> None:
        if disconnect:
            with contextlib.suppress(RedisError, OSError):
                await self._command(code, protocol.Disconnect())
        await self.node.hub.remove(code, self)
        if self.room == code:
            self.room = None
            self.player_id = None
            self.resume_token = None

    async def _cleanup(self) -> None:
        for task in list(self._resyncs):
            task.cancel()
        if self.room is not None:
            await self._leave_room(self.room, disconnect=True)

    async def close_for_shutdown(self) -> None:
        """Tell the client the server is restarting, then close with 1012 (it should resume)."""
        self.send(
            {
                "type": "server_shutdown",
                "message": "the server is restarting; reconnect and resume your seat",
            }
        )
        self._enqueue(None, protocol.CLOSE_SERVICE_RESTART)


async def websocket_endpoint(ws: WebSocket) -> None:
    node: Node = ws.app.state.node
    settings = node.settings
    if not origin_allowed(ws, settings.allowed_origins):
        metrics_of(ws.app).refused("origin")
        log.warning("WebSocket refused: origin %r not allowed", ws.headers.get("origin"))
        await ws.close(code=protocol.CLOSE_POLICY)  # before accept: HTTP 403
        return
    await ws.accept()
    conn = Connection(node, ws)
    if not await node.addresses.admit(conn.ip, conn):
        metrics_of(ws.app).refused("too_many_connections")
        await ws.close(code=protocol.CLOSE_TOO_MANY_CONNECTIONS)
        return
    try:
        await conn.run()
    finally:
        await node.addresses.release(conn.ip, conn)
