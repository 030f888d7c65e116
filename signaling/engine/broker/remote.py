"""Stand-ins that let a request reach the session it belongs to on another process.

- `RemoteSession`, on the process a poll, POST or WebSocket reached: a `SessionEndpoint`
  whose calls travel to the owner.
- `RemoteWebSocket`, on the owner: stands in for the client's WebSocket, whose frames
  travel back to the process that holds it.
"""

import asyncio
from typing import Protocol

from signaling.engine import tasks
from signaling.engine.broker import messages as m
from signaling.engine.protocol.engineio import EngineConfig, PayloadTooLarge, ProtocolError, SessionClosed
from signaling.engine.session import FrameCloser, FrameWriter, Session

# Longer than a command may wait for a Redis connection (redis_pools.POOL_TIMEOUT).
POST_TIMEOUT = 30.0


class Forwarder(Protocol):
    """What the stand-ins need of the cluster broker."""

    channel: str  # this process's own channel
    engine_config: EngineConfig

    async def request(self, owner: str, message: m.Poll | m.Post, timeout: float) -> m.Reply:
        """Send to the owner with a request id and this process's channel filled in;
        its reply, or TimeoutError."""

    async def send_to(self, channel: str, message: m.Message) -> None: ...

    async def send_to_process(self, process: str, message: m.Message) -> None: ...

    def open_link(self, write: FrameWriter, close: FrameCloser) -> str: ...

    def close_link(self, link: str) -> None: ...

    def forget_remote_socket(self, link: str) -> None: ...


class RemoteSession:
    """Here, for a session another process owns (a `SessionEndpoint`)."""

    closed = False

    def __init__(self, forwarder: Forwarder, sid: str, owner: str):
        self.forwarder = forwarder
        self.sid = sid
        self.owner = owner
        self.link: str | None = None

    async def _call(self, message: m.Message, timeout: float) -> str:
        try:
            reply = await self.forwarder.request(self.owner, message, timeout)
        except asyncio.TimeoutError:
            raise SessionClosed(self.sid) from None  # the owner is gone
        if reply.status == m.REPLY_TOO_LARGE:
            raise PayloadTooLarge(self.sid)
        if reply.status == m.REPLY_BAD_REQUEST:
            raise ProtocolError(self.sid)
        if reply.status == m.REPLY_UNKNOWN:
            raise SessionClosed(self.sid)
        return reply.body

    async def poll(self) -> str:
        config = self.forwarder.engine_config
        return await self._call(m.Poll(self.sid), config.ping_interval + config.ping_timeout)

    async def receive_post(self, body: bytes) -> None:
        await self._call(m.Post(self.sid, body), POST_TIMEOUT)

    async def begin_upgrade(self, write: FrameWriter, close: FrameCloser) -> bool:
        self.link = self.forwarder.open_link(write, close)
        await self.forwarder.send_to_process(self.owner, m.WsOpen(self.sid, self.link, self.forwarder.channel))
        return True  # the owner closes this WebSocket if it refuses

    async def receive_ws_frame(self, frame, write: FrameWriter, close: FrameCloser) -> None:
        await self.forwarder.send_to_process(self.owner, m.WsFrame(self.link, frame))

    def websocket_gone(self, write: FrameWriter, code: int | None = None) -> None:
        self.forwarder.close_link(self.link)
        tasks.spawn(self.forwarder.send_to_process(self.owner, m.WsGone(self.link, code)), "forward websocket close")


class RemoteWebSocket:
    """On the owner, for a client's WebSocket that reached another process: frames the
    session writes travel back there; frames from the client are handled in order, one
    after the other, and nothing cuts one short (the end of the WebSocket waits its turn)."""

    _GONE, _STOP = object(), object()

    def __init__(self, forwarder: Forwarder, channel: str, link: str):
        self.forwarder = forwarder
        self.channel = channel
        self.link = link
        self.session: Session | None = None
        self._close_code: int | None = None
        self._inbox: asyncio.Queue = asyncio.Queue()
        self._worker = tasks.spawn(self._work(), "remote websocket")

    async def write(self, frame) -> None:
        await self.forwarder.send_to(self.channel, m.WsSend(self.link, frame))

    async def close(self) -> None:
        """The session closes this WebSocket (perhaps from inside the worker). A session
        that drains still hears the client's frames until the WebSocket is gone."""
        if self.session is None or not self.session.restarting:
            self.forwarder.forget_remote_socket(self.link)
            self._inbox.put_nowait(self._STOP)
        await self.forwarder.send_to(self.channel, m.WsClose(self.link))

    def receive(self, frame) -> None:
        self._inbox.put_nowait(frame)

    def gone(self, code: int | None) -> None:
        self._close_code = code
        self._inbox.put_nowait(self._GONE)

    async def _work(self) -> None:
        while True:
            item = await self._inbox.get()
            if item is self._STOP:
                return
            if item is self._GONE:
                if self.session is not None:
                    self.session.websocket_gone(self.write, self._close_code)
                return
            await self.session.receive_ws_frame(item, self.write, self.close)
