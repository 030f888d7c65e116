"""The asyncio side of an Engine.IO session: timers, the waiting poll, the live WebSocket.

A `Session` wraps the sans-I/O `EngineSession` (and, for the Socket.IO server above it,
a `SocketIOConnection`) and hands every Engine.IO message to its owner (the server). Transports call in with what arrived
through the `SessionEndpoint` methods; frames leave through the attached WebSocket writer
or the next polling GET.
"""

import asyncio
import logging
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from typing import Awaitable, Callable, Protocol

from signaling.engine import tasks
from signaling.engine.observer import ServerObserver
from signaling.engine.protocol import engineio, socketio
from signaling.engine.protocol.engineio import (
    Closed,
    EngineConfig,
    EngineSession,
    MessageReceived,
    Packet,
    ProtocolError,
    SessionClosed,
    Transmit,
    Transport,
    Upgraded,
)

log = logging.getLogger("signaling.sessions")

FrameWriter = Callable[[str | bytes], Awaitable[None]]
WEBSOCKET_GOING_AWAY = 1001  # RFC 6455: a browser leaving or closing the page
# A drained polling client stops POSTing once its poll brings the close packet; what it
# POSTed before that is handled for this long.
POLL_DRAIN_GRACE = 1.0
FrameCloser = Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Handshake:
    """What the client's first request said about it, for connect handlers."""

    query: dict = field(default_factory=dict)
    headers: dict = field(default_factory=dict)  # lower-case names
    client: str = ""

    @property
    def cookies(self) -> dict:
        jar = SimpleCookie()
        try:
            jar.load(self.headers.get("cookie", ""))
        except CookieError:
            return {}
        return {name: morsel.value for name, morsel in jar.items()}


class SessionOwner(Protocol):
    """What a session needs of the server that owns it."""

    engine_config: EngineConfig
    connect_timeout: float | None  # for the Socket.IO CONNECT; None: no limit
    observer: ServerObserver

    def new_id(self) -> str: ...

    async def message_received(self, session: "Session", data: str | bytes) -> None: ...

    async def session_closed(self, session: "Session", reason: str) -> None: ...


class SessionEndpoint(Protocol):
    """What the transports call on a session: a `Session` here, or a stand-in for one
    that another process owns (broker/remote.py). Refusals are raised as ProtocolError,
    PayloadTooLarge or SessionClosed."""

    sid: str

    @property
    def closed(self) -> bool: ...

    async def poll(self) -> str: ...

    async def receive_post(self, body: bytes) -> None: ...

    async def begin_upgrade(self, write: FrameWriter, close: FrameCloser) -> bool: ...

    async def receive_ws_frame(self, frame: str | bytes, write: FrameWriter, close: FrameCloser) -> None: ...

    def websocket_gone(self, write: FrameWriter, code: int | None = None) -> None: ...


