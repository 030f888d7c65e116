"""ASGI routing: the Socket.IO endpoint (both transports) beside another HTTP app."""

from channels.routing import ProtocolTypeRouter, URLRouter
from django.urls import path, re_path

from signaling.consumers import PollingConsumer, WebSocketConsumer
from signaling.server import SocketServer


def socketio_application(server: SocketServer, http_app) -> ProtocolTypeRouter:
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
