"""Engine.IO v4: packets, the long-polling payload, and the session state machine.

Sans-I/O in the style of h11: nothing here reads a socket, sleeps or looks at a clock.
The caller feeds in what arrived (`receive_*`), the current time (`on_timer`), and writes
out what the methods return. See https://github.com/socketio/engine.io-protocol.
"""

import base64
import enum
from dataclasses import dataclass, field

import orjson

# Packet types, as the single digit that starts a text packet.
OPEN, CLOSE, PING, PONG, MESSAGE, UPGRADE, NOOP = "0123456"
PACKET_TYPES = frozenset(OPEN + CLOSE + PING + PONG + MESSAGE + UPGRADE + NOOP)
RECORD_SEPARATOR = "\x1e"
PROBE = "probe"


class ProtocolError(Exception):
    """The peer sent something the protocol does not allow; its connection must close."""


class PayloadTooLarge(ProtocolError):
    """A polling body or WebSocket message over `maxPayload`."""


class SessionClosed(Exception):
    """An operation on a session that has already closed."""


@dataclass(slots=True)  # not frozen: one is made per frame, and frozen ones cost more
class Packet:
    type: str
    data: str | bytes = ""


# --- codec -----------------------------------------------------------------------------


def encode_frame(packet: Packet) -> str | bytes:
    """A packet as one WebSocket frame: text `<type><data>`, or raw bytes for binary."""
    if isinstance(packet.data, bytes):
        return packet.data
    return packet.type + packet.data


def decode_frame(frame: str | bytes) -> Packet:
    if isinstance(frame, bytes):
        return Packet(MESSAGE, frame)
    if not frame or frame[0] not in PACKET_TYPES:
        raise ProtocolError("unknown packet type")
    return Packet(frame[0], frame[1:])


def encode_payload(packets: list[Packet]) -> str:
    """Packets for one long-polling response, binary ones as `b<base64>`."""
    return RECORD_SEPARATOR.join(
        "b" + base64.b64encode(p.data).decode("ascii") if isinstance(p.data, bytes) else p.type + p.data
        for p in packets
    )


def decode_payload(payload: str) -> list[Packet]:
    packets = []
    for part in payload.split(RECORD_SEPARATOR):
        if part.startswith("b"):
            try:
                packets.append(Packet(MESSAGE, base64.b64decode(part[1:], validate=True)))
            except ValueError:  # binascii.Error, or non-ASCII characters
                raise ProtocolError("invalid base64 in payload") from None
        else:
            packets.append(decode_frame(part))
    return packets


def exceeds_bytes(frame: str | bytes, limit: int) -> bool:
    """Whether data is over `limit` bytes, without encoding the common small string (a
    character is 1 to 4 bytes in UTF-8)."""
    if len(frame) > limit:
        return True
    if isinstance(frame, bytes) or len(frame) * 4 <= limit:
        return False
    return len(frame.encode("utf-8")) > limit


# --- session ---------------------------------------------------------------------------


class Transport(enum.Enum):
    POLLING = "polling"
    WEBSOCKET = "websocket"


class State(enum.Enum):
    OPEN = "open"
    UPGRADING = "upgrading"  # a WebSocket has sent the probe; polling still carries data
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class EngineConfig:
    ping_interval: float = 25.0  # seconds
    ping_timeout: float = 20.0
    max_payload: int = 1_000_000  # bytes per polling POST or WebSocket message
    max_buffer: int = 4_000_000  # bytes waiting for a GET before the session is given up
    allow_upgrades: bool = True


# Events a session hands back to its caller: every method that reports what happened
# returns a list of these, never bare frames.
@dataclass(slots=True)
class MessageReceived:
    data: str | bytes


@dataclass(frozen=True, slots=True)
class Transmit:
    """Frames to write to the WebSocket now (a heartbeat ping, the probe's answer)."""

    frames: list


@dataclass(frozen=True, slots=True)
class Upgraded:
    """The session now rides the WebSocket; `frames` were queued for polling and must be
    written to it."""

    frames: list = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Closed:
    reason: str


Event = MessageReceived | Transmit | Upgraded | Closed


# Close reasons, as Socket.IO's `disconnect` reasons name them.
CLIENT_CLOSE = "transport close"
GOING_AWAY = "client went away"  # a WebSocket the browser closed with 1001: the page is gone
PING_TIMEOUT = "ping timeout"
PARSE_ERROR = "parse error"
SERVER_CLOSE = "server namespace disconnect"
SERVER_RESTART = "server shutting down"  # the process drains: its clients come back elsewhere
TRANSPORT_ERROR = "transport error"


