"""Connection state recovery, as Socket.IO >= 4.6 defines it on the wire.

The server answers CONNECT with a private id (`pid`) beside the socket id, and appends
an offset to every event it sends as the event's last argument. A client whose transport
was lost comes back with `{pid, offset}` in its CONNECT: within the recovery window it
gets the same socket (id, rooms, handler data) and every event after that offset, in
order, exactly once. socket.io-client >= 4.6 does its part by itself.

Pure bookkeeping here (no I/O, no clock): what a socket was sent, kept so that whatever a
lost transport swallowed can be sent again.
"""

from collections import deque
from dataclasses import dataclass

from signaling.engine.protocol import engineio


@dataclass(frozen=True)
class RecoveryConfig:
    window: float = 0.0  # seconds a socket waits for its client to come back; 0: off
    max_packets: int = 1000  # events kept per socket for a replay
    max_bytes: int = 1_000_000  # and their size

    @property
    def enabled(self) -> bool:
        return self.window > 0


# Losing the transport, missing the heartbeat, or a process that drains to restart leaves
# the socket waiting for its client; an explicit disconnect from either side, a protocol
# violation, or a page the browser closed (WebSocket close code 1001) ends it at once.
RECOVERABLE_REASONS = frozenset(
    {engineio.CLIENT_CLOSE, engineio.PING_TIMEOUT, engineio.TRANSPORT_ERROR, engineio.SERVER_RESTART}
)


class Outbox:
    """The newest events sent to one socket, with their offsets, within bounds. Dropping
    the oldest is fine while the client reads them; a replay that would need a dropped
    one is refused (`since` answers None), never made with a gap.

    One flat deque of (offset, messages, size) runs rather than a tuple per event, and an
    event that is one text message kept as that string: the garbage collector has nothing
    to scan in the outboxes of a busy call (strings and ints are not tracked), and a
    socket holds one deque, not three."""

    __slots__ = ("_max_packets", "_max_bytes", "_entries", "_count", "_bytes", "_dropped_upto")

    def __init__(self, config: RecoveryConfig):
        self._max_packets = config.max_packets
        self._max_bytes = config.max_bytes
        self._entries: deque = deque()  # offset, messages, size, offset, messages, size...
        self._count = 0
        self._bytes = 0
        self._dropped_upto = 0  # the newest offset no longer kept

    def add(self, offset: int, messages: list) -> None:
        if len(messages) == 1:
            kept = messages[0]
            size = len(kept)
        else:
            kept = messages
            size = sum(map(len, messages))
        entries = self._entries
        entries.append(offset)
        entries.append(kept)
        entries.append(size)
        self._count += 1
        self._bytes += size
        while self._count > self._max_packets or self._bytes > self._max_bytes:
            self._dropped_upto = entries.popleft()
            entries.popleft()
            self._bytes -= entries.popleft()
            self._count -= 1

    def since(self, offset: int | None) -> list | None:
        """The messages of every event after `offset` (None: the client has received no
        event yet), or None when some of them are no longer kept."""
        after = offset or 0
        if after < self._dropped_upto:
            return None
        missed = []
        entries = iter(self._entries)
        for entry_offset, messages, _ in zip(entries, entries, entries):
            if entry_offset > after:
                if isinstance(messages, list):
                    missed.extend(messages)
                else:
                    missed.append(messages)
        return missed


class UnknownOffset(ValueError):
    """The client names an offset this server never appended."""


def parse_offset(raw) -> int | None:
    """The offset a client sends back: None when it has received no event yet; raises
    UnknownOffset for anything that is not one of ours (socket.io-client takes the last
    string argument of any event as the offset, so an event without one would mislead it)."""
    if raw is None:
        return None
    if isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) <= 18:
        return int(raw)
    raise UnknownOffset(raw)