class Session:
    def __init__(self, owner: SessionOwner, transport: Transport, handshake: Handshake):
        loop = asyncio.get_running_loop()
        now = loop.time()
        self.owner = owner
        self.sid = owner.new_id()
        self.handshake = handshake
        self.engine = EngineSession(self.sid, owner.engine_config, transport, now)
        self.sio = socketio.SocketIOConnection(now, owner.connect_timeout, owner.engine_config.max_payload)
        self.sockets: dict = {}  # namespace -> Socket
        self.connecting: set = set()  # namespaces whose connect handler is running
        self._loop = loop
        self._ws: FrameWriter | None = None
        self._ws_close: FrameCloser | None = None
        self._backlog: list | None = None  # frames to write once the upgrade's flush is done
        self._poll_ready = asyncio.Event()
        self._timer: asyncio.TimerHandle | None = None
        self._closing = False
        self._restarting = False  # drained: nothing more goes out; what comes in is handled
        self._schedule_timer()

    # --- transports attach ------------------------------------------------------------

    def attach_websocket(self, write: FrameWriter, close: FrameCloser) -> None:
        self._ws, self._ws_close = write, close

    def carried_by(self, write: FrameWriter) -> bool:
        """Whether the WebSocket behind `write` is the session's transport now."""
        return self._ws is not None and self._ws == write  # bound methods: == not `is`

    @property
    def closed(self) -> bool:
        return self.engine.closed

    @property
    def restarting(self) -> bool:
        """Drained (see `drain`): closing, and still handling what the client sent."""
        return self._restarting

    # --- outgoing ----------------------------------------------------------------------

    async def send_messages(self, messages: list) -> None:
        """Engine.IO message payloads (from the Socket.IO encoder) to the client."""
        engine = self.engine
        if engine.closed or self._restarting:
            return
        write = self._ws
        if write is not None and engine.transport is Transport.WEBSOCKET:
            if self._backlog is not None:  # the upgrade is still writing older frames
                for message in messages:
                    self._backlog.extend(engine.send_message(message))
                return
            for message in messages:
                for frame in engine.send_message(message):
                    await write(frame)
        else:
            for message in messages:
                engine.send_message(message)
            self._poll_ready.set()
            if engine.closed:  # it gave up on a client that stopped polling
                tasks.spawn(self._finish(engine.close_reason), "session close")

    # --- polling -----------------------------------------------------------------------

    async def poll(self) -> str:
        """Answer a GET: wait until there is something to send, then return the payload.
        Raises ProtocolError (bad request) or SessionClosed (unknown session)."""
        try:
            self.engine.start_poll()
        except ProtocolError:
            await self._finish_if_closed()
            raise
        try:
            while not self.engine.has_poll_data:
                self._poll_ready.clear()
                await self._poll_ready.wait()
        except asyncio.CancelledError:
            self.engine.end_poll()
            raise
        return self.engine.take_poll_payload()

    async def receive_post(self, body: bytes) -> None:
        try:
            events = self.engine.receive_payload(body, self._loop.time())
        except ProtocolError:
            await self._finish_if_closed()
            raise
        await self._handle_events(events)

    # --- WebSocket ---------------------------------------------------------------------

    async def begin_upgrade(self, write: FrameWriter, close: FrameCloser) -> bool:
        """A WebSocket arrived with this polling session's sid: False refuses it."""
        try:
            self.engine.start_upgrade()
        except ProtocolError:
            return False
        return True

    async def receive_ws_frame(self, frame: str | bytes, write: FrameWriter, close: FrameCloser) -> None:
        """A frame from the WebSocket behind `write`: the session's transport, or one that
        is probing to take over from polling (closed again when the probe fails)."""
        if self.carried_by(write):
            try:
                events = self.engine.receive_frame(frame, self._loop.time())
            except (ProtocolError, SessionClosed):
                await self._finish(self.engine.close_reason or engineio.PARSE_ERROR)
                return
            await self._handle_events(events)
            return
        try:
            events = self.engine.receive_probe_frame(frame)
        except (ProtocolError, SessionClosed):
            self.engine.cancel_upgrade()
            await close()
            return
        for event in events:
            match event:
                case Upgraded(frames):
                    # What was queued for polling goes first; whatever is sent meanwhile (a
                    # write may wait, on another process) joins the end of the queue.
                    self._backlog = list(frames)
                    self.attach_websocket(write, close)
                    while self._backlog:
                        await write(self._backlog.pop(0))
                    self._backlog = None
                    self.owner.observer.session_upgraded(self)
                case Transmit(frames):
                    await self._write_all(write, frames)
        # A GET that is waiting must end (with a noop) so the client can finish upgrading.
        self._poll_ready.set()

    def websocket_gone(self, write: FrameWriter, code: int | None = None) -> None:
        """The WebSocket behind `write` closed (with close `code`, when it sent one): if it
        carried the session, the session ends."""
        if self.carried_by(write):
            self._ws = self._ws_close = None  # nothing left to write to, or to close
            if self._restarting:
                reason = engineio.SERVER_RESTART
            elif code == WEBSOCKET_GOING_AWAY:
                reason = engineio.GOING_AWAY
            else:
                reason = engineio.CLIENT_CLOSE
            tasks.spawn(self._finish(reason), "session close")
        else:
            self.engine.cancel_upgrade()

    # --- incoming events ---------------------------------------------------------------

    async def _handle_events(self, events: list) -> None:
        for event in events:  # isinstance, not `match`: this loop carries every message
            if isinstance(event, MessageReceived):
                await self.owner.message_received(self, event.data)
                if self.engine.closed:
                    return
            elif isinstance(event, Closed):
                await self._finish(event.reason)
                return

    # --- timers ------------------------------------------------------------------------

    def _schedule_timer(self) -> None:
        deadlines = [d for d in (self.engine.deadline, self.sio.deadline) if d is not None]
        if deadlines:
            self._timer = self._loop.call_at(min(deadlines), self._on_timer)

    def _on_timer(self) -> None:
        now = self._loop.time()
        if self.sio.connect_timed_out(now):
            log.info("session %s: no Socket.IO CONNECT in time; closing", self.sid)
            self.close()
            return
        events = self.engine.on_timer(now)
        if self.engine.closed:
            tasks.spawn(self._finish(self.engine.close_reason), "session close")
            return
        for event in events:
            if isinstance(event, Transmit) and self._ws is not None:
                tasks.spawn(self._write_all(self._ws, event.frames), "heartbeat")
        if self.engine.has_poll_data:
            self._poll_ready.set()
        self._schedule_timer()

    @staticmethod
    async def _write_all(write: FrameWriter, frames: list) -> None:
        for frame in frames:
            await write(frame)

    # --- close -------------------------------------------------------------------------

    async def fail(self, reason: str) -> None:
        """End the session at once for a protocol violation (the client is not told)."""
        self.engine.close(reason)
        await self._finish(reason)

    def drain(self) -> None:
        """Close for a restart (SERVER_RESTART) without losing what the client sent before
        it learnt of it: a WebSocket is asked to close and its frames are handled until
        the client's close answers; a polling session's close packet goes out with the
        next poll, and POSTs are handled for POLL_DRAIN_GRACE seconds more."""
        if self.engine.closed or self._restarting:
            return
        self._restarting = True
        if self._ws_close is not None and self.engine.transport is Transport.WEBSOCKET:
            tasks.spawn(self._ws_close(), "drain close")
            return
        self.engine.send(Packet(engineio.CLOSE))
        self._poll_ready.set()
        tasks.later(POLL_DRAIN_GRACE, lambda: self._finish(engineio.SERVER_RESTART), "drained poll end")

    def close(self, reason: str = engineio.SERVER_CLOSE) -> None:
        """Close from the server side (the client is told), then clean up."""
        self.engine.close(reason)
        tasks.spawn(self._finish(reason), "session close")

    async def _finish_if_closed(self) -> None:
        """After a refused request: a request that broke the session's rules (overlapping
        polls, a bad payload) ended it; one that only came the wrong way did not."""
        if self.engine.closed:
            await self._finish(self.engine.close_reason)

    async def _finish(self, reason: str | None) -> None:
        """Runs once, however the session ended: tell the server, free the transports."""
        if self._closing:
            return
        self._closing = True
        self.engine.close(reason or engineio.SERVER_CLOSE)
        if self._timer is not None:
            self._timer.cancel()
        self._poll_ready.set()
        ws_close, self._ws, self._ws_close = self._ws_close, None, None
        if ws_close is not None:
            await ws_close()
        await self.owner.session_closed(self, reason or engineio.SERVER_CLOSE)
