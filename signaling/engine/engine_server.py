"""An Engine.IO server: sessions over long-polling and WebSocket, each message handed to
a callback. `SocketServer` (server.py) builds Socket.IO on it; on its own it serves the
Engine.IO protocol, as tests/conformance/engineio_asgi.py shows."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Awaitable, Callable

from signaling.engine import ids
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
        self._on_message = on_message

    def new_id(self) -> str:
        """A session or socket id that names this process (engine/ids.py)."""
        return ids.new_id(self.process_id)

    async def start(self) -> None:
        """Called by every connection, from the running event loop."""

    def open_session(self, transport: Transport, handshake: Handshake) -> Session:
        session = Session(self, transport, handshake)
        self.sessions[session.sid] = session
        return session

    def session_for(self, sid: str) -> SessionEndpoint | None:
        return self.sessions.get(sid)

    async def message_received(self, session: Session, data: str | bytes) -> None:
        await self._on_message(session, data)

    async def session_closed(self, session: Session, reason: str) -> None:
        self.sessions.pop(session.sid, None)
