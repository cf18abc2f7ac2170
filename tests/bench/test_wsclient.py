"""The load generator's WebSocket client (bench/load/wsclient.py) against real servers: the game
server under uvicorn (handshake, masked frames of every length encoding, UTF-8 both ways,
permessage-deflate, the server's keepalive pings answered, the server's close and our own) and
the ``websockets`` library's server (it rejects unmasked client frames) for fragmented messages,
pings and close codes that the game server does not send on demand."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.server import ServerConnection, serve
from websockets.frames import apply_mask

from bench.load import wsclient
from bench.load.wsclient import ConnectionClosed, WSClient
from game_server.app import create_app
from game_server.config import Settings
from game_server.harness import AppServer

Msg = dict[str, Any]


class Inbox:
    """The text messages a :class:`WSClient` received, in order."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[str] = asyncio.Queue()

    def __call__(self, text: str) -> None:
        self.queue.put_nowait(text)

    async def next(self) -> str:
        return await asyncio.wait_for(self.queue.get(), 10)

    async def next_of(self, kind: str) -> Msg:
        while True:
            msg = json.loads(await self.next())
            if msg["type"] == kind:
                return dict(msg)


def test_every_client_frame_is_masked_with_its_own_key() -> None:
    for size, head in ((0, 2), (125, 2), (126, 4), (65535, 4), (65536, 10)):
        payload = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
        a = wsclient.client_frame(wsclient.OP_TEXT, payload)
        b = wsclient.client_frame(wsclient.OP_TEXT, payload)
        assert a[0] == 0x81 and a[1] & 0x80  # FIN + text, MASK bit set
        assert len(a) == head + 4 + size
        key_a, key_b = a[head : head + 4], b[head : head + 4]
        assert key_a != key_b  # a fresh key per frame
        assert apply_mask(a[head + 4 :], key_a) == payload
        assert apply_mask(b[head + 4 :], key_b) == payload
        if size:
            assert a[head + 4 :] != payload


def test_accept_key_is_rfc_6455s_example() -> None:
    assert wsclient.accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def _server_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    n = len(payload)
    head = bytes((0x80 * fin | opcode,))
    if n < 126:
        return head + bytes((n,)) + payload
    return head + bytes((126,)) + n.to_bytes(2, "big") + payload


class _Wire:
    """What the client wrote (a transport that records; the parser's boundaries are the test)."""

    def __init__(self) -> None:
        self.written = b""

    def write(self, data: bytes) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return False


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 100, 10**6])
async def test_frames_split_anywhere_are_reassembled(chunk: int) -> None:
    """Server bytes cut at every boundary: messages, a ping inside a fragmented message, close."""
    long = "é" * 200  # 400 bytes: a 16-bit length
    stream = (
        _server_frame(wsclient.OP_TEXT, "héllo".encode())
        + _server_frame(wsclient.OP_TEXT, long.encode())
        + _server_frame(wsclient.OP_TEXT, b"frag", fin=False)
        + _server_frame(wsclient.OP_PING, b"are you there")
        + _server_frame(wsclient.OP_CONT, b"mented ", fin=False)
        + _server_frame(wsclient.OP_CONT, "é".encode())
        + _server_frame(wsclient.OP_CLOSE, (4002).to_bytes(2, "big") + b"replaced")
    )
    got: list[str] = []
    ws = WSClient(got.append, 2**20)
    wire = _Wire()
    ws.transport = wire  # type: ignore[assignment]
    for i in range(0, len(stream), chunk):
        ws.data_received(stream[i : i + chunk])
    assert got == ["héllo", long, "fragmented é"]
    ws.connection_lost(None)
    assert (ws.closed.result().code, ws.closed.result().reason) == (4002, "replaced")
    # what we wrote: the pong with the ping's payload, then the close echo, both masked
    pong, close = wire.written[: 6 + 13], wire.written[6 + 13 :]
    assert pong[:2] == bytes((0x80 | wsclient.OP_PONG, 0x80 | 13))
    assert apply_mask(pong[6:], pong[2:6]) == b"are you there"
    assert close[:2] == bytes((0x80 | wsclient.OP_CLOSE, 0x80 | 2))
    assert apply_mask(close[6:], close[2:6]) == (4002).to_bytes(2, "big")


@pytest.fixture
async def game(
    settings: Settings, server_factory: Callable[..., Any]
) -> AsyncIterator[Callable[..., Awaitable[AppServer]]]:
    """``await game(**uvicorn_options)``: the real game app under a real uvicorn server."""
    async with AsyncExitStack() as stack:

        async def start(**config: Any) -> AppServer:
            return await stack.enter_async_context(server_factory(create_app(settings), **config))

        yield start


async def _room(srv: AppServer) -> str:
    async with httpx.AsyncClient() as client:
        return str((await client.post(f"{srv.http_url}/api/rooms")).json()["code"])


async def _connect(srv: AppServer, inbox: Inbox, compression: bool = False) -> WSClient:
    code = await _room(srv)
    return await WSClient.connect(
        f"{srv.ws_url}?room={code}", inbox, origin=srv.http_url, compression=compression
    )


