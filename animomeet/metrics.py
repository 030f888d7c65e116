"""Prometheus metrics of one process, and the listener that serves them.

Each worker process keeps its own metrics (prometheus_client's default registry: the
signaling server's and its calls', registered by signaling/wiring.py; HTTP requests and
Redis errors, here) and serves them at `GET /metrics` on a port of its own
(METRICS_ADDRESS:METRICS_PORT), never on the public port, each series labelled with
`process` (settings.PROCESS_NAME): Prometheus scrapes every worker, and sums across them.

The listener is prometheus_client's threaded WSGI server, beside daphne's event loop:
a scrape never waits behind the calls, and reads what it counts without awaiting.
Scrapers must come from METRICS_ALLOWED_ADDRESSES and, when METRICS_TOKEN is set, send
`Authorization: Bearer <METRICS_TOKEN>`.

    http_requests_total{method,route,status}     Django requests by route template
    http_request_duration_seconds{method,route}  their latency
    redis_errors_total{logger}                   errors from Redis the process logged
"""

import copy
import hmac
import ipaddress
import logging
import socket
import threading
import time
from wsgiref.simple_server import WSGIRequestHandler, make_server

import redis.exceptions
from django.conf import settings
from django.utils.deprecation import MiddlewareMixin
from prometheus_client import REGISTRY, Counter, Histogram, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.registry import Collector, CollectorRegistry

log = logging.getLogger("animomeet.metrics")

HTTP_REQUESTS = Counter("http_requests", "Django requests, by method, route template and status.", ["method", "route", "status"])
HTTP_DURATION = Histogram(
    "http_request_duration_seconds",
    "Django requests' latency, through every middleware, by method and route template.",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
REDIS_ERRORS = Counter("redis_errors", "Errors raised by Redis that the process logged, by logger.", ["logger"])

# Anything else a client sends as a method is counted as one label value, not its own.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _route(request) -> str:
    """The URL pattern that answered (`api/v1/meeting/check-meet/<str:code>`), so
    that meeting codes and ids never become label values."""
    match = getattr(request, "resolver_match", None)
    if match is not None:
        return match.route or "/"  # the home page's pattern is ""
    if request.path.startswith("/" + settings.STATIC_URL.lstrip("/")):
        return "static"  # answered by WhiteNoise, before any URL is resolved
    return "unmatched"


class HttpMetricsMiddleware(MiddlewareMixin):
    """Outermost: it times every other middleware too."""

    def process_request(self, request):
        request.metrics_started = time.perf_counter()

    def process_response(self, request, response):
        started = getattr(request, "metrics_started", None)
        method = request.method if request.method in METHODS else "other"
        route = _route(request)
        HTTP_REQUESTS.labels(method, route, str(response.status_code)).inc()
        if started is not None:
            HTTP_DURATION.labels(method, route).observe(time.perf_counter() - started)
        return response


def _redis_error(record: logging.LogRecord) -> bool:
    errors = [record.exc_info[1]] if record.exc_info and record.exc_info[1] is not None else []
    if isinstance(record.args, tuple):  # log.warning("... (%s)", error)
        errors += [arg for arg in record.args if isinstance(arg, BaseException)]
    for error in errors:
        while error is not None:
            if isinstance(error, redis.exceptions.RedisError):
                return True
            error = error.__cause__ or error.__context__
    return False


class RedisErrorCounter(logging.Handler):
    """Counts the log records of failures that Redis raised (the room state, the
    cluster broker, the rate limits' cache, readiness): wherever they are handled,
    each is logged once."""

    def __init__(self):
        super().__init__(logging.WARNING)

    def emit(self, record):
        if _redis_error(record):
            REDIS_ERRORS.labels(record.name).inc()


class ProcessLabelled(Collector):
    """Every series of `registry`, with `process="<name>"` added."""

    def __init__(self, registry: CollectorRegistry, process: str):
        self.registry = registry
        self.process = process

    def collect(self):
        for family in self.registry.collect():
            labelled = copy.copy(family)
            labelled.samples = [sample._replace(labels={**sample.labels, "process": self.process}) for sample in family.samples]
            yield labelled


def _allowed(address: str) -> bool:
    try:
        client = ipaddress.ip_address(address)
    except ValueError:
        return False
    if client.version == 6 and client.ipv4_mapped is not None:
        client = client.ipv4_mapped
    return any(client in network for network in settings.METRICS_ALLOWED_NETWORKS)


def _answer(start_response, status: str, text: str, headers: tuple = ()) -> list[bytes]:
    body = text.encode()
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body))), *headers])
    return [body]


def guarded(app):
    """`app` at /metrics only, for allowed addresses and, with METRICS_TOKEN, its bearer."""

    def metrics_endpoint(environ, start_response):
        if environ.get("PATH_INFO") != "/metrics":
            return _answer(start_response, "404 Not Found", "Not found: the metrics are at /metrics\n")
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return _answer(start_response, "405 Method Not Allowed", "GET or HEAD\n", (("Allow", "GET, HEAD"),))
        if not _allowed(environ.get("REMOTE_ADDR", "")):
            return _answer(start_response, "403 Forbidden", "This address may not read the metrics\n")
        token = settings.METRICS_TOKEN
        presented = environ.get("HTTP_AUTHORIZATION", "").encode()
        if token and not hmac.compare_digest(presented, f"Bearer {token}".encode()):
            return _answer(start_response, "401 Unauthorized", "A bearer token is needed\n", (("WWW-Authenticate", "Bearer"),))
        return app(environ, start_response)

    return metrics_endpoint


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):
        """No access line per scrape (every few seconds, for ever)."""


def start_exporter() -> None:
    """Serve this process's metrics on METRICS_ADDRESS:METRICS_PORT, once; nothing when
    METRICS_PORT is 0."""
    if not settings.METRICS_PORT:
        return
    logging.getLogger().addHandler(RedisErrorCounter())
    exported = CollectorRegistry(auto_describe=False)
    exported.register(ProcessLabelled(REGISTRY, settings.PROCESS_NAME))

    class Server(ThreadingWSGIServer):
        address_family = socket.AF_INET6 if ":" in settings.METRICS_ADDRESS else socket.AF_INET

    server = make_server(
        settings.METRICS_ADDRESS, settings.METRICS_PORT, guarded(make_wsgi_app(exported)), Server, handler_class=_QuietHandler
    )
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    log.info("metrics at http://%s:%d/metrics", settings.METRICS_ADDRESS, settings.METRICS_PORT)
