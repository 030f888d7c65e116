"""The Engine.IO server alone, configured as the reference server of the Engine.IO
protocol test suite (socketio/engine.io-protocol, `test-suite/`): every message is echoed.

    daphne -b 127.0.0.1 -p 3000 tests.conformance.engineio_asgi:application
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "animomeet.settings")

import django  # noqa: E402

django.setup()  # the ASGI routing uses Django's URL patterns

from signaling.engine.asgi.routing import engine_application  # noqa: E402
from signaling.engine.engine_server import EngineServer, ServerConfig  # noqa: E402


async def echo(session, data):
    await session.send_messages([data])


server = EngineServer(
    ServerConfig(path="/engine.io/", ping_interval=0.3, ping_timeout=0.2, max_payload=1_000_000, connect_timeout=None),
    on_message=echo,
)


async def not_found(scope, receive, send):
    await send({"type": "http.response.start", "status": 404, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"Not found"})


application = engine_application(server, not_found)
