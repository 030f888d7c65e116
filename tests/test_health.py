"""/healthz and /readyz against real daphne processes, with MongoDB or Redis refusing,
hanging or going away, and a draining worker."""

import socket
import threading
import time

import pytest
import requests
from asgiref.testing import ApplicationCommunicator

from animomeet import health
from tests.servers import free_port

BOUND_MS = 500
# What /readyz may take beyond its bound: the HTTP round trip and a loaded machine.
SLACK_S = 1.5


def readyz(server) -> tuple[requests.Response, float]:
    started = time.monotonic()
    response = requests.get(server.url + "/readyz", timeout=10)
    return response, time.monotonic() - started


@pytest.fixture
def silent_port():
    """A port that accepts connections and never says a word: a hung server."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted = []
    stop = threading.Event()

    def hold():
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                pass

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    yield listener.getsockname()[1]
    stop.set()
    holder.join(2)
    for connection in accepted:
        connection.close()
    listener.close()


def test_healthz_answers_and_neither_endpoint_is_in_the_request_log(start_server):
    server = start_server()

    response = requests.get(server.url + "/healthz", timeout=5)
    head = requests.head(server.url + "/readyz", timeout=5)
    wrong = requests.post(server.url + "/healthz", timeout=5)
    requests.get(server.url + "/", timeout=5)  # a request that is logged, for comparison

    assert (response.status_code, response.json()) == (200, {"message": "ok"})
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-store"
    assert (head.status_code, head.content) == (200, b"")
    assert (wrong.status_code, wrong.headers["Allow"]) == (405, "GET, HEAD")
    deadline = time.monotonic() + 5
    while "animomeet.request GET / 200" not in server.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    request_log = [line for line in server.log().splitlines() if "animomeet.request" in line]
    assert any("GET / 200" in line for line in request_log)
    assert not any("/healthz" in line or "/readyz" in line for line in request_log)


def test_readyz_is_ready_on_the_embedded_defaults(live_server_url):
    response = requests.get(live_server_url + "/readyz", timeout=5)

    assert (response.status_code, response.json()) == (200, {"message": "Ready", "checks": {"mongodb": "ok"}})


@pytest.mark.redis
def test_readyz_follows_redis_going_away_and_coming_back(start_server, private_redis):
    server = start_server(REDIS_URL=private_redis.url, READYZ_TIMEOUT_MS=BOUND_MS)
    ready, _ = readyz(server)

    private_redis.kill()
    gone, elapsed = readyz(server)
    alive = requests.get(server.url + "/healthz", timeout=5)
    private_redis.start()
    back, _ = readyz(server)

    assert (ready.status_code, ready.json()["checks"]) == (200, {"mongodb": "ok", "redis": "ok"})
    assert gone.status_code == 503
    assert gone.json() == {"message": "Not ready: redis unreachable", "checks": {"mongodb": "ok", "redis": "unreachable"}}
    assert elapsed < BOUND_MS / 1000 + SLACK_S
    assert alive.status_code == 200
    assert back.status_code == 200
    assert "readiness: redis unreachable" in server.log() and "readiness: redis answers again" in server.log()


def test_readyz_answers_within_its_bound_when_redis_hangs(start_server, silent_port):
    server = start_server(REDIS_URL=f"redis://127.0.0.1:{silent_port}/0", READYZ_TIMEOUT_MS=BOUND_MS)

    response, elapsed = readyz(server)

    assert response.status_code == 503
    assert response.json()["checks"] == {"mongodb": "ok", "redis": "timeout"}
    assert elapsed < BOUND_MS / 1000 + SLACK_S


@pytest.mark.parametrize("mongodb", ["refusing", "hanging"])
def test_the_server_starts_without_mongodb_and_readyz_names_it(start_server, silent_port, mongodb):
    port = free_port() if mongodb == "refusing" else silent_port
    # The URL's own server selection timeout bounds the start-up's wait (default 5 s).
    server = start_server(MONGODB_URL=f"mongodb://127.0.0.1:{port}/animomeet?serverSelectionTimeoutMS=300", READYZ_TIMEOUT_MS=BOUND_MS)

    alive = requests.get(server.url + "/healthz", timeout=5)
    response, elapsed = readyz(server)

    assert alive.status_code == 200
    assert response.status_code == 503
    assert response.json() == {"message": "Not ready: mongodb timeout", "checks": {"mongodb": "timeout"}}
    assert elapsed < BOUND_MS / 1000 + SLACK_S
    assert "MongoDB does not answer" in server.log()


def _get(application, path: str) -> tuple[int, bytes]:
    async def call():
        communicator = ApplicationCommunicator(
            application, {"type": "http", "method": "GET", "path": path, "headers": [], "query_string": b""}
        )
        await communicator.send_input({"type": "http.request", "body": b""})
        start = await communicator.receive_output(5)
        body = await communicator.receive_output(5)
        return start["status"], body["body"]

    from asgiref.sync import async_to_sync

    return async_to_sync(call)()


def test_a_draining_worker_is_not_ready_but_alive(monkeypatch):
    monkeypatch.setattr(health, "_draining", threading.Event())
    passed_on = []

    async def behind(scope, receive, send):
        passed_on.append(scope["path"])

    application = health.with_health_endpoints(behind)
    before = _get(application, "/readyz")
    health.start_draining()

    assert before[0] == 200
    assert _get(application, "/readyz") == (503, b'{"message":"Not ready: worker draining","checks":{"worker":"draining"}}')
    assert _get(application, "/healthz") == (200, b'{"message":"ok"}')
    assert health.is_draining()
    assert passed_on == []
