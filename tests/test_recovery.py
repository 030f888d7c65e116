"""Connection state recovery (Socket.IO >= 4.6) with the official socket.io-client 4.8
against real daphne processes: a moment without network drops nobody from a call."""

import time
import uuid

import pytest
import websocket

from tests.clients.node_client import NodeClients
from tests.meeting_helpers import PyClient, is_own_join, join, join_payload, running_server
from tests.tcp_proxy import CuttableProxy

WINDOW_S = 3
# Reconnect quickly after a blip, as the web client does (by default after about a second).
RECONNECTING = {"reconnection": True, "reconnectionDelay": 100, "reconnectionDelayMax": 200}
TRANSPORTS = {
    "websocket": {"transports": ["websocket"]},
    "polling": {"upgrade": False},
    "polling-then-websocket": {},
}


@pytest.fixture(scope="module")
def server():
    with running_server(
        SIGNALING_ALLOW_UNKNOWN_ROOMS="true",
        SIGNALING_RECOVERY_WINDOW_S=WINDOW_S,
        SIGNALING_PING_INTERVAL_MS=1000,
        SIGNALING_PING_TIMEOUT_MS=1000,
    ) as server:
        yield server


@pytest.fixture
def proxy(server):
    proxy = CuttableProxy(server.port)
    yield proxy
    proxy.close()


def room_name() -> str:
    return f"blip-{uuid.uuid4().hex[:8]}"


def connect_recovering(nc, name, url, transport="websocket"):
    client = nc.connect(name, url, **TRANSPORTS[transport], **RECONNECTING)
    if transport == "polling-then-websocket":
        client.wait_upgrade()
    return client


def rejoin(client, room) -> dict:
    mark = client.mark()
    client.emit("join-call", join_payload(room, "ann", "Ann"))
    return client.wait_event("user-joined", where=is_own_join(client), after=mark)[0]


def chat(client, text):
    client.emit("chat-message", {"data": text, "time": 1})


def chats(client, after=0) -> list[str]:
    return [args[0]["data"] for args in client.events("chat-message", after=after)]


def signals(client, after=0) -> list:
    return [args[1] for args in client.events("signal", after=after)]


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("cut", ["client closes its engine", "the network drops the connection"])
def test_a_blip_recovers_the_socket_with_everything_it_missed(nc, server, proxy, transport, cut):
    room = room_name()
    a = connect_recovering(nc, "a", proxy.url, transport)
    b = nc.connect("b", server.url, transports=["websocket"])
    join(a, room, "ann", "Ann")
    join(b, room, "bob", "Bob")
    first_id, a_mark, b_mark = a.id, a.mark(), b.mark()

    if cut == "client closes its engine":
        a.close_engine()
    else:
        proxy.cut()
    a.wait_disconnect(after=a_mark)
    for n in range(3):  # sent while A is away: to A alone, and to the whole room
        b.emit("signal", first_id, f"offer-{n}")
        chat(b, f"while away {n}")
    record = a.wait_record(lambda r: r["type"] == "connect", after=a_mark, timeout=10, describe="reconnect")

    assert record["recovered"] is True and record["id"] == first_id
    a.wait_event("chat-message", where=lambda args: args[0]["data"] == "while away 2", after=a_mark)
    assert signals(a, after=a_mark) == ["offer-0", "offer-1", "offer-2"]
    assert chats(a, after=a_mark) == ["while away 0", "while away 1", "while away 2"]
    # The web client joins again on every connect: only A hears of it.
    own = rejoin(a, room)
    assert own["clients"] == [first_id, b.id]
    a.assert_no_event("chat-message", after=a_mark, where=lambda args: not args[0]["data"].startswith("while away"))
    b.assert_no_event("user-left", after=b_mark, within=0.3)
    b.assert_no_event("user-joined", after=b_mark, within=0.1)
    # And the call goes on both ways.
    a.emit("signal", b.id, "answer")
    assert b.wait_event("signal", after=b_mark) == [first_id, "answer"]
    chat(b, "after")
    assert a.wait_event("chat-message", where=lambda args: args[0]["data"] == "after", after=a_mark)


