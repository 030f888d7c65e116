"""The signaling server of this process, configured from Django settings."""

from django.conf import settings

from signaling.meeting.directory import Directory
from signaling.meeting.events import MeetingConfig, MeetingEvents
from signaling.meeting.state import MemoryRoomState
from signaling.server import ServerConfig, SocketServer

_meeting_events: MeetingEvents | None = None


def build_server() -> SocketServer:
    global _meeting_events
    conf = settings.SIGNALING
    server = SocketServer(
        ServerConfig(
            path=conf["PATH"],
            ping_interval=conf["PING_INTERVAL_MS"] / 1000,
            ping_timeout=conf["PING_TIMEOUT_MS"] / 1000,
            max_payload=conf["MAX_PAYLOAD_BYTES"],
            connect_timeout=conf["CONNECT_TIMEOUT_MS"] / 1000,
            allowed_origins=tuple(conf["ALLOWED_ORIGINS"]),
        )
    )
    _meeting_events = MeetingEvents(
        server.of("/"),
        MemoryRoomState(),
        Directory(),
        MeetingConfig(
            allow_unknown_rooms=conf["ALLOW_UNKNOWN_ROOMS"],
            waiting_room=conf["WAITING_ROOM"],
            waiting_timeout=conf["WAITING_TIMEOUT_S"],
            event_rate=conf["EVENT_RATE"],
            event_burst=conf["EVENT_BURST"],
            token_cookie=settings.AUTH_COOKIE_NAME,
        ),
    )
    return server


def meeting_events() -> MeetingEvents | None:
    """The meeting handlers of this process, once its ASGI application is built."""
    return _meeting_events
