"""Builds the signaling server of a process from Django settings: alone with in-memory
state, or one of a cluster sharing state through Redis (REDIS_URL); and gives code outside
the calls (the REST API, the admin, commands) this process's signaling to act through."""

from dataclasses import dataclass

from channels.layers import get_channel_layer
from django.apps import apps
from django.conf import settings
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from animomeet.addresses import client_address
from animomeet.origins import origin_allowed
from signaling.engine.asgi.routing import engine_application
from signaling.engine.broker.cluster import ClusterBroker
from signaling.engine.broker.redis_pools import waiting_pool
from signaling.engine.metrics import EngineMetrics
from signaling.engine.recovery import RecoveryConfig
from signaling.engine.server import ServerConfig, SocketServer
from signaling.engine.session import Handshake
from signaling.meeting.context import MeetingConfig
from signaling.meeting.directory import Directory
from signaling.meeting.events import MeetingEvents
from signaling.meeting.metrics import MeetingMetrics
from signaling.meeting.state.memory import MemoryRoomState
from signaling.meeting.state.redis import RedisRoomState


@dataclass(frozen=True)
class Signaling:
    server: SocketServer
    meetings: MeetingEvents
    redis: Redis | None

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()

    async def drain(self, timeout: float) -> None:
        """The worker shuts down: its clients come back on another worker (with Redis)."""
        await self.server.drain(timeout)


def _frontend_origin(headers) -> bool:
    # A socket from a native client or a server names no page, and may connect.
    return origin_allowed(headers, settings.SIGNALING["ALLOWED_ORIGINS"], unknown_allowed=True)


def _understands_recovery(headers) -> bool:
    """socket.io-client (browsers, Node) implements connection state recovery; Python's
    python-socketio does not, and would take each event's offset for one more argument of
    the event. It names itself by its HTTP library (aiohttp: "Python/3.x aiohttp/..."),
    and so does the synchronous one (requests, websocket-client)."""
    agent = headers.get("user-agent", "")
    return not agent.startswith(("Python/", "python-requests/", "Python-urllib/")) and "websocket-client" not in agent


def _client_address(handshake: Handshake) -> str:
    return client_address(handshake.client, handshake.headers.get("x-forwarded-for", ""), settings.TRUSTED_PROXY_COUNT)


def build_signaling() -> Signaling:
    conf = settings.SIGNALING
    config = ServerConfig(
        path=conf["PATH"],
        ping_interval=conf["PING_INTERVAL_MS"] / 1000,
        ping_timeout=conf["PING_TIMEOUT_MS"] / 1000,
        max_payload=conf["MAX_PAYLOAD_BYTES"],
        connect_timeout=conf["CONNECT_TIMEOUT_MS"] / 1000,
        origin_allowed=_frontend_origin,
        recovery=RecoveryConfig(
            window=conf["RECOVERY_WINDOW_S"],
            max_packets=conf["RECOVERY_MAX_PACKETS"],
            max_bytes=conf["RECOVERY_MAX_BYTES"],
        ),
        recovery_capable=_understands_recovery,
        client_address=_client_address,
        max_sessions_per_address=conf["MAX_SESSIONS_PER_ADDRESS"] or None,  # 0: no limit
    )
    redis = None
    if settings.REDIS_URL:
        redis = Redis(connection_pool=waiting_pool(settings.REDIS_URL))
        prefix = settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"]
        # A dead process's participants must be gone before their peers' clients give up.
        broker = ClusterBroker(
            get_channel_layer(), redis, prefix=prefix, presence_bound=config.ping_interval + config.ping_timeout,
            recovery=config.recovery,
        )
        state = RedisRoomState(redis, prefix)
    else:
        broker, state = None, MemoryRoomState()
    server = SocketServer(config, broker)
    process_name = settings.PROCESS_NAME + (f"/{server.process_id}" if server.process_id else "")
    meetings = MeetingEvents(
        server.of("/"),
        state,
        Directory(),
        MeetingConfig(
            allow_unknown_rooms=conf["ALLOW_UNKNOWN_ROOMS"],
            waiting_room=conf["WAITING_ROOM"],
            waiting_timeout=conf["WAITING_TIMEOUT_S"],
            event_rate=conf["EVENT_RATE"],
            event_burst=conf["EVENT_BURST"],
            reply_rate=conf["REPLY_BYTES_RATE"],
            reply_burst=conf["REPLY_BYTES_BURST"],
            unknown_rooms_per_socket=conf["UNKNOWN_ROOMS_PER_MINUTE"],
            unknown_rooms_per_address=conf["UNKNOWN_ROOMS_PER_MINUTE_PER_ADDRESS"],
            reserve_account_usernames=conf["RESERVE_ACCOUNT_USERNAMES"],
            token_cookie=settings.AUTH_COOKIE_NAME,
            process_name=process_name,
        ),
    )
    if broker is not None:
        broker.on_process_lost.append(meetings.process_lost)
    return Signaling(server, meetings, redis)


def asgi_application(http_app):
    """The Socket.IO endpoint beside `http_app`; this process's signaling, from now on,
    is the one that tells live calls about meeting changes (signaling/receivers.py) and
    serves the admin (signaling/live_calls.py), and its metrics are exported."""
    signaling = build_signaling()
    apps.get_app_config("signaling").serving = signaling
    signaling.server.observer.add(EngineMetrics(signaling.server, REGISTRY))
    signaling.meetings.metrics = MeetingMetrics(signaling.server.of("/"), REGISTRY)
    return engine_application(signaling.server, http_app)


async def using_signaling(run):
    """`await run(meetings)` with this process's signaling, or, in a process that serves
    no calls (a command, a shell, the test client), with one built for the occasion: with
    Redis it reaches the calls of every process; without Redis there are no calls outside
    the serving process to reach."""
    signaling = apps.get_app_config("signaling").serving
    if signaling is not None:
        return await run(signaling.meetings)
    signaling = build_signaling()
    try:
        return await run(signaling.meetings)
    finally:
        await signaling.close()
