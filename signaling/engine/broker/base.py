"""What carries room and socket deliveries to sockets owned by other processes.

A `SocketServer` with the single-process broker delivers to its own sockets directly and
keeps, per socket, what a recovering client may have missed. The cluster's broker is
sequenced: every event goes through it and comes back, in one order, to the processes
holding its recipients.
"""

from typing import NamedTuple, Protocol

from signaling.engine.protocol.engineio import EngineConfig
from signaling.engine.session import Session, SessionEndpoint


class MembersOnly(NamedTuple):
    """A delivery to one socket that happens only if it is in `room`; otherwise the
    `sender` socket, if any, is told that its `event` was not delivered (the UNDELIVERED
    command of engine/server.py). The process holding the recipient decides, so the
    sender asks nobody first."""

    room: str
    sender: str | None
    event: str


class LocalEndpoint(Protocol):
    """What a broker needs of the server of its own process (implemented by SocketServer)."""

    engine_config: EngineConfig

    def local_session(self, sid: str) -> Session | None: ...

    async def deliver_local(
        self, namespace: str, messages: list, *, room: str | None, socket_id: str | None, skip_id: str | None,
        offset: str | None = None, only: MembersOnly | None = None,
    ) -> None:
        """Encoded messages to this process's sockets: of a room, or one socket (`only`
        if it is a member); `offset` is the event's place in the broker's sequence
        (sequenced brokers)."""

    async def run_command(self, namespace: str, socket_id: str, name: str, payload: dict) -> None:
        """A command for a socket, if this process holds it."""

    async def socket_moved(self, namespace: str, socket_id: str) -> None:
        """Another process now holds the socket: this process's copy ends, silently."""

    async def adopt(self, record: dict) -> None:
        """A socket whose process died, to wait here for its client within the window."""


class Broker:
    # Appended to the ids of the sessions and sockets this process owns (engine/ids.py);
    # None when there is only one process.
    process_id: str | None = None
    # A sequenced broker puts every room and socket event in one order, delivers it back
    # to the processes it concerns, this one included (`deliver_local` with the offset),
    # and keeps what a recovering socket missed; the server then neither delivers itself
    # nor keeps outboxes.
    sequenced: bool = False

    def bind(self, endpoint: LocalEndpoint) -> None:
        self.endpoint = endpoint

    async def start(self) -> None:
        """Start background work; called once, from the running event loop."""

    async def close_forwarded(self) -> None:
        """Draining: close the WebSockets this process carries for sessions that other
        processes own (their clients reconnect, and recover)."""

    async def leave(self) -> None:
        """The process is about to exit (after a drain)."""

    def position(self) -> str | None:
        """Sequenced: the offset of the last event handed to this process's sockets."""
        return None

    async def publish_room(self, namespace: str, room: str, messages: list, skip_id: str | None) -> None:
        """Deliver to the members of `room` that other processes hold (sequenced: all)."""

    async def publish_socket(self, namespace: str, socket_id: str, messages: list, only: MembersOnly | None = None) -> None:
        """Deliver to a socket another process holds (sequenced: wherever it is)."""

    async def publish_command(self, namespace: str, socket_id: str, name: str, payload: dict) -> None:
        """Run a namespace command where another process holds the socket."""

    # --- recoverable sockets that any process can carry on (sequenced brokers) ----------

    async def save_socket(self, record: dict) -> None:
        """The socket's record as it is now (see broker/records.py)."""

    async def claim_socket(self, socket_id: str, pid: str) -> dict | None:
        """Take over a socket another process held, for its client back here with `pid`:
        its record, with `taken_at`, the offset up to which events for it may have gone
        to that process."""
        return None

    async def release_socket(self, socket_id: str) -> bool:
        """The socket ends here: False when another process has taken it over."""
        return True

    async def announce_moved(self, namespace: str, socket_id: str) -> None:
        """This process holds the socket now (see LocalEndpoint.socket_moved)."""

    def not_after(self, offset: str, upto: str) -> bool:
        """Whether the event at `offset` comes no later than `upto` in the sequence."""
        return True

    async def replay(self, socket_id: str, rooms: dict, after: str, upto: str) -> list | None:
        """What the socket missed in (after, upto], or None when it cannot all be given."""
        return None

    async def holds(self, socket_id: str) -> bool:
        """Whether another process carries the socket on."""
        return False

    async def remote_session(self, sid: str) -> SessionEndpoint | None:
        """A stand-in for a session another live process owns, or None when no other
        process can own it."""
        return None


class LocalBroker(Broker):
    """One process: every socket is local, so there is nothing to carry."""
