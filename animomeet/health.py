"""Health endpoints for load balancers and orchestrators, answered in front of Django.

`GET /healthz`: the process answers (always 200 while it runs).
`GET /readyz`: it can serve: MongoDB and, when REDIS_URL is set, Redis each answer a
ping within READYZ_TIMEOUT_MS, and the worker is not draining; else 503 naming what
failed.

Both are answered before Django's middleware: a load balancer calling every second
leaves no request-log line, and neither waits for Django's thread for synchronous views
(busy when, say, MongoDB hangs every query): liveness must not depend on it.
Concurrent /readyz calls share one round of checks, so a burst costs one ping each.
"""

import asyncio
import json
import logging
import threading

import redis.asyncio
import redis.exceptions
from django.conf import settings
from pymongo.errors import ConnectionFailure, ExecutionTimeout, NetworkTimeout, ServerSelectionTimeoutError

from animomeet import mongo

log = logging.getLogger("animomeet.health")

OK = "ok"
_draining = threading.Event()


def start_draining() -> None:
    """From now on /readyz answers 503, so that load balancers stop sending new work
    while this process finishes what it has."""
    _draining.set()


def is_draining() -> bool:
    return _draining.is_set()


# No answer within the bound (pymongo's server selection says so for a server it cannot
# reach); a refused or broken connection; anything else (a refused login, say).
TIMEOUTS = (TimeoutError, ServerSelectionTimeoutError, NetworkTimeout, ExecutionTimeout, redis.exceptions.TimeoutError)


def _failure_status(error: BaseException) -> str:
    if isinstance(error, TIMEOUTS):
        return "timeout"
    if isinstance(error, (ConnectionFailure, redis.exceptions.ConnectionError, OSError)):
        return "unreachable"
    return "error"


async def _ping_mongodb(timeout_s: float) -> None:
    # pymongo has no asyncio API for MongoEngine's client: a thread, which ends by
    # itself shortly after the bound (pymongo notices it within half a second).
    await asyncio.to_thread(mongo.ping, timeout_s)


async def _ping_redis(timeout_s: float) -> None:
    client = redis.asyncio.Redis.from_url(
        settings.REDIS_URL, socket_connect_timeout=timeout_s, socket_timeout=timeout_s
    )
    try:
        await client.ping()
    finally:
        await client.aclose()


# Each part's last failure, so that the log says when a part fails and when it recovers
# rather than once a second.
_failing: dict[str, str] = {}


async def _check(part: str, ping, timeout_s: float) -> str:
    try:
        await asyncio.wait_for(ping(timeout_s), timeout_s)
    except Exception as error:
        status = _failure_status(error)
        if _failing.get(part) != status:
            log.warning("readiness: %s %s (%r)", part, status, error)
        _failing[part] = status
        return status
    if _failing.pop(part, None):
        log.info("readiness: %s answers again", part)
    return OK


async def _run_checks() -> dict[str, str]:
    timeout_s = settings.READYZ_TIMEOUT_MS / 1000
    pings = {"mongodb": _ping_mongodb}
    if settings.REDIS_URL:
        pings["redis"] = _ping_redis
    statuses = await asyncio.gather(*(_check(part, ping, timeout_s) for part, ping in pings.items()))
    return dict(zip(pings, statuses))


_round: asyncio.Future | None = None


async def readiness() -> dict[str, str]:
    """Each part's status: "ok", "timeout", "unreachable", "error", or for the worker
    "draining"."""
    global _round
    if is_draining():
        return {"worker": "draining"}
    if _round is None or _round.done():
        _round = asyncio.ensure_future(_run_checks())
    return await asyncio.shield(_round)


async def _respond(send, method: str, status: int, payload: dict, headers: tuple = ()) -> None:
    body = json.dumps(payload, separators=(",", ":")).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})


async def _healthz(method: str, send) -> None:
    await _respond(send, method, 200, {"message": "ok"})


async def _readyz(method: str, send) -> None:
    checks = await readiness()
    failing = [f"{part} {status}" for part, status in checks.items() if status != OK]
    if failing:
        await _respond(send, method, 503, {"message": "Not ready: " + ", ".join(failing), "checks": checks})
    else:
        await _respond(send, method, 200, {"message": "Ready", "checks": checks})


ENDPOINTS = {"/healthz": _healthz, "/readyz": _readyz}


def with_health_endpoints(app):
    """The ASGI `app`, with /healthz and /readyz answered in front of it."""

    async def application(scope, receive, send):
        endpoint = ENDPOINTS.get(scope["path"]) if scope["type"] == "http" else None
        if endpoint is None:
            return await app(scope, receive, send)
        method = scope["method"]
        if method not in ("GET", "HEAD"):
            return await _respond(send, method, 405, {"message": f"Method {method} not allowed"}, ((b"allow", b"GET, HEAD"),))
        await endpoint(method, send)

    return application
