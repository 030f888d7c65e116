"""ASGI routing: the Engine.IO / Socket.IO endpoint (both transports) beside another HTTP app."""

from channels.routing import ProtocolTypeRouter, URLRouter
from django.urls import path, re_path

from signaling.engine.asgi.consumers import PollingConsumer, WebSocketConsumer
from signaling.engine.engine_server import EngineServer


def engine_application(server: EngineServer, http_app) -> ProtocolTypeRouter:
    """`http_app` serves every HTTP path but the Socket.IO one."""
    endpoint = server.config.path.strip("/") + "/"
    return ProtocolTypeRouter(
        {
            "http": URLRouter(
                [
                    path(endpoint, PollingConsumer.as_asgi(server=server)),
                    re_path(r"", http_app),
                ]
            ),
            "websocket": URLRouter([path(endpoint, WebSocketConsumer.as_asgi(server=server))]),
        }
    )
