"""An Engine.IO server: sessions over long-polling and WebSocket, each message handed to
a callback. `SocketServer` (server.py) builds Socket.IO on it; on its own it serves the
Engine.IO protocol, as tests/conformance/engineio_asgi.py shows."""

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Awaitable, Callable

from signaling.engine import ids
from signaling.engine.observer import Observers
from signaling.engine.protocol.engineio import EngineConfig, Transport
from signaling.engine.recovery import RecoveryConfig
from signaling.engine.session import Handshake, Session, SessionEndpoint


@dataclass(frozen=True)
class ServerConfig:
    path: str = "/socket.io/"
    ping_interval: float = 25.0  # seconds
    ping_timeout: float = 20.0
    max_payload: int = 1_000_000
    # Socket.IO: a session that connects no namespace by then is closed; None: no limit.
    connect_timeout: float | None = 45.0
    # Decides from the request headers (lower-case names) whether a browser page may
    # connect and read the answers (CORS); by default any may.
    origin_allowed: Callable[[Mapping[str, str]], bool] = lambda headers: True
    # Socket.IO connection state recovery (off by default), and which clients get it by
    # their request headers: a client that knows nothing of it would take the offset
    # appended to every event for an argument of its own.
    recovery: RecoveryConfig = RecoveryConfig()
    recovery_capable: Callable[[Mapping[str, str]], bool] = lambda headers: True
    # The client's address (the peer's, or what trusted proxies say it is), and how many
    # sessions one address may hold open on this process at once; None: no limit.
    client_address: Callable[[Handshake], str] = lambda handshake: handshake.client
    max_sessions_per_address: int | None = None


class TooManySessions(Exception):
    """The client's address holds `max_sessions_per_address` sessions already."""


class Draining(Exception):
    """The process is shutting down: new sessions go to another one."""


MessageHandler = Callable[[Session, str | bytes], Awaitable[None]]


class EngineServer:
    """Implements the sessions' `SessionOwner`; the transports (asgi/) call `start`,
    `open_session` and `session_for`."""

    def __init__(self, config: ServerConfig, on_message: MessageHandler | None = None, process_id: str | None = None):
        self.config = config
        self.engine_config = EngineConfig(
            ping_interval=config.ping_interval,
            ping_timeout=config.ping_timeout,
            max_payload=config.max_payload,
        )
        self.connect_timeout = config.connect_timeout
        self.process_id = process_id
        self.sessions: dict[str, Session] = {}
        self._sessions_per_address: dict[str, int] = {}
        self._on_message = on_message
        self.draining = False
        self.observer = Observers()  # metrics and the like add theirs (engine/observer.py)

    def new_id(self) -> str:
        """A session or socket id that names this process (engine/ids.py)."""
        return ids.new_id(self.process_id)

    async def start(self) -> None:
        """Called by every connection, from the running event loop."""

    def open_session(self, transport: Transport, handshake: Handshake) -> Session:
        """Raises TooManySessions when the client's address has its fill already, and
        Draining while the process shuts down."""
        if self.draining:
            raise Draining()
        address = self.config.client_address(handshake)
        held = self._sessions_per_address.get(address, 0)
        limit = self.config.max_sessions_per_address
        if limit is not None and held >= limit:
            raise TooManySessions(address)
        session = Session(self, transport, handshake)
        self.sessions[session.sid] = session
        self._sessions_per_address[address] = held + 1
        return session

    async def session_for(self, sid: str) -> SessionEndpoint | None:
        return self.sessions.get(sid)

    async def drain(self, timeout: float) -> None:
        """Take no new session and close every one with SERVER_RESTART (the client is
        told its transport closed, and reconnects; see Session.drain); returns once they
        have all closed, or after `timeout` seconds."""
        self.draining = True
        for session in tuple(self.sessions.values()):
            session.drain()
        deadline = asyncio.get_running_loop().time() + timeout
        while self.sessions and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)

    async def message_received(self, session: Session, data: str | bytes) -> None:
        await self._on_message(session, data)

    async def session_closed(self, session: Session, reason: str) -> None:
        if self.sessions.pop(session.sid, None) is None:
            return
        address = self.config.client_address(session.handshake)
        held = self._sessions_per_address.pop(address, 1) - 1
        if held:
            self._sessions_per_address[address] = held
