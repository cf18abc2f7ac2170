"""A small, cheap RFC 6455 WebSocket client for the load generator: an ``asyncio.Protocol``
(uvloop's C transport underneath) that writes each text message as one masked frame and hands
every complete text message to a callback, with no task, future or queue per message.

It is an honest client, not a shortcut: the opening handshake checks the status line, the
``Upgrade``/``Connection`` headers and ``Sec-WebSocket-Accept``; every client frame is masked with
a fresh key from the OS's entropy source (RFC 6455 §5.3; the keys are read 4 KiB at a time); server
frames must be unmasked and well-formed (else close 1002), fragmented messages are reassembled
(control frames may come in between), text must be UTF-8 (else 1007), pings are answered with a
pong carrying their payload, and a server close is echoed before the server drops the TCP
connection. ``permessage-deflate`` is offered when asked for; the client then inflates compressed
messages (RSV1) but sends its own uncompressed, which RFC 7692 allows (it is per message).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import ssl
import zlib
from collections.abc import Callable
from typing import cast
from urllib.parse import urlsplit

from websockets.frames import apply_mask  # websockets' C speedup (pure Python without it)

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
CLOSE_NO_STATUS = 1005  # a close frame without a code (never sent on the wire)
CLOSE_ABNORMAL = 1006  # the connection was lost without a close frame (never sent on the wire)
_MAX_HEADER_BYTES = 16384


class ConnectionClosed(Exception):
    """The connection is closed (``code``, ``reason``: those of the server's close frame, or 1006
    when the TCP connection ended without one)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"closed {code} {reason}".rstrip())
        self.code = code
        self.reason = reason


class HandshakeError(ValueError):
    """The server did not accept the WebSocket upgrade as RFC 6455 requires."""


