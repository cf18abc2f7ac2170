"""The per-tick ``frame`` message: every player's new ink and new guesses of one room tick.

A :class:`Frame` holds each player's part encoded once (``"p1":[ops...]``); the text for one
socket is joined from those parts, leaving out the ink of the socket's own player (a drawer is
not echoed its own strokes). Sockets whose player has no ink in the frame share one text, and
one WebSocket frame (:meth:`Frame.wire_for`: the bytes written as they are to every such
socket that did not negotiate an extension).

:class:`TickOutput` turns a tick's effects, in order, into the events to announce: ink and
guesses gather into the current frame, and any other message first flushes it, so every socket
sees the room's changes in the order the rules made them.
"""

from __future__ import annotations

from typing import Any

import msgspec
from websockets.frames import Frame as WireFrame
from websockets.frames import Opcode

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


def dumps(obj: Any) -> str:
    """Compact JSON text (msgspec)."""
    return _encode(obj).decode()


class Frame:
    __slots__ = ("_guesses", "_ink", "_seqs", "_texts", "_wires")

    def __init__(self, ink: dict[str, list[Any]], guesses: dict[str, dict[str, Any]]) -> None:
        self._ink = {pid: f'"{pid}":{dumps(ops)}' for pid, ops in ink.items()}
        self._guesses = (
            '"guesses":{' + ",".join(f'"{p}":{dumps(g)}' for p, g in guesses.items()) + "}"
            if guesses
            else None
        )
        self._seqs = {pid: g["seq"] for pid, g in guesses.items()}
        self._texts: dict[str | None, str | None] = {}
        self._wires: dict[str | None, bytes | None] = {}

    @classmethod
    def from_text(cls, text: str) -> Frame:
        msg = _decode(text)
        return cls(msg.get("ink", {}), msg.get("guesses", {}))

    def guess_seq(self, player_id: str) -> int | None:
        """The ``seq`` of the update ``player_id``'s guess in this frame covers, if any."""
        return self._seqs.get(player_id)

    def text_for(self, player_id: str | None) -> str | None:
        """The frame for ``player_id``'s socket (``None``: everything); ``None`` when empty."""
        key = player_id if player_id in self._ink else None
        if key in self._texts:
            return self._texts[key]
        parts = []
        ink = [frag for pid, frag in self._ink.items() if pid != key]
        if ink:
            parts.append('"ink":{' + ",".join(ink) + "}")
        if self._guesses is not None:
            parts.append(self._guesses)
        text = '{"type":"frame",' + ",".join(parts) + "}" if parts else None
        self._texts[key] = text
        return text

    def wire_for(self, player_id: str | None) -> bytes | None:
        """:meth:`text_for` as one server-to-client WebSocket text frame (unmasked, no
        extension): built once per text, written as is to each socket it is for."""
        key = player_id if player_id in self._ink else None
        if key in self._wires:
            return self._wires[key]
        text = self.text_for(key)
        wire = None if text is None else WireFrame(Opcode.TEXT, text.encode()).serialize(mask=False)
        self._wires[key] = wire
        return wire


Header = dict[str, Any]
Event = tuple[Header, "str | Frame | None"]


class TickOutput:
    """Collects one room tick's announcements in order (see the module docstring)."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._ink: dict[str, list[Any]] = {}
        self._guesses: dict[str, dict[str, Any]] = {}

    def ink(self, player_id: str, op: dict[str, Any]) -> None:
        self._ink.setdefault(player_id, []).append(op)

    def guess(self, player_id: str, seq: int, guesses: list[dict[str, Any]]) -> None:
        self._guesses[player_id] = {"seq": seq, "guesses": guesses}

    def message(self, header: Header, msg: dict[str, Any] | None) -> None:
        self.flush()
        self.events.append((header, dumps(msg) if msg is not None else None))

    def flush(self) -> None:
        if self._ink or self._guesses:
            self.events.append(({"kind": "frame"}, Frame(self._ink, self._guesses)))
            self._ink, self._guesses = {}, {}

    def finish(self) -> list[Event]:
        self.flush()
        return self.events


def encode_event(header: Header, payload: str | Frame | None) -> str:
    """An event on the room's pub/sub channel: ``<header JSON>\\n<message JSON>``."""
    text = payload.text_for(None) if isinstance(payload, Frame) else payload
    return dumps(header) + "\n" + (text or "")


def decode_event(data: str | bytes) -> Event:
    if isinstance(data, bytes):
        data = data.decode()
    head, _, body = data.partition("\n")
    header = _decode(head)
    if header.get("kind") == "frame":
        return header, Frame.from_text(body)
    return header, (body or None)
