"""Channels consumers for the two Engine.IO transports at /socket.io/.

They only move bytes between the ASGI server and a `Session`: checking the request,
reading bodies and frames, writing responses and frames. Protocol rules live in
signaling/engine/protocol, messages go to the EngineServer (Socket.IO: SocketServer).
"""

import asyncio
import logging
from functools import cached_property
from urllib.parse import parse_qsl

import orjson
from autobahn.exception import Disconnected
from channels.consumer import AsyncConsumer
from channels.exceptions import StopConsumer

from signaling.engine.protocol.engineio import (
    PayloadTooLarge,
    ProtocolError,
    SessionClosed,
    Transport,
    encode_frame,
    encode_payload,
)
from signaling.engine import tasks
from signaling.engine.engine_server import Draining, EngineServer, ServerConfig, TooManySessions
from signaling.engine.session import Handshake, SessionEndpoint

log = logging.getLogger("signaling.consumers")

# Engine.IO's error codes for refused HTTP requests.
TRANSPORT_UNKNOWN = (0, "Transport unknown")
SESSION_ID_UNKNOWN = (1, "Session ID unknown")
BAD_HANDSHAKE_METHOD = (2, "Bad handshake method")
BAD_REQUEST = (3, "Bad request")
FORBIDDEN = (4, "Forbidden")
UNSUPPORTED_PROTOCOL_VERSION = (5, "Unsupported protocol version")
PAYLOAD_TOO_LARGE = (BAD_REQUEST[0], "Payload too large")
SHUTTING_DOWN = (BAD_REQUEST[0], "Server shutting down")
TOO_MANY_SESSIONS = (FORBIDDEN[0], "Too many sessions from this address")


class RequestRefused(Exception):
    def __init__(self, error: tuple[int, str], status: int = 400):
        self.error = error
        self.status = status


def read_handshake(scope: dict) -> Handshake:
    headers = {}
    for name, value in scope.get("headers", ()):
        headers[name.decode("latin-1").lower()] = value.decode("latin-1")
    query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
    client = scope.get("client") or ("", 0)
    return Handshake(query=query, headers=headers, client=client[0] or "")


def check_request(config: ServerConfig, handshake: Handshake, transport: Transport) -> None:
    """The checks both transports share; raises RequestRefused."""
    if handshake.query.get("EIO") != "4":
        raise RequestRefused(UNSUPPORTED_PROTOCOL_VERSION)
    requested = handshake.query.get("transport")
    if requested not in ("polling", "websocket"):
        raise RequestRefused(TRANSPORT_UNKNOWN)
    if requested != transport.value:  # e.g. transport=websocket on a plain GET
        raise RequestRefused(BAD_REQUEST)
    if not config.origin_allowed(handshake.headers):
        raise RequestRefused(FORBIDDEN, 403)


class LeanConsumer(AsyncConsumer):
    """An AsyncConsumer without a channel of its own: cross-process traffic goes through
    the process's broker, so each message needs only one receive and one dispatch."""

    def __init__(self, server: EngineServer):
        self.server = server

    async def __call__(self, scope, receive, send):
        self.scope = scope
        self.base_send = send
        await self.server.start()
        try:
            await self.serve(receive)
        except StopConsumer:
            pass

    async def serve(self, receive):
        while True:
            await self.dispatch(await receive())

    async def dispatch(self, message):
        await getattr(self, message["type"].replace(".", "_"))(message)

    @cached_property
    def handshake(self) -> Handshake:
        return read_handshake(self.scope)


class WebSocketConsumer(LeanConsumer):
    session: SessionEndpoint | None = None

    async def serve(self, receive):
        # The generic dispatch, minus a lookup by name for every frame of a call.
        write, close = self.write, self.close  # one bound method each, compared by the session
        while True:
            message = await receive()
            if message["type"] == "websocket.receive":
                frame = message.get("text")
                await self.session.receive_ws_frame(frame if frame is not None else message.get("bytes") or b"", write, close)
            else:
                await self.dispatch(message)

    async def websocket_connect(self, message):
        handshake = self.handshake
        sid = handshake.query.get("sid")
        try:
            check_request(self.server.config, handshake, Transport.WEBSOCKET)
            if not sid:
                self.session = self.server.open_session(Transport.WEBSOCKET, handshake)
        except (RequestRefused, TooManySessions, Draining):
            # Refused before the handshake: the client gets an HTTP 403 (a load balancer
            # may try another server: see the README's nginx configuration).
            await self.base_send({"type": "websocket.close", "code": 4400})
            raise StopConsumer from None
        await self.base_send({"type": "websocket.accept"})
        if not sid:
            self.session.attach_websocket(self.write, self.close)
            await self.write(encode_frame(self.session.engine.handshake()))
            return
        session = await self.server.session_for(sid)
        if session is None or not await session.begin_upgrade(self.write, self.close):
            # As the reference server does: the WebSocket opens, then closes at once.
            await self.close()
            raise StopConsumer
        self.session = session

    async def websocket_disconnect(self, message):
        if self.session is not None:
            self.session.websocket_gone(self.write, message.get("code"))
        raise StopConsumer

    async def write(self, frame: str | bytes) -> None:
        if isinstance(frame, str):
            await self._send({"type": "websocket.send", "text": frame})
        else:
            await self._send({"type": "websocket.send", "bytes": frame})

    async def close(self) -> None:
        await self._send({"type": "websocket.close", "code": 1000})

    async def _send(self, message: dict) -> None:
        try:
            await self.base_send(message)
        except (Disconnected, OSError):  # daphne's; what the ASGI spec asks of servers
            # The client went away and its websocket.disconnect is on its way: that ends
            # the session; this frame has nobody to go to.
            pass


