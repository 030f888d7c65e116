"""What carries room and socket deliveries to sockets owned by other processes.

A `SocketServer` delivers to its own sockets directly; its broker is told about every
room a process starts or stops hosting, and gets every delivery that may concern other
processes. The single-process broker has nobody else to tell.
"""

from collections.abc import Iterable
from typing import Protocol

from signaling.engine.protocol.engineio import EngineConfig
from signaling.engine.session import Session, SessionEndpoint


class LocalEndpoint(Protocol):
    """What a broker needs of the server of its own process (implemented by SocketServer)."""

    engine_config: EngineConfig

    def local_session(self, sid: str) -> Session | None: ...

    def hosted_rooms(self) -> Iterable[tuple[str, str]]:
        """(namespace, room) for every room with a socket of this process in it."""

    async def deliver_local(
        self, namespace: str, messages: list, *, room: str | None, socket_id: str | None, skip_id: str | None
    ) -> None:
        """Encoded messages to this process's sockets: of a room, or one socket."""

    async def run_command(self, namespace: str, socket_id: str, name: str, payload: dict) -> bool: ...


class Broker:
    # Appended to the ids of the sessions and sockets this process owns (engine/ids.py);
    # None when there is only one process.
    process_id: str | None = None

    def bind(self, endpoint: LocalEndpoint) -> None:
        self.endpoint = endpoint

    async def start(self) -> None:
        """Start background work; called once, from the running event loop."""

    async def room_created(self, namespace: str, room: str) -> None:
        """This process now has a socket in `room`."""

    async def room_emptied(self, namespace: str, room: str) -> None:
        """This process's last socket left `room`."""

    async def publish_room(self, namespace: str, room: str, messages: list, skip_id: str | None) -> None:
        """Deliver to the members of `room` that other processes own."""

    async def publish_socket(self, namespace: str, socket_id: str, messages: list) -> bool:
        """Deliver to a socket another process owns; False when none does."""
        return False

    async def publish_command(self, namespace: str, socket_id: str, name: str, payload: dict) -> bool:
        """Run a namespace command where another process owns the socket; False when
        none does."""
        return False

    async def remote_session(self, sid: str) -> SessionEndpoint | None:
        """A stand-in for a session another live process owns, or None when no other
        process can own it."""
        return None


class LocalBroker(Broker):
    """One process: every socket is local, so there is nothing to carry."""