class EngineSession:
    """One Engine.IO session, from handshake to close, over polling and/or WebSocket.

    Outgoing packets go straight out as WebSocket frames (`send` returns them) or, while
    polling, wait in a buffer for the next GET (`take_poll_payload`).
    """

    def __init__(self, sid: str, config: EngineConfig, transport: Transport, now: float):
        self.sid = sid
        self.config = config
        self.transport = transport
        self.state = State.OPEN
        self.close_reason: str | None = None
        self._buffer: list[Packet] = []
        self._buffered_bytes = 0
        self._poll_active = False
        self._next_ping_at = now + config.ping_interval
        self._pong_deadline: float | None = None
        # A text frame this short is within max_payload however its characters encode.
        self._small_frame = config.max_payload // 4

    # --- handshake ---------------------------------------------------------------------

    def handshake(self) -> Packet:
        upgrades = ["websocket"] if self.transport is Transport.POLLING and self.config.allow_upgrades else []
        body = {
            "sid": self.sid,
            "upgrades": upgrades,
            "pingInterval": round(self.config.ping_interval * 1000),
            "pingTimeout": round(self.config.ping_timeout * 1000),
            "maxPayload": self.config.max_payload,
        }
        return Packet(OPEN, orjson.dumps(body).decode())

    # --- outgoing ----------------------------------------------------------------------

    def send(self, packet: Packet) -> list:
        """Queue or frame a packet; returns the WebSocket frames to write now (maybe none)."""
        if self.state is State.CLOSED:
            raise SessionClosed(self.sid)
        if self.transport is Transport.WEBSOCKET:
            return [encode_frame(packet)]
        self._buffer.append(packet)
        self._buffered_bytes += len(packet.data) + 1
        if self._buffered_bytes > self.config.max_buffer:
            self._close(TRANSPORT_ERROR)  # a client that does not poll any more
        return []

    def send_message(self, data: str | bytes) -> list:
        """`send` of a message packet, on the hot path: no Packet for a WebSocket frame."""
        if self.transport is Transport.WEBSOCKET and self.state is not State.CLOSED:
            return [MESSAGE + data if isinstance(data, str) else data]
        return self.send(Packet(MESSAGE, data))

    @property
    def has_poll_data(self) -> bool:
        return bool(self._buffer) or self.state is not State.OPEN

    def start_poll(self) -> None:
        """A GET arrived. Two at once is a client bug: the session closes (the first GET
        then answers the close packet, the second fails)."""
        if self.state is State.CLOSED:
            raise SessionClosed(self.sid)
        if self.transport is not Transport.POLLING:
            raise ProtocolError("polling on a session that upgraded")
        if self._poll_active:
            self._close(TRANSPORT_ERROR, notify_poll=True)
            raise ProtocolError("overlapping polls")
        self._poll_active = True

    def take_poll_payload(self) -> str:
        """The body for the active GET, which ends with it. While upgrading, an empty poll
        is answered with a noop so that the client can complete the upgrade."""
        self._poll_active = False
        packets, self._buffer, self._buffered_bytes = self._buffer, [], 0
        if not packets:
            packets = [Packet(NOOP)]
        return encode_payload(packets)

    def end_poll(self) -> None:
        """The GET went away before it was answered (client gone, server stopping)."""
        self._poll_active = False

    # --- incoming ----------------------------------------------------------------------

    def receive_payload(self, body: bytes, now: float) -> list[Event]:
        """The body of a polling POST."""
        if self.state is State.CLOSED:
            raise SessionClosed(self.sid)
        if self.transport is not Transport.POLLING:
            raise ProtocolError("POST on a session that upgraded")
        try:
            if len(body) > self.config.max_payload:
                raise PayloadTooLarge(f"{len(body)} bytes")
            try:
                payload = body.decode("utf-8")
            except UnicodeDecodeError:
                raise ProtocolError("payload is not UTF-8") from None
            packets = decode_payload(payload)
        except ProtocolError:
            self._close(PARSE_ERROR, notify_poll=True)
            raise
        events = []
        for packet in packets:
            events.extend(self._receive(packet, now))
            if self.state is State.CLOSED:
                break
        return events

    def receive_frame(self, frame: str | bytes, now: float) -> list[Event]:
        """A frame from the session's WebSocket (after the upgrade, or WebSocket-only)."""
        if self.state is State.CLOSED:
            raise SessionClosed(self.sid)
        if isinstance(frame, str) and frame[:1] == MESSAGE and len(frame) <= self._small_frame:
            return [MessageReceived(frame[1:])]  # the common case, without the general checks
        try:
            if exceeds_bytes(frame, self.config.max_payload):
                raise PayloadTooLarge("WebSocket message")
            packet = decode_frame(frame)
        except ProtocolError:
            self._close(PARSE_ERROR)
            raise
        return self._receive(packet, now)

    def _receive(self, packet: Packet, now: float) -> list[Event]:
        kind = packet.type
        if kind == MESSAGE:
            return [MessageReceived(packet.data)]
        if kind == PONG:
            if self._pong_deadline is not None:  # an unasked-for pong must not keep a session alive
                self._pong_deadline = None
                self._next_ping_at = now + self.config.ping_interval
            return []
        if kind == CLOSE:
            # The client's pending GET ends with a noop, as the reference server does.
            self._close(CLIENT_CLOSE)
            return [Closed(CLIENT_CLOSE)]
        if kind == NOOP:
            return []
        self._close(PARSE_ERROR, notify_poll=True)
        raise ProtocolError(f"unexpected packet type {kind!r} from a client")

    # --- upgrade -----------------------------------------------------------------------

    def start_upgrade(self) -> None:
        """A WebSocket arrived with this session's sid."""
        if self.state is not State.OPEN or self.transport is not Transport.POLLING or not self.config.allow_upgrades:
            raise ProtocolError("upgrade not possible")

    def receive_probe_frame(self, frame: str | bytes) -> list[Event]:
        """A frame on the WebSocket that is taking over: the probe's answer to write to
        it (`Transmit`), or `Upgraded` with the frames that were queued for polling."""
        if self.state is State.CLOSED:
            raise SessionClosed(self.sid)
        packet = decode_frame(frame)
        if packet.type == PING and packet.data == PROBE and self.state is State.OPEN:
            self.state = State.UPGRADING
            return [Transmit([encode_frame(Packet(PONG, PROBE))])]
        if packet.type == UPGRADE and self.state is State.UPGRADING:
            self.state = State.OPEN
            self.transport = Transport.WEBSOCKET
            self._poll_active = False
            packets, self._buffer, self._buffered_bytes = self._buffer, [], 0
            return [Upgraded([encode_frame(p) for p in packets])]
        raise ProtocolError("unexpected packet during upgrade")

    def cancel_upgrade(self) -> None:
        """The probing WebSocket failed or closed before the upgrade completed."""
        if self.state is State.UPGRADING:
            self.state = State.OPEN

    @property
    def upgrading(self) -> bool:
        return self.state is State.UPGRADING

    # --- timers ------------------------------------------------------------------------

    @property
    def deadline(self) -> float | None:
        """When `on_timer` must next be called, or None once closed."""
        if self.state is State.CLOSED:
            return None
        return self._pong_deadline if self._pong_deadline is not None else self._next_ping_at

    def on_timer(self, now: float) -> list[Event]:
        """Send the heartbeat ping (`Transmit` on a WebSocket; queued while polling), or
        close when its pong is late (`Closed`)."""
        if self.state is State.CLOSED:
            return []
        if self._pong_deadline is not None:
            if now >= self._pong_deadline:
                self._close(PING_TIMEOUT, notify_poll=True)
                return [Closed(PING_TIMEOUT)]
            return []
        if now >= self._next_ping_at:
            self._pong_deadline = now + self.config.ping_timeout
            frames = self.send(Packet(PING))
            return [Transmit(frames)] if frames else []
        return []

    # --- close -------------------------------------------------------------------------

    def close(self, reason: str = SERVER_CLOSE) -> None:
        """Close from the server side; a waiting GET gets what was queued, then the close
        packet."""
        if self.state is not State.CLOSED:
            self._close(reason, notify_poll=True)

    def _close(self, reason: str, notify_poll: bool = False) -> None:
        self.state = State.CLOSED
        self.close_reason = reason
        if notify_poll and self.transport is Transport.POLLING:
            self._buffer.append(Packet(CLOSE))
        else:
            self._buffer = []

    @property
    def closed(self) -> bool:
        return self.state is State.CLOSED
