"""What carries room and socket deliveries to sockets owned by other processes.

A `SocketServer` delivers to its own sockets directly; its broker is told about every
room a process starts or stops hosting, and gets every delivery that may concern other
processes. The single-process broker has nobody else to tell.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from signaling.server import SocketServer


class Broker:
    id_suffix = ""  # appended to the ids of sessions and sockets this process owns

    def bind(self, server: "SocketServer") -> None:
        self.server = server

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

    def remote_session(self, sid: str):
        """A stand-in for a session another process owns (same methods as a Session), or
        None when no other process can own it."""
        return None


class LocalBroker(Broker):
    """One process: every socket is local, so there is nothing to carry."""
