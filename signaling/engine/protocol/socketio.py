"""Socket.IO v5: packets, binary attachments, and the per-connection namespace state.

Sans-I/O: Engine.IO messages go in, decoded packets come out; packets to send come out
as Engine.IO message payloads (a text one, then one per binary attachment).
See https://github.com/socketio/socket.io-protocol.
"""

from dataclasses import dataclass, replace
from typing import Any

import orjson

from signaling.engine.protocol.engineio import ProtocolError

CONNECT, DISCONNECT, EVENT, ACK, CONNECT_ERROR, BINARY_EVENT, BINARY_ACK = range(7)
DEFAULT_NAMESPACE = "/"
# Event names a client may not emit: the client library uses them for itself.
RESERVED_EVENTS = frozenset(
    ("connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener")
)
_DIGITS = frozenset("0123456789")
_MAX_ATTACHMENTS = 100
_MAX_ACK_ID = 2**53 - 1  # a JavaScript client cannot count past this
_MAX_ACK_ID_DIGITS = len(str(_MAX_ACK_ID))
# Deeper JSON cannot be encoded again (orjson stops at 254 levels); no client needs it.
MAX_DEPTH = 32


@dataclass(slots=True)  # not frozen: one is made per message, and frozen ones cost more
class Packet:
    type: int
    namespace: str = DEFAULT_NAMESPACE
    data: Any = None
    id: int | None = None


# --- encoding --------------------------------------------------------------------------


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def encode(packet: Packet) -> list:
    """Engine.IO message payloads for a packet: its text, then any binary attachments."""
    attachments: list[bytes] = []
    data = packet.data
    kind = packet.type
    if kind in (EVENT, ACK) and data is not None and _has_binary(data):
        data = _deconstruct(data, attachments)
        kind = BINARY_EVENT if kind == EVENT else BINARY_ACK
    head = str(kind)
    if attachments:
        head += f"{len(attachments)}-"
    if packet.namespace != DEFAULT_NAMESPACE:
        head += packet.namespace + ","
    if packet.id is not None:
        head += str(packet.id)
    if data is not None:
        head += _json(data)
    return [head, *attachments]


def encode_event(namespace: str, args: list, ack_id: int | None = None) -> list:
    """An EVENT, `args` being `[event name, *arguments]`."""
    if namespace == DEFAULT_NAMESPACE and ack_id is None:
        try:
            # The common case, tried first: JSON cannot hold bytes, so binary fails here.
            return ["2" + _json(args)]
        except orjson.JSONEncodeError:
            pass
    return encode(Packet(EVENT, namespace, args, ack_id))


def with_offset(messages: list, offset: int | str) -> list:
    """Encoded EVENT messages with `offset` appended to the event's arguments, as a string
    (what socket.io-client takes an offset for; an int, or a string of digits and `-`,
    needs no escaping): the JSON array ends the text message in every form (namespace,
    ack id, binary header)."""
    head = messages[0]
    return [f'{head[:-1]},"{offset}"]', *messages[1:]]


def _has_binary(value: Any) -> bool:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return True
    if isinstance(value, (list, tuple)):
        return any(_has_binary(v) for v in value)
    if isinstance(value, dict):
        return any(_has_binary(v) for v in value.values())
    return False


def _deconstruct(value: Any, attachments: list) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        attachments.append(bytes(value))
        return {"_placeholder": True, "num": len(attachments) - 1}
    if isinstance(value, (list, tuple)):
        return [_deconstruct(v, attachments) for v in value]
    if isinstance(value, dict):
        return {k: _deconstruct(v, attachments) for k, v in value.items()}
    return value


# --- decoding --------------------------------------------------------------------------


@dataclass(slots=True)
class _Header:
    packet: Packet
    attachments: int


def _decode_text(text: str) -> _Header:
    if text[:2] == "2[":
        # An EVENT for the main namespace without ack, the bulk of all traffic.
        try:
            data = orjson.loads(text[1:])
        except orjson.JSONDecodeError:
            raise ProtocolError("invalid JSON in packet") from None
        if not _valid_payload(EVENT, data, None) or _too_deep(data):
            raise ProtocolError("invalid EVENT payload")
        return _Header(Packet(EVENT, DEFAULT_NAMESPACE, data), 0)
    if not text or text[0] not in "0123456":
        raise ProtocolError("unknown Socket.IO packet type")
    kind = ord(text[0]) - 48
    i = 1
    n = len(text)
    attachments = 0
    if kind in (BINARY_EVENT, BINARY_ACK):
        dash = text.find("-", 1)
        if not 2 <= dash <= 5 or not set(text[1:dash]) <= _DIGITS:
            raise ProtocolError("bad attachment count")
        attachments = int(text[1:dash])
        if attachments > _MAX_ATTACHMENTS:
            raise ProtocolError("too many attachments")
        i = dash + 1
    namespace = DEFAULT_NAMESPACE
    if i < n and text[i] == "/":
        comma = text.find(",", i)
        end = n if comma == -1 else comma
        namespace = text[i:end]
        i = end + 1
    ack_id = None
    start = i
    while i < n and text[i] in _DIGITS:
        i += 1
    if i > start:
        if i - start > _MAX_ACK_ID_DIGITS:
            raise ProtocolError("ack id out of range")
        ack_id = int(text[start:i])
        if ack_id > _MAX_ACK_ID:
            raise ProtocolError("ack id out of range")
    data = None
    if i < n:
        try:
            data = orjson.loads(text[i:])
        except orjson.JSONDecodeError:
            raise ProtocolError("invalid JSON in packet") from None
        if _too_deep(data):
            raise ProtocolError("JSON nested too deeply")
    if not _valid_payload(kind, data, ack_id):
        raise ProtocolError("invalid payload for packet type")
    return _Header(Packet(kind, namespace, data, ack_id), attachments)


