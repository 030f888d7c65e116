"""GET /metrics of a real daphne process, parsed with prometheus_client's own parser, its
values checked after known traffic: REST requests, sockets on both transports in two
calls, relayed and refused events, a recovered blip, Redis unreachable."""

import time
import uuid

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.clients.node_client import NodeClients
from tests.meeting_helpers import join
from tests.servers import free_port
from tests.tcp_proxy import CuttableProxy

PROCESS = "metrics-test-worker"
RECONNECTING = {"reconnection": True, "reconnectionDelay": 100, "reconnectionDelayMax": 200}
NOT_IN_CALL = "that participant is not in your call"


def scrape(url: str, **headers) -> dict:
    """{(sample name, frozenset of labels but `process`): value}; every sample must carry
    the process label."""
    response = requests.get(url, headers=headers, timeout=5)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            labels = dict(sample.labels)
            assert labels.pop("process", None) == PROCESS, sample
            samples[(sample.name, frozenset(labels.items()))] = sample.value
    return samples


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def metrics_server(start_server):
    port = free_port()
    server = start_server(
        METRICS_PORT=port,
        PROCESS_NAME=PROCESS,
        SIGNALING_ALLOW_UNKNOWN_ROOMS="true",
        SIGNALING_RECOVERY_WINDOW_S=5,
        SIGNALING_PING_INTERVAL_MS=1000,
        SIGNALING_PING_TIMEOUT_MS=1000,
    )
    server.metrics_url = f"http://127.0.0.1:{port}/metrics"
    return server


@pytest.fixture
def nc():
    with NodeClients() as clients:
        yield clients


def test_the_metrics_count_known_traffic(metrics_server, nc):
    server = metrics_server
    proxy = CuttableProxy(server.port)
    try:
        # REST: two lookups of a meeting that does not exist, one home page.
        for _ in range(2):
            assert requests.get(f"{server.url}/api/v1/meeting/check-meet/nope-nope-nop", timeout=5).status_code == 404
        assert requests.get(server.url + "/", timeout=5).status_code == 200

        room, other_room = f"m-{uuid.uuid4().hex[:8]}", f"n-{uuid.uuid4().hex[:8]}"
        a = nc.connect("a", proxy.url, transports=["websocket"], **RECONNECTING)
        b = nc.connect("b", server.url, transports=["websocket"])
        c = nc.connect("c", server.url, upgrade=False)  # long-polling only
        join(a, room, "ann", "Ann")
        join(b, room, "bob", "Bob")
        join(c, other_room, "cid", "Cid")
        b.emit("signal", "nobody-at-all", "offer")
        b.wait_event("call-error")

        before = scrape(server.metrics_url)
        mark = a.mark()
        b.emit("signal", a.id, "offer")
        a.wait_event("signal", after=mark)
        after_signal = scrape(server.metrics_url)
        b.emit("chat-message", {"data": "hello", "time": 1})
        a.wait_event("chat-message", after=mark)
        b.wait_event("chat-message")
        after_chat = scrape(server.metrics_url)

        # A blip: A's connection is cut and it comes back within the window.
        proxy.cut()
        a.wait_disconnect(after=mark)
        record = a.wait_record(lambda r: r["type"] == "connect", after=mark, timeout=10, describe="reconnect")
        assert record["recovered"] is True
        deadline = time.monotonic() + 5
        while value(recovered := scrape(server.metrics_url), "signaling_recoveries_total", result="recovered") < 1:
            assert time.monotonic() < deadline, "no recovery counted"
            time.sleep(0.1)
    finally:
        proxy.close()

    # What the process holds.
    assert value(before, "signaling_engineio_sessions", transport="websocket") == 2
    assert value(before, "signaling_engineio_sessions", transport="polling") == 1
    assert value(before, "signaling_sockets", state="connected") == 3
    assert value(before, "signaling_sockets", state="away") == 0
    assert value(before, "signaling_calls") == 2
    assert value(before, "signaling_participants") == 3
    assert value(before, "signaling_waiting") == 0
    # What it received, refused and wrote out.
    assert value(before, "signaling_events_received_total", event="join-call") == 3
    assert value(before, "signaling_events_received_total", event="signal") == 1
    assert value(before, "signaling_refusals_total", event="signal", reason=NOT_IN_CALL) == 1
    assert value(after_signal, "signaling_events_received_total", event="signal") == 2
    assert value(after_signal, "signaling_relay_latency_seconds_count", event="signal") == 2
    assert value(after_signal, "signaling_relay_latency_seconds_bucket", event="signal", le="+Inf") == 2
    assert 0 < value(after_signal, "signaling_relay_latency_seconds_sum", event="signal") < 1
    assert value(after_signal, "signaling_deliveries_total") - value(before, "signaling_deliveries_total") == 1  # to A
    assert value(after_chat, "signaling_deliveries_total") - value(after_signal, "signaling_deliveries_total") == 2  # A, B
    assert value(after_chat, "signaling_events_received_total", event="chat-message") == 1
    assert value(recovered, "signaling_recoveries_total", result="recovered") == 1
    assert value(recovered, "signaling_recoveries_total", result="refused") == 0
    # HTTP by route template, never by code.
    check_meet = "api/v1/meeting/check-meet/<str:code>"
    assert value(before, "http_requests_total", method="GET", route=check_meet, status="404") == 2
    assert value(before, "http_requests_total", method="GET", route="/", status="200") >= 1  # the test's own and start-up's
    assert value(before, "http_request_duration_seconds_count", method="GET", route=check_meet) == 2
    assert not any("nope-nope-nop" in str(labels) for _, labels in before)
    assert value(before, "redis_errors_total", logger="signaling.meeting") == 0


def test_the_metrics_are_not_on_the_public_port_and_need_the_token(start_server):
    port = free_port()
    server = start_server(METRICS_PORT=port, PROCESS_NAME=PROCESS, METRICS_TOKEN="scrape-secret-1")
    url = f"http://127.0.0.1:{port}/metrics"

    assert requests.get(server.url + "/metrics", timeout=5).status_code == 404
    missing = requests.get(url, timeout=5)
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert requests.get(url, headers={"Authorization": "Bearer wrong"}, timeout=5).status_code == 401
    assert requests.get(url.replace("/metrics", "/other"), timeout=5).status_code == 404
    assert value(scrape(url, Authorization="Bearer scrape-secret-1"), "signaling_sockets", state="connected") == 0


def test_an_address_not_allowed_is_refused(start_server):
    port = free_port()
    start_server(METRICS_PORT=port, PROCESS_NAME=PROCESS, METRICS_ALLOWED_ADDRESSES="10.9.9.0/24")
    assert requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).status_code == 403


@pytest.mark.redis
def test_redis_errors_are_counted(start_server, nc):
    port = free_port()
    server = start_server(
        METRICS_PORT=port, PROCESS_NAME=PROCESS, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0", SIGNALING_ALLOW_UNKNOWN_ROOMS="true"
    )
    client = nc.connect("lonely", server.url, transports=["websocket"])
    client.emit("join-call", {"roomID": "nowhere", "username": "x", "name": "X"})
    assert "try again" in client.wait_event("call-error", timeout=15)[0]["message"]

    samples = scrape(f"http://127.0.0.1:{port}/metrics")
    assert value(samples, "redis_errors_total", logger="signaling.meeting") >= 1
    reason = "the server could not do that now; try again"
    assert value(samples, "signaling_refusals_total", event="join-call", reason=reason) == 1