def accept_key(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` a server must answer to ``Sec-WebSocket-Key: key``."""
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


class _MaskKeys:
    """Masking keys from ``os.urandom`` (a strong entropy source), read 4 KiB at a time."""

    def __init__(self) -> None:
        self._pool = b""
        self._at = 0

    def next(self) -> bytes:
        if self._at >= len(self._pool):
            self._pool, self._at = os.urandom(4096), 0
        key = self._pool[self._at : self._at + 4]
        self._at += 4
        return key


_KEYS = _MaskKeys()


def client_frame(opcode: int, payload: bytes | bytearray) -> bytes:
    """One final client frame, masked with a fresh random key."""
    key = _KEYS.next()
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        head = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    return head + key + apply_mask(payload, key)


def _extension_params(header: str) -> dict[str, str] | None:
    """The parameters of the server's ``permessage-deflate`` answer, None if it chose none."""
    for ext in header.split(","):
        name, *params = (p.strip() for p in ext.split(";"))
        if name.lower() == "permessage-deflate":
            return {k: v for k, _, v in (p.partition("=") for p in params if p)}
    return None


class WSClient(asyncio.Protocol):
    """One client connection; open it with :meth:`connect`.

    ``on_text(message)`` is called for every complete text message, in order; if it raises, the
    connection is aborted and :attr:`closed` carries the exception. ``closed`` resolves to the
    :class:`ConnectionClosed` of the server's close frame (1006 without one).
    """

    def __init__(self, on_text: Callable[[str], None], max_size: int) -> None:
        self.on_text = on_text
        self.max_size = max_size
        self.transport: asyncio.Transport | None = None
        self.closed: asyncio.Future[ConnectionClosed] = asyncio.get_running_loop().create_future()
        self.pongs_sent = 0
        self._key = base64.b64encode(os.urandom(16)).decode()
        self._handshake: asyncio.Future[None] | None = None
        self._head = b""  # the handshake response so far
        self._buf = bytearray()
        self._frags: list[bytes | bytearray] = []  # a fragmented message so far
        self._frag_op = 0
        self._frag_deflated = False
        self._inflate: zlib._Decompress | None = None  # permessage-deflate, when negotiated
        self._inflate_bits = 15
        self._inflate_reset = False  # server_no_context_takeover
        self._close_rcvd: ConnectionClosed | None = None
        self._close_sent = False
        self._writable = asyncio.Event()
        self._writable.set()

    @property
    def compressed(self) -> bool:
        """Whether the server accepted permessage-deflate."""
        return self._inflate is not None

    # -- opening

    @classmethod
    async def connect(
        cls,
        url: str,
        on_text: Callable[[str], None],
        *,
        origin: str | None = None,
        compression: bool = False,
        max_size: int = 2**22,
        open_timeout: float = 30.0,
    ) -> WSClient:
        """Open ``url`` (ws:// or wss://) and complete the opening handshake."""
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise ValueError(f"not a WebSocket URL: {url!r}")
        tls = parts.scheme == "wss"
        port = parts.port or (443 if tls else 80)
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(open_timeout):
            _, proto = await loop.create_connection(
                lambda: cls(on_text, max_size),
                parts.hostname,
                port,
                ssl=ssl.create_default_context() if tls else None,
            )
            try:
                await proto._open(parts.netloc, parts.path or "/", parts.query, origin, compression)
            except BaseException:
                proto.abort()
                raise
        return proto

    async def _open(
        self, netloc: str, path: str, query: str, origin: str | None, compression: bool
    ) -> None:
        assert self.transport is not None
        self._handshake = asyncio.get_running_loop().create_future()
        lines = [
            f"GET {path}{'?' + query if query else ''} HTTP/1.1",
            f"Host: {netloc}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {self._key}",
            "Sec-WebSocket-Version: 13",
        ]
        if origin:
            lines.append(f"Origin: {origin}")
        if compression:
            lines.append("Sec-WebSocket-Extensions: permessage-deflate")
        self.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await self._handshake

    def _on_response(self, head: bytes) -> None:
        """Check the handshake response (everything before the blank line)."""
        status, *header_lines = head.decode("latin-1").split("\r\n")
        if status.split(" ", 2)[:2] != ["HTTP/1.1", "101"]:
            raise HandshakeError(f"no upgrade: {status!r}")
        headers: dict[str, str] = {}
        for line in header_lines:
            name, sep, value = line.partition(":")
            if not sep:
                raise HandshakeError(f"bad header line {line!r}")
            key = name.strip().lower()
            headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
        if headers.get("upgrade", "").lower() != "websocket":
            raise HandshakeError("missing Upgrade: websocket")
        if "upgrade" not in (t.strip() for t in headers.get("connection", "").lower().split(",")):
            raise HandshakeError("missing Connection: upgrade")
        if headers.get("sec-websocket-accept") != accept_key(self._key):
            raise HandshakeError("wrong Sec-WebSocket-Accept")
        params = _extension_params(headers.get("sec-websocket-extensions", ""))
        if params is not None:
            self._inflate_bits = int(params.get("server_max_window_bits") or 15)
            self._inflate = zlib.decompressobj(-self._inflate_bits)
            self._inflate_reset = "server_no_context_takeover" in params

    # -- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        if self._handshake is not None and not self._handshake.done():
            self._head += data
            end = self._head.find(b"\r\n\r\n")
            if end < 0:
                if len(self._head) > _MAX_HEADER_BYTES:
                    self._fail_handshake(HandshakeError("response headers too long"))
                return
            try:
                self._on_response(self._head[:end])
            except HandshakeError as exc:
                self._fail_handshake(exc)
                return
            self._handshake.set_result(None)
            data = self._head[end + 4 :]
            self._head = b""
            if not data:
                return
        try:
            if self._buf:
                self._buf += data
                del self._buf[: self._parse(self._buf)]
            else:  # the usual case: whole frames, no copy into the buffer
                end = self._parse(data)
                if end < len(data):
                    self._buf += data[end:]
        except ConnectionClosed as exc:  # a protocol error of the server: close with its code
            self._fail(exc.code, exc.reason)
        except Exception as exc:  # on_text failed: the caller sees it in `closed`
            if not self.closed.done():
                self.closed.set_exception(exc)
            self.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._handshake is not None and not self._handshake.done():
            self._handshake.set_exception(HandshakeError(f"connection lost: {exc}"))
        if not self.closed.done():
            self.closed.set_result(self._close_rcvd or ConnectionClosed(CLOSE_ABNORMAL, ""))
        self._writable.set()  # wake a writer waiting in drain(): it sees the close

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    # -- frames from the server

    def _parse(self, buf: bytes | bytearray) -> int:
        """Handle the complete frames at the start of ``buf``; where the rest begins."""
        pos, size = 0, len(buf)
        while size - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            n, at = b1 & 0x7F, pos + 2
            if n == 126:
                if size - at < 2:
                    break
                n, at = int.from_bytes(buf[at : at + 2], "big"), at + 2
            elif n == 127:
                if size - at < 8:
                    break
                n, at = int.from_bytes(buf[at : at + 8], "big"), at + 8
            if b1 & 0x80:
                raise ConnectionClosed(1002, "masked server frame")
            if n > self.max_size:
                raise ConnectionClosed(1009, "frame too big")
            if size - at < n:
                break
            payload = buf[at : at + n]
            pos = at + n
            self._frame(b0, payload)
        return pos

    def _frame(self, b0: int, payload: bytes | bytearray) -> None:
        fin, opcode = b0 & 0x80, b0 & 0x0F
        deflated = bool(b0 & 0x40)
        control = opcode >= OP_CLOSE
        # RSV1 only on the first frame of a deflated message; RSV2 and RSV3 never
        if b0 & 0x30 or (deflated and (self._inflate is None or control or opcode == OP_CONT)):
            raise ConnectionClosed(1002, "reserved bit set")
        if control:
            if not fin or len(payload) > 125:
                raise ConnectionClosed(1002, "bad control frame")
            self._control(opcode, payload)
        elif opcode == OP_CONT:
            if not self._frags:
                raise ConnectionClosed(1002, "continuation without a message")
            self._frags.append(payload)
            if sum(map(len, self._frags)) > self.max_size:
                raise ConnectionClosed(1009, "message too big")
            if fin:
                payload, self._frags = b"".join(self._frags), []
                self._message(self._frag_op, payload, self._frag_deflated)
        elif opcode in (OP_TEXT, OP_BINARY):
            if self._frags:
                raise ConnectionClosed(1002, "new message inside a fragmented one")
            if fin:
                self._message(opcode, payload, deflated)
            else:
                self._frags, self._frag_op, self._frag_deflated = [payload], opcode, deflated
        else:
            raise ConnectionClosed(1002, f"unknown opcode {opcode}")

    def _message(self, opcode: int, payload: bytes | bytearray, deflated: bool) -> None:
        if deflated:
            assert self._inflate is not None
            payload = self._inflate.decompress(payload + b"\x00\x00\xff\xff", self.max_size)
            if self._inflate.unconsumed_tail:
                raise ConnectionClosed(1009, "message too big")
            if self._inflate_reset:
                self._inflate = zlib.decompressobj(-self._inflate_bits)
        if opcode == OP_TEXT and self._close_rcvd is None:
            try:
                text = payload.decode()
            except UnicodeDecodeError:
                raise ConnectionClosed(1007, "invalid UTF-8") from None
            self.on_text(text)
        # binary messages: the game sends none; they are read and dropped

    def _control(self, opcode: int, payload: bytes | bytearray) -> None:
        if opcode == OP_PING:
            if not self._close_sent:
                self._write(OP_PONG, payload)
                self.pongs_sent += 1
        elif opcode == OP_CLOSE:
            if len(payload) == 1:
                raise ConnectionClosed(1002, "bad close frame")
            code = int.from_bytes(payload[:2], "big") if payload else CLOSE_NO_STATUS
            self._close_rcvd = ConnectionClosed(code, payload[2:].decode(errors="replace"))
            if not self._close_sent:  # echo it; the server then ends the TCP connection
                self._close_sent = True
                self._write(OP_CLOSE, payload[:2])
        # pongs: this client sends no pings

    # -- to the server

    def _write(self, opcode: int, payload: bytes | bytearray) -> None:
        assert self.transport is not None
        self.transport.write(client_frame(opcode, payload))

    def send(self, text: str) -> None:
        """Send one text message (one masked frame); raises :class:`ConnectionClosed` once the
        closing handshake has begun or the connection is gone."""
        if (
            self._close_sent
            or self.closed.done()
            or self.transport is None
            or self.transport.is_closing()
        ):
            raise self._close_rcvd or ConnectionClosed(CLOSE_ABNORMAL, "")
        self._write(OP_TEXT, text.encode())

    async def drain(self) -> None:
        """Wait while the transport's write buffer is over its high-water mark."""
        if not self._writable.is_set():
            await self._writable.wait()

    async def close(self, code: int = 1000, reason: str = "", wait: float = 5.0) -> None:
        """Start (or finish) the closing handshake and wait for the server to end the TCP
        connection; abort it after ``wait`` seconds."""
        if not self._close_sent and not self.closed.done():
            self._close_sent = True
            self._write(OP_CLOSE, code.to_bytes(2, "big") + reason.encode())
        try:
            await asyncio.wait_for(asyncio.shield(self.closed), wait)
        except Exception:  # timed out, or on_text failed
            self.abort()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def _fail(self, code: int, reason: str) -> None:
        """A protocol error of the server: send our close frame and drop the connection."""
        if not self._close_sent and self.transport is not None:
            self._close_sent = True
            self._write(OP_CLOSE, code.to_bytes(2, "big") + reason.encode())
        if not self.closed.done():
            self.closed.set_result(ConnectionClosed(code, reason))
        self.abort()

    def _fail_handshake(self, exc: HandshakeError) -> None:
        assert self._handshake is not None
        self._handshake.set_exception(exc)
        self.abort()