def test_three_blips_in_a_row_each_recover(nc, server, proxy):
    room = room_name()
    a = connect_recovering(nc, "a", proxy.url)
    b = nc.connect("b", server.url, transports=["websocket"])
    join(a, room, "ann", "Ann")
    join(b, room, "bob", "Bob")
    first_id, start, b_mark = a.id, a.mark(), b.mark()
    for blip in range(3):
        mark = a.mark()
        proxy.cut()
        a.wait_disconnect(after=mark)
        chat(b, f"blip {blip}")
        record = a.wait_record(lambda r: r["type"] == "connect", after=mark, timeout=10, describe="reconnect")
        assert record["recovered"] is True and record["id"] == first_id
        a.wait_event("chat-message", where=lambda args, n=blip: args[0]["data"] == f"blip {n}", after=mark)
    assert chats(a, after=start) == ["blip 0", "blip 1", "blip 2"]
    b.assert_no_event("user-left", after=b_mark, within=0.2)


def test_a_client_back_after_the_window_gets_a_new_socket_and_the_others_see_it_leave(nc, server, proxy):
    room = room_name()
    # socket.io-client spreads its delay by ±50 % unless told not to: it would come back
    # within the window at times.
    late = (WINDOW_S + 1.5) * 1000
    slow = {**RECONNECTING, "reconnectionDelay": late, "reconnectionDelayMax": late, "randomizationFactor": 0}
    a = nc.connect("a", proxy.url, transports=["websocket"], **slow)
    b = nc.connect("b", server.url, transports=["websocket"])
    join(a, room, "ann", "Ann")
    join(b, room, "bob", "Bob")
    first_id, a_mark, b_mark = a.id, a.mark(), b.mark()
    cut_at = time.monotonic()
    proxy.cut()

    b.assert_no_event("user-left", after=b_mark, within=WINDOW_S - 1)  # A may still come back
    assert b.wait_event("user-left", after=b_mark, timeout=3) == [first_id, "ann"]
    assert time.monotonic() - cut_at >= WINDOW_S - 0.2
    record = a.wait_record(lambda r: r["type"] == "connect", after=a_mark, timeout=10, describe="reconnect")
    assert record["recovered"] is False and record["id"] != first_id


def test_an_explicit_disconnect_tells_the_others_at_once(nc, server):
    room = room_name()
    a = connect_recovering(nc, "a", server.url)
    b = nc.connect("b", server.url, transports=["websocket"])
    join(a, room, "ann", "Ann")
    join(b, room, "bob", "Bob")
    mark = b.mark()
    a.disconnect()
    assert b.wait_event("user-left", after=mark, timeout=1) == [a.id, "ann"]


def test_a_websocket_closed_as_going_away_tells_the_others_at_once(nc, server):
    """A browser closing or leaving the page closes its WebSocket with code 1001."""
    room = room_name()
    b = nc.connect("b", server.url, transports=["websocket"])
    join(b, room, "bob", "Bob")
    ws = websocket.create_connection(
        server.url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket",
        header=["User-Agent: Mozilla/5.0 (a browser)"],
        timeout=5,
    )
    assert ws.recv().startswith("0")
    ws.send("40")
    connected = ws.recv()
    assert '"pid"' in connected  # offered recovery, yet...
    mark = b.mark()
    ws.send('42["join-call",{"roomID":"%s","username":"pia","name":"Pia"}]' % room)
    b.wait_event("user-joined", where=lambda args: args[0]["username"] == "pia", after=mark)
    ws.close(status=1001)
    assert b.wait_event("user-left", after=mark, timeout=1)[1] == "pia"


def test_python_socketio_clients_get_the_events_as_before(server):
    """python-socketio implements no recovery: it is offered none, and its events carry
    no offset argument."""
    room = room_name()
    with PyClient("py") as py, NodeClients() as clients:
        py.connect(server.url)
        node = clients.connect("n", server.url, transports=["websocket"])
        py.emit("join-call", join_payload(room, "pyo", "Pyo"))
        py.wait_event("user-joined", where=is_own_join(py))
        join(node, room, "nod", "Nod")
        mark = py.mark()
        node.emit("chat-message", {"data": "hi", "time": 1})
        message = py.wait_event("chat-message", after=mark)
        assert message == [{"sender": "Nod", "data": "hi", "time": 1, "socketIdSender": node.id}]