def _too_deep(data: Any) -> bool:
    """Whether decoded JSON nests deeper than MAX_DEPTH; a flat list (most events) is
    settled without the full walk."""
    if isinstance(data, list):
        for item in data:
            if isinstance(item, (list, dict)):
                return _depth_exceeds(data, MAX_DEPTH)
        return False
    return isinstance(data, dict) and _depth_exceeds(data, MAX_DEPTH)


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Iteratively, so that a hostile document cannot exhaust the stack."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, dict)):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


def _valid_payload(kind: int, data: Any, ack_id: int | None) -> bool:
    if kind == CONNECT:
        return (data is None or isinstance(data, dict)) and ack_id is None
    if kind == DISCONNECT:
        return data is None and ack_id is None
    if kind in (EVENT, BINARY_EVENT):
        return (
            isinstance(data, list)
            and len(data) > 0
            and isinstance(data[0], str)
            and data[0] not in RESERVED_EVENTS
        )
    if kind in (ACK, BINARY_ACK):
        return isinstance(data, list) and ack_id is not None
    return False  # CONNECT_ERROR is never sent by a client


def _reconstruct(value: Any, attachments: list[bytes]) -> Any:
    if isinstance(value, list):
        return [_reconstruct(v, attachments) for v in value]
    if isinstance(value, dict):
        if value.get("_placeholder") is True:
            num = value.get("num")
            if type(num) is not int or not 0 <= num < len(attachments):
                raise ProtocolError("bad attachment placeholder")
            return attachments[num]
        return {k: _reconstruct(v, attachments) for k, v in value.items()}
    return value


def _plain(packet: Packet) -> Packet:
    """A binary packet (attachments in place) as the EVENT or ACK it stands for."""
    if packet.type == BINARY_EVENT:
        return replace(packet, type=EVENT)
    if packet.type == BINARY_ACK:
        return replace(packet, type=ACK)
    return packet


# --- connection ------------------------------------------------------------------------


class SocketIOConnection:
    """The Socket.IO side of one Engine.IO session: reassembles binary packets, tracks
    which namespaces are connected, and gives up on a client that never connects one."""

    def __init__(self, now: float, connect_timeout: float | None, max_attachment_bytes: int = 1_000_000):
        self.max_attachment_bytes = max_attachment_bytes  # one packet's binary, all together
        self.namespaces: dict[str, str] = {}  # namespace -> socket id
        self._ever_connected = False
        self._connect_deadline = now + connect_timeout if connect_timeout is not None else None
        self._pending: _Header | None = None
        self._attachments: list[bytes] = []
        self._attachment_bytes = 0

    def receive(self, message: str | bytes) -> Packet | None:
        """One Engine.IO message in; a complete packet out, or None while a binary
        packet still waits for attachments. Raises ProtocolError on anything malformed."""
        if isinstance(message, bytes):
            return self._receive_attachment(message)
        if self._pending is not None:
            raise ProtocolError("text packet while binary attachments were expected")
        header = _decode_text(message)
        if header.attachments:
            self._pending = header
            self._attachments = []
            self._attachment_bytes = 0
            return None
        return self._check_state(_plain(header.packet))

    def _receive_attachment(self, data: bytes) -> Packet | None:
        if self._pending is None:
            raise ProtocolError("unexpected binary message")
        self._attachments.append(data)
        self._attachment_bytes += len(data)
        if self._attachment_bytes > self.max_attachment_bytes:
            raise ProtocolError("binary attachments larger than allowed")
        if len(self._attachments) < self._pending.attachments:
            return None
        header, attachments = self._pending, self._attachments
        self._pending, self._attachments = None, []
        packet = replace(header.packet, data=_reconstruct(header.packet.data, attachments))
        return self._check_state(_plain(packet))

    def _check_state(self, packet: Packet) -> Packet:
        if packet.type != CONNECT and packet.namespace not in self.namespaces:
            raise ProtocolError(f"packet for namespace {packet.namespace!r} before CONNECT")
        return packet

    # --- namespace bookkeeping, as decided by the server --------------------------------

    def accept(self, namespace: str, socket_id: str, pid: str | None = None) -> list:
        """The CONNECT answer; `pid` is the private id that recovers the socket later."""
        self.namespaces[namespace] = socket_id
        self._ever_connected = True
        self._connect_deadline = None
        return encode(Packet(CONNECT, namespace, {"sid": socket_id} if pid is None else {"sid": socket_id, "pid": pid}))

    def refuse(self, namespace: str, message: str, data: Any = None) -> list:
        body = {"message": message} if data is None else {"message": message, "data": data}
        return encode(Packet(CONNECT_ERROR, namespace, body))

    def disconnect(self, namespace: str) -> list:
        """The server leaves a namespace: the DISCONNECT packet to send."""
        self.namespaces.pop(namespace, None)
        return encode(Packet(DISCONNECT, namespace))

    def forget(self, namespace: str) -> None:
        """The client left a namespace."""
        self.namespaces.pop(namespace, None)

    # --- timer -------------------------------------------------------------------------

    @property
    def deadline(self) -> float | None:
        return self._connect_deadline

    def connect_timed_out(self, now: float) -> bool:
        return self._connect_deadline is not None and now >= self._connect_deadline and not self._ever_connected