class PollingConsumer(LeanConsumer):
    """HTTP long-polling: GET waits for packets, POST delivers them."""

    def __init__(self, server: EngineServer):
        super().__init__(server)
        self.body = bytearray()
        self.poll: asyncio.Task | None = None

    async def http_request(self, message):
        self.body += message.get("body", b"")
        if len(self.body) > self.server.config.max_payload:
            await self.refuse(413, PAYLOAD_TOO_LARGE)
            raise StopConsumer
        if message.get("more_body"):
            return
        # A GET may wait a long time: run it beside the receive loop, which must stay free
        # to see the client go away (http.disconnect).
        self.poll = tasks.spawn(self.handle(bytes(self.body)), "polling request")

    async def http_disconnect(self, message):
        # A waiting GET has nobody to answer any more; a POST's packets are handled to
        # the end, whoever is still listening.
        if self.poll is not None and not self.poll.done() and self.scope["method"] == "GET":
            self.poll.cancel()
        raise StopConsumer

    async def handle(self, body: bytes) -> None:
        handshake = self.handshake
        method = self.scope["method"]
        if method == "OPTIONS":
            await self.respond(204, b"", preflight=True)
            return
        try:
            check_request(self.server.config, handshake, Transport.POLLING)
            sid = handshake.query.get("sid")
            if not sid:
                if method != "GET":
                    raise RequestRefused(BAD_HANDSHAKE_METHOD)
                session = self.server.open_session(Transport.POLLING, handshake)
                await self.respond(200, encode_payload([session.engine.handshake()]).encode())
                return
            session = await self.server.session_for(sid)
            if session is None or session.closed:
                raise RequestRefused(SESSION_ID_UNKNOWN)
            if method == "GET":
                payload = await session.poll()
                await self.respond(200, payload.encode())
            elif method == "POST":
                await session.receive_post(body)
                await self.respond(200, b"ok", content_type=b"text/html")
            else:
                raise RequestRefused(BAD_HANDSHAKE_METHOD)
        except RequestRefused as refusal:
            await self.refuse(refusal.status, refusal.error)
        except TooManySessions:
            await self.refuse(429, TOO_MANY_SESSIONS)
        except Draining:
            await self.refuse(503, SHUTTING_DOWN)
        except PayloadTooLarge:
            await self.refuse(413, PAYLOAD_TOO_LARGE)
        except ProtocolError:
            await self.refuse(400, BAD_REQUEST)
        except SessionClosed:  # it closed meanwhile, or its owner knows no such session
            await self.refuse(400, SESSION_ID_UNKNOWN)

    async def refuse(self, status: int, error: tuple[int, str]) -> None:
        body = orjson.dumps({"code": error[0], "message": error[1]})
        await self.respond(status, body, content_type=b"application/json")

    async def respond(self, status: int, body: bytes, content_type: bytes = b"text/plain; charset=UTF-8", preflight: bool = False):
        headers = [(b"content-type", content_type)]
        request_headers = self.handshake.headers
        origin = request_headers.get("origin")
        if origin and self.server.config.origin_allowed(request_headers):
            headers += [
                (b"access-control-allow-origin", origin.encode("latin-1")),
                (b"access-control-allow-credentials", b"true"),
                (b"vary", b"Origin"),
            ]
            if preflight:
                requested = request_headers.get("access-control-request-headers", "content-type")
                headers += [
                    (b"access-control-allow-methods", b"GET, POST, OPTIONS"),
                    (b"access-control-allow-headers", requested.encode("latin-1")),
                    (b"access-control-max-age", b"600"),
                ]
        await self.base_send({"type": "http.response.start", "status": status, "headers": headers})
        await self.base_send({"type": "http.response.body", "body": body})
