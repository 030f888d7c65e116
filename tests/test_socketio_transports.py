"""Engine.IO / Socket.IO transports and protocol against real daphne processes, with the
official socket.io-client (Node) and python-socketio's AsyncClient.

Most tests use the server configured like the protocol test-suite reference
(tests/conformance/asgi.py: pingInterval 300 ms, pingTimeout 200 ms, emits `auth`,
echoes `message` as `message-back`, acks `message-with-ack`, namespace /custom); the
origin checks and one garbage test use the real application.
"""

import json
import time

import pytest
import requests
import socketio
import websocket

from tests.clients.node_client import ConnectError
from tests.meeting_helpers import PyClient, join, running_server, unique
from tests.servers import DaphneServer

CONFORMANCE_APP = "tests.conformance.asgi:application"
PING_CYCLE = 0.3 + 0.2  # the conformance server's pingInterval + pingTimeout, seconds
ALLOWED_ORIGIN = "http://allowed.example"

NESTED_BINARY = {"blob": b"\x00\xff\x10", "list": [b"a", {"deep": b"\x01\x02\x03"}], "text": "not binary", "n": 7}


@pytest.fixture(scope="module")
def conformance():
    with running_server(CONFORMANCE_APP) as server:
        yield server


@pytest.fixture(scope="module")
def app_server():
    """The real application, with one allowed frontend origin and guest rooms."""
    with running_server(FRONTEND_URL=ALLOWED_ORIGIN, SIGNALING_ALLOW_UNKNOWN_ROOMS="true") as server:
        yield server


