"""The signaling server of this process, configured from Django settings: alone with
in-memory state, or one of a cluster sharing state through Redis (REDIS_URL)."""

from channels.layers import get_channel_layer
from django.conf import settings
from redis.asyncio import Redis

from signaling.cluster import ClusterBroker
from signaling.meeting.directory import Directory
from signaling.meeting.events import MeetingConfig, MeetingEvents
from signaling.meeting.redis_state import RedisRoomState
from signaling.meeting.state import MemoryRoomState
from signaling.redis_pools import waiting_pool
from signaling.server import ServerConfig, SocketServer

_meeting_events: MeetingEvents | None = None


def build_server() -> SocketServer:
    global _meeting_events
    conf = settings.SIGNALING
    config = ServerConfig(
        path=conf["PATH"],
        ping_interval=conf["PING_INTERVAL_MS"] / 1000,
        ping_timeout=conf["PING_TIMEOUT_MS"] / 1000,
        max_payload=conf["MAX_PAYLOAD_BYTES"],
        connect_timeout=conf["CONNECT_TIMEOUT_MS"] / 1000,
        allowed_origins=tuple(conf["ALLOWED_ORIGINS"]),
    )
    if settings.REDIS_URL:
        redis = Redis(connection_pool=waiting_pool(settings.REDIS_URL))
        prefix = settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"]
        # A dead process's participants must be gone before their peers' clients give up.
        broker = ClusterBroker(get_channel_layer(), redis, prefix=prefix, presence_bound=config.ping_interval + config.ping_timeout)
        state = RedisRoomState(redis, prefix)
    else:
        broker, state = None, MemoryRoomState()
    server = SocketServer(config, broker)
    _meeting_events = MeetingEvents(
        server.of("/"),
        state,
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
    if broker is not None:
        broker.on_process_lost.append(_meeting_events.process_lost)
    return server


def meeting_events() -> MeetingEvents | None:
    """The meeting handlers of this process, once its ASGI application is built."""
    return _meeting_events