@pytest.mark.parametrize("compression", [False, True])
async def test_round_trip_with_the_game_server(
    game: Callable[..., Awaitable[AppServer]], compression: bool
) -> None:
    """Short and 16-bit-length frames, non-ASCII text both ways, the server's deflated frames;
    then a 64-bit-length frame over the server's limit: it closes with 1009 and we see it."""
    srv = await game(ws_max_size=65536, ws_per_message_deflate=compression)
    inbox = Inbox()
    code = await _room(srv)
    ws = await WSClient.connect(
        f"{srv.ws_url}?room={code}", inbox, origin=srv.http_url, compression=compression
    )
    assert ws.compressed is compression
    ws.send('{"type":"ping"}')
    assert (await inbox.next_of("pong"))["type"] == "pong"
    ws.send(json.dumps({"type": "join", "name": "ada", "room": code}))
    welcome = await inbox.next_of("welcome")
    text = "é🎨 dessin " * 9  # 90 characters, 126 bytes of UTF-8 in a longer frame
    assert len(json.dumps({"type": "chat", "text": text}, ensure_ascii=False).encode()) > 125
    ws.send(json.dumps({"type": "chat", "text": text}, ensure_ascii=False))
    chat = await inbox.next_of("chat")
    assert chat["text"] == text.strip()
    assert chat["player_id"] == welcome["player_id"]
    ws.send(json.dumps({"type": "chat", "text": "x" * 70000}))
    closed = await asyncio.wait_for(ws.closed, 10)
    assert closed.code == 1009
    with pytest.raises(ConnectionClosed):
        ws.send('{"type":"ping"}')


async def test_our_close_is_echoed_by_the_game_server(
    game: Callable[..., Awaitable[AppServer]],
) -> None:
    srv = await game()
    inbox = Inbox()
    ws = await _connect(srv, inbox)
    ws.send('{"type":"ping"}')
    await inbox.next_of("pong")
    await ws.close(1000, "bye")
    assert ws.closed.done() and ws.closed.result().code == 1000  # the server's echo, not 1006


async def test_the_game_servers_keepalive_pings_are_answered(
    game: Callable[..., Awaitable[AppServer]],
) -> None:
    """uvicorn pings every 20 ms and sends its next ping only once the last one's pong came
    back (else it closes the socket with 1011): three pongs mean three answered pings."""
    srv = await game(ws_ping_interval=0.02, ws_ping_timeout=5.0)
    inbox = Inbox()
    ws = await _connect(srv, inbox)
    async with asyncio.timeout(10):
        while ws.pongs_sent < 3:  # noqa: ASYNC110 (bounded poll of a counter)
            await asyncio.sleep(0.01)
    ws.send('{"type":"ping"}')
    await inbox.next_of("pong")
    assert not ws.closed.done()
    await ws.close()


@asynccontextmanager
async def library_server(
    handler: Callable[[ServerConnection], Awaitable[None]], **options: Any
) -> AsyncIterator[str]:
    """The ``websockets`` library's server on 127.0.0.1:0 (it fails any unmasked client frame
    with 1002)."""
    async with serve(handler, "127.0.0.1", 0, max_size=None, **options) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}/"


@pytest.mark.parametrize("compression", [False, True])
async def test_fragmented_messages_and_every_length_encoding(compression: bool) -> None:
    """The server echoes what we send, in one frame or fragmented in 1000-character frames (each
    such echo after a ping that must be answered), deflated with context takeover when
    negotiated."""
    pings: list[bytes] = []

    async def echo(conn: ServerConnection) -> None:
        async for message in conn:
            assert isinstance(message, str)
            parts = [message[i : i + 1000] for i in range(0, len(message), 1000)] or [""]
            if len(parts) > 1:
                pong = await conn.ping(b"mid")
                await conn.send(iter(parts))
                await pong
                pings.append(b"mid")
            else:
                await conn.send(message)

    inbox = Inbox()
    async with library_server(echo, compression="deflate" if compression else None) as url:
        ws = await WSClient.connect(url, inbox, compression=compression)
        assert ws.compressed is compression
        for size in (0, 1, 125, 126, 1000, 65535, 65536, 200_000):
            text = ("dessin é " * (size // 10 + 1))[:size]
            ws.send(text)
            assert await inbox.next() == text
        ws.send("after")
        assert await inbox.next() == "after"
        assert len(pings) == 3  # the three fragmented echoes' pings were answered
        assert ws.pongs_sent >= 3
        await ws.close()
        assert ws.closed.result().code == 1000


async def test_a_server_close_is_reported_and_echoed() -> None:
    echoed: list[int | None] = []

    async def closer(conn: ServerConnection) -> None:
        await conn.recv()
        await conn.close(4001, "kicked")
        echoed.append(conn.protocol.close_rcvd.code if conn.protocol.close_rcvd else None)

    inbox = Inbox()
    async with library_server(closer) as url:
        ws = await WSClient.connect(url, inbox)
        ws.send("hello")
        closed = await asyncio.wait_for(ws.closed, 10)
    assert (closed.code, closed.reason) == (4001, "kicked")
    assert echoed == [4001]  # our close frame echoed the server's code


async def test_a_bad_accept_key_fails_the_handshake() -> None:
    def wrong_accept(conn: ServerConnection, request: Any, response: Any) -> Any:
        response.headers["Sec-WebSocket-Accept"] = wsclient.accept_key("not the key")
        return response

    async with library_server(
        lambda conn: conn.wait_closed(), process_response=wrong_accept
    ) as url:
        with pytest.raises(wsclient.HandshakeError, match="Accept"):
            await WSClient.connect(url, Inbox())


async def test_websockets_library_server_refuses_unmasked_frames() -> None:
    """The check the tests above rely on: that server really fails an unmasked frame."""
    closed: list[int | None] = []

    async def handler(conn: ServerConnection) -> None:
        with pytest.raises(websockets.ConnectionClosedError):
            await conn.recv()
        closed.append(conn.protocol.close_sent.code if conn.protocol.close_sent else None)

    async with library_server(handler) as url:
        ws = await WSClient.connect(url, Inbox())
        assert ws.transport is not None
        ws.transport.write(b"\x81\x05hello")  # FIN + text, no MASK bit
        await asyncio.wait_for(ws.closed, 10)
    assert closed == [1002]