@pytest.fixture
def py():
    clients = []

    def make(name="py", **options) -> PyClient:
        client = PyClient(name, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def ws_url(server, query="EIO=4&transport=websocket") -> str:
    return server.url.replace("http://", "ws://") + "/socket.io/?" + query


def polling_url(server, query="EIO=4&transport=polling") -> str:
    return server.url + "/socket.io/?" + query


def open_raw_websocket(server, **options) -> websocket.WebSocket:
    """A raw Engine.IO WebSocket connected to the main namespace."""
    ws = websocket.create_connection(ws_url(server), timeout=3, **options)
    assert ws.recv().startswith("0{")
    ws.send("40")
    assert ws.recv().startswith("40{")
    return ws


def polling_handshake(server) -> str:
    response = requests.get(polling_url(server), timeout=5)
    assert response.status_code == 200
    return json.loads(response.text[1:])["sid"]


# --- transports with the official client -----------------------------------------------


def test_node_default_transports_poll_first_then_upgrade(nc, conformance):
    a = nc.connect("a", conformance.url, auth={"who": "a"})
    assert a.wait_upgrade() == "websocket"
    assert a.transport() == "websocket"
    assert a.wait_event("auth") == [{"who": "a"}]
    a.emit("message", "after the upgrade", 2)
    assert a.wait_event("message-back") == ["after the upgrade", 2]


def test_node_websocket_only(nc, conformance):
    a = nc.connect("a", conformance.url, transports=["websocket"])
    assert a.records("connect")[0]["transport"] == "websocket"
    a.emit("message", {"x": [1, 2]})
    assert a.wait_event("message-back") == [{"x": [1, 2]}]
    assert a.records("upgrade") == []


def test_node_polling_only_never_upgrades(nc, conformance):
    a = nc.connect("a", conformance.url, upgrade=False)
    a.emit("message", "over polling")
    assert a.wait_event("message-back") == ["over polling"]
    assert a.records("upgrade") == []
    assert a.transport() == "polling"


# --- transports with python-socketio -----------------------------------------------------


def test_python_default_transports_poll_first_then_upgrade(py, conformance):
    client = py().connect(conformance.url, auth={"who": "py"})
    # python-engineio starts on polling and upgrades inside connect() when offered.
    assert client.sio.eio.upgrades == ["websocket"]
    assert client.transport() == "websocket"
    assert client.wait_event("auth") == [{"who": "py"}]
    client.emit("message", "hello")
    assert client.wait_event("message-back") == ["hello"]


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_python_single_transport(py, conformance, transport):
    client = py().connect(conformance.url, transports=[transport])
    assert client.transport() == transport
    client.emit("message", "hello", {"n": 1})
    assert client.wait_event("message-back") == ["hello", {"n": 1}]


def test_heartbeats_keep_every_transport_connected_past_the_ping_timeout(nc, py, conformance):
    """Official and python clients, WebSocket and polling, all idle for several ping
    cycles at once: none is dropped, and each still gets answers on the same socket."""
    node_ws = nc.connect("ws", conformance.url, transports=["websocket"])
    node_polling = nc.connect("polling", conformance.url, upgrade=False)
    py_ws = py("py-ws").connect(conformance.url, transports=["websocket"])
    py_polling = py("py-polling").connect(conformance.url, transports=["polling"])
    ids = [c.id for c in (node_ws, node_polling, py_ws, py_polling)]
    time.sleep(4 * PING_CYCLE)
    for client in (node_ws, node_polling, py_ws, py_polling):
        assert client.records("disconnect") == [], client.name
    assert node_ws.state()["connected"] and node_polling.state()["connected"]
    assert node_polling.transport() == "polling"
    assert py_ws.connected and py_polling.connected
    assert [c.id for c in (node_ws, node_polling, py_ws, py_polling)] == ids
    for client in (node_ws, node_polling, py_ws, py_polling):
        client.emit("message", "still here", client.name)
        assert client.wait_event("message-back") == ["still here", client.name]


def test_a_client_that_never_answers_pings_is_dropped(conformance):
    """The other side of the heartbeat tests: pings really are sent and enforced."""
    ws = open_raw_websocket(conformance)
    started = time.monotonic()
    frames = []
    try:
        while True:
            frame = ws.recv()
            if frame in ("", b""):
                break
            frames.append(frame)
    except websocket.WebSocketConnectionClosedException:
        pass
    elapsed = time.monotonic() - started
    ws.close()
    assert "2" in frames, frames  # the ping
    assert PING_CYCLE * 0.8 <= elapsed <= PING_CYCLE + 1.0, elapsed


def test_a_connection_that_never_connects_a_namespace_is_closed_after_connect_timeout(conformance):
    ws = websocket.create_connection(ws_url(conformance), timeout=3)
    started = time.monotonic()
    try:
        assert ws.recv().startswith("0{")
        while True:  # answer the heartbeat, never send a Socket.IO CONNECT
            try:
                frame = ws.recv()
            except websocket.WebSocketConnectionClosedException:
                break
            if frame in ("", b""):
                break
            if frame == "2":
                ws.send("3")
    finally:
        ws.close()
    assert 0.9 <= time.monotonic() - started <= 2.5  # connectTimeout is 1000 ms


# --- acks, binary, namespaces -------------------------------------------------------------


def test_acks_from_the_server(nc, py, conformance):
    a = nc.connect("a", conformance.url, transports=["websocket"])
    assert a.emit_with_ack("message-with-ack", 1, "two", {"three": [3]}) == [1, "two", {"three": [3]}]
    client = py().connect(conformance.url, transports=["polling"])
    assert client.call("message-with-ack", "over", "polling") == ("over", "polling")


def test_server_emit_with_a_callback_gets_the_client_ack():
    with running_server("tests.meeting_helpers:callback_application") as server:
        client = PyClient("py")
        try:
            client.answer("question", lambda *args: ("answer to", *args))
            client.connect(server.url, transports=["websocket"])
            client.emit("ask", "life", {"n": 42}, b"\x00\x01")
            assert client.wait_event("question") == ["life", {"n": 42}, b"\x00\x01"]
            assert client.wait_event("answer") == ["answer to", "life", {"n": 42}, b"\x00\x01"]
        finally:
            client.close()


@pytest.mark.parametrize("options", [{"transports": ["websocket"]}, {"upgrade": False}], ids=["websocket", "polling"])
def test_node_binary_round_trip_nested(nc, conformance, options):
    a = nc.connect("a", conformance.url, **options)
    a.emit("message", b"top-level", NESTED_BINARY, [b"\xfe", "plain"])
    assert a.wait_event("message-back") == [b"top-level", NESTED_BINARY, [b"\xfe", "plain"]]
    assert a.emit_with_ack("message-with-ack", NESTED_BINARY) == [NESTED_BINARY]


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_python_binary_round_trip_nested(py, conformance, transport):
    client = py().connect(conformance.url, transports=[transport])
    client.emit("message", b"\x00top", NESTED_BINARY)
    assert client.wait_event("message-back") == [b"\x00top", NESTED_BINARY]
    assert client.call("message-with-ack", NESTED_BINARY, b"\xff") == (NESTED_BINARY, b"\xff")


def test_two_namespaces_on_one_node_connection(nc, conformance):
    # Without forceNew the client multiplexes both namespaces over one Manager.
    main = nc.connect("main", conformance.url, forceNew=False, transports=["websocket"], auth={"ns": "main"})
    custom = nc.connect(
        "custom", conformance.url, namespace="/custom", forceNew=False, transports=["websocket"], auth={"ns": "custom"}
    )
    assert main.wait_event("auth") == [{"ns": "main"}]
    assert custom.wait_event("auth") == [{"ns": "custom"}]
    assert main.id != custom.id
    # Closing the shared Engine.IO connection drops both: they rode the same one.
    main.close_engine()
    assert main.wait_disconnect() == "forced close"
    assert custom.wait_disconnect() == "forced close"


def test_two_namespaces_on_one_python_connection(py, conformance):
    client = py().connect(conformance.url, namespaces=["/", "/custom"], auth={"k": 1})
    assert client.wait_event("auth") == [{"k": 1}]
    assert client.wait_event("auth", namespace="/custom") == [{"k": 1}]
    assert client.sid("/") and client.sid("/custom") and client.sid("/") != client.sid("/custom")


def test_two_namespaces_on_one_raw_websocket(conformance):
    ws = websocket.create_connection(ws_url(conformance), timeout=3)
    try:
        assert ws.recv().startswith("0{")
        ws.send("40")
        ws.send('40/custom,{"x":1}')
        frames = [ws.recv() for _ in range(4)]
    finally:
        ws.close()
    assert any(f.startswith("40{") for f in frames), frames
    assert any(f.startswith("40/custom,{") for f in frames), frames
    assert '42["auth",{}]' in frames
    assert '42/custom,["auth",{"x":1}]' in frames


def test_unknown_namespace_is_refused(nc, py, conformance):
    with pytest.raises(ConnectError) as refused:
        nc.connect("a", conformance.url, namespace="/nope")
    assert refused.value.message == "Invalid namespace"
    client = py()
    with pytest.raises(socketio.exceptions.ConnectionError):
        client.connect(conformance.url, namespaces=["/nope"], timeout=2)
    assert client.records("connect_error")[0]["data"] == {"message": "Invalid namespace"}


# --- reconnection ------------------------------------------------------------------------------


def test_node_reconnects_with_a_new_id_after_the_connection_drops(nc, conformance):
    a = nc.connect("a", conformance.url, reconnection=True, reconnectionDelay=50, randomizationFactor=0)
    first_id = a.id
    mark = a.mark()
    a.close_engine()
    assert a.wait_disconnect(after=mark) == "forced close"
    second = a.wait_record(lambda r: r["type"] == "connect", after=mark, describe="reconnect")
    assert second["id"] != first_id
    assert a.records("reconnect", after=mark)
    a.emit("message", "back again")
    assert a.wait_event("message-back", after=mark) == ["back again"]


def test_clients_reconnect_after_the_server_process_restarts(nc, py):
    first = DaphneServer(CONFORMANCE_APP).start()
    second = None
    try:
        a = nc.connect("a", first.url, transports=["websocket"], reconnection=True, reconnectionDelay=100,
                       reconnectionDelayMax=200, randomizationFactor=0)
        b = py("b", reconnection=True, reconnection_delay=0.1, reconnection_delay_max=0.2, randomization_factor=0)
        b.connect(first.url, transports=["polling"])
        a_id, b_id = a.id, b.id
        a_mark, b_mark = a.mark(), b.mark()
        first.kill()  # the process dies: the server drops every socket
        assert a.wait_disconnect(after=a_mark) in ("transport close", "transport error")
        b.wait_disconnect(after=b_mark)
        second = DaphneServer(CONFORMANCE_APP)
        second.port, second.url = first.port, first.url
        second.start()
        assert a.wait_record(lambda r: r["type"] == "connect", after=a_mark, timeout=10, describe="reconnect")["id"] != a_id
        b.wait_record(lambda r: r["type"] == "connect", after=b_mark, timeout=10, describe="reconnect")
        assert b.id != b_id
        a.emit("message", "a")
        b.emit("message", "b")
        assert a.wait_event("message-back", after=a_mark) == ["a"]
        assert b.wait_event("message-back", after=b_mark) == ["b"]
    finally:
        first.stop()
        if second is not None:
            second.stop()


# --- raw HTTP edge cases ------------------------------------------------------------------------


def test_unsupported_protocol_version(conformance):
    response = requests.get(polling_url(conformance, "EIO=3&transport=polling"), timeout=5)
    assert response.status_code == 400
    assert response.json() == {"code": 5, "message": "Unsupported protocol version"}


def test_missing_or_bad_transport(conformance):
    missing = requests.get(polling_url(conformance, "EIO=4"), timeout=5)
    assert missing.status_code == 400
    assert missing.json() == {"code": 0, "message": "Transport unknown"}
    bad = requests.get(polling_url(conformance, "EIO=4&transport=carrier-pigeon"), timeout=5)
    assert bad.status_code == 400
    assert bad.json() == {"code": 0, "message": "Transport unknown"}
    # A known transport on the wrong kind of request is a bad request instead.
    wrong = requests.get(polling_url(conformance, "EIO=4&transport=websocket"), timeout=5)
    assert wrong.status_code == 400
    assert wrong.json() == {"code": 3, "message": "Bad request"}


def test_unknown_session_id(conformance):
    response = requests.get(polling_url(conformance, "EIO=4&transport=polling&sid=not-a-session"), timeout=5)
    assert response.status_code == 400
    assert response.json() == {"code": 1, "message": "Session ID unknown"}


def test_put_is_refused(conformance):
    assert requests.put(polling_url(conformance), timeout=5).status_code == 400
    sid = polling_handshake(conformance)
    response = requests.put(polling_url(conformance, f"EIO=4&transport=polling&sid={sid}"), data="40", timeout=5)
    assert response.status_code == 400
    assert response.json()["code"] == 2


def test_post_over_max_payload_is_413(conformance):
    sid = polling_handshake(conformance)
    response = requests.post(
        polling_url(conformance, f"EIO=4&transport=polling&sid={sid}"), data=b"4" + b"x" * 1_000_000, timeout=5
    )
    assert response.status_code == 413


def test_malformed_post_ends_the_session(conformance):
    sid = polling_handshake(conformance)
    url = polling_url(conformance, f"EIO=4&transport=polling&sid={sid}")
    assert requests.post(url, data=b"40", timeout=5).status_code == 200  # a good one first
    response = requests.post(url, data=b"\x1e\x1ezz", timeout=5)
    assert response.status_code == 400
    gone = requests.get(url, timeout=5)
    assert gone.status_code == 400
    assert gone.json()["code"] == 1


def test_websocket_message_over_max_payload_closes_the_connection(nc, conformance):
    ws = open_raw_websocket(conformance)
    try:
        ws.send('42["message","' + "x" * 1_000_000 + '"]')
        with pytest.raises((websocket.WebSocketConnectionClosedException, ConnectionError)):
            for _ in range(5):
                if ws.recv() in ("", b""):
                    raise websocket.WebSocketConnectionClosedException("closed")
    finally:
        ws.close()
    a = nc.connect("a", conformance.url, transports=["websocket"])
    a.emit("message", "x" * 900_000)  # under the limit: echoed
    assert len(a.wait_event("message-back")[0]) == 900_000


def _sends_garbage_and_is_closed(server, garbage) -> None:
    ws = open_raw_websocket(server)
    try:
        if isinstance(garbage, bytes):
            ws.send_binary(garbage)
        else:
            ws.send(garbage)
        ws.settimeout(3)
        # Anything still queued may come first (the `auth` event); then the close.
        for _ in range(5):
            try:
                frame = ws.recv()
            except websocket.WebSocketConnectionClosedException:
                return
            if frame in ("", b""):
                return
        raise AssertionError("the connection that sent garbage stayed open")
    finally:
        ws.close()


@pytest.mark.parametrize(
    "garbage",
    ["garbage", b"\xff\x00\x01", "42[not json", "42{}", "42[1]", '45-["x",{"_placeholder":true,"num":0}]', "9"],
    ids=["text", "binary", "bad-json", "not-an-array", "event-name-not-a-string", "attachment-without-binary", "type-9"],
)
def test_garbage_on_a_websocket_closes_it_and_the_server_serves_others(nc, conformance, garbage):
    _sends_garbage_and_is_closed(conformance, garbage)
    a = nc.connect("a", conformance.url, transports=["websocket"])
    a.emit("message", "fine")
    assert a.wait_event("message-back") == ["fine"]


def test_garbage_does_not_disturb_a_call_in_progress(nc, app_server):
    room = unique("garbage-room")
    a = nc.connect("a", app_server.url, transports=["websocket"])
    b = nc.connect("b", app_server.url, upgrade=False)
    join(a, room, "ann", "Ann")
    join(b, room, "bob", "Bob")
    _sends_garbage_and_is_closed(app_server, '42["join-call",')
    a.emit("chat-message", {"data": "still talking", "time": 1})
    assert b.wait_event("chat-message")[0]["data"] == "still talking"
    c = nc.connect("c", app_server.url)
    assert join(c, room, "cid", "Cid")["clients"] == [a.id, b.id, c.id]


# --- origin checks on the real application ------------------------------------------------------


def test_polling_handshake_from_a_foreign_origin_is_forbidden(app_server):
    response = requests.get(polling_url(app_server), headers={"Origin": "http://evil.example"}, timeout=5)
    assert response.status_code == 403
    assert "access-control-allow-origin" not in response.headers


def test_polling_handshake_from_the_frontend_origin_gets_cors_with_credentials(app_server):
    response = requests.get(polling_url(app_server), headers={"Origin": ALLOWED_ORIGIN}, timeout=5)
    assert response.status_code == 200
    assert response.text.startswith("0{")
    assert response.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert response.headers["access-control-allow-credentials"] == "true"


def test_websocket_handshake_from_a_foreign_origin_is_refused(app_server):
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(ws_url(app_server), timeout=3, origin="http://evil.example")
    assert refused.value.status_code == 403
    # The frontend's own origin, and a native client sending none, are let in.
    for options in ({"origin": ALLOWED_ORIGIN}, {"suppress_origin": True}):
        ws = websocket.create_connection(ws_url(app_server), timeout=3, **options)
        try:
            assert ws.recv().startswith("0{")
        finally:
            ws.close()
