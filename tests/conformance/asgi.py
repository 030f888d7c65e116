"""The engine configured as the reference server of the Socket.IO protocol test suite
(socketio/socket.io-protocol, "Test suite"):

    daphne -b 127.0.0.1 -p 3000 tests.conformance.asgi:application
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "animomeet.settings")

import django  # noqa: E402

django.setup()

from signaling.engine.asgi.routing import engine_application  # noqa: E402
from signaling.engine import tasks  # noqa: E402
from signaling.engine.server import ServerConfig, SocketServer  # noqa: E402


AUTH_DELAY = 0.005  # seconds


def build_server() -> SocketServer:
    server = SocketServer(
        ServerConfig(ping_interval=0.3, ping_timeout=0.2, max_payload=1_000_000, connect_timeout=1.0)
    )
    main, custom = server.of("/"), server.of("/custom")

    @main.on("connect")
    @custom.on("connect")
    async def connect(socket, auth):
        # The suite attaches its listener for this frame only after the CONNECT answer's
        # promise resolves, so the two frames must not share one TCP read (the Node
        # reference writes each frame after the previous write completed). A few
        # milliseconds apart they arrive apart; a socket.io client needs no such gap.
        tasks.later(AUTH_DELAY, lambda: socket.emit("auth", auth), "conformance auth echo")

    @main.on("message")
    async def message(socket, args):
        await socket.emit("message-back", *args)

    @main.on("message-with-ack")
    async def message_with_ack(socket, args):
        return tuple(args)

    return server


async def not_found(scope, receive, send):
    await send({"type": "http.response.start", "status": 404, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"Not found"})


application = engine_application(build_server(), not_found)
