"""The Node client harness itself, against a known-good python-socketio server."""

import pytest

from tests.clients.node_client import AckTimeout, ConnectError
from tests.servers import DaphneServer


@pytest.fixture(scope="module")
def echo_url():
    with DaphneServer("tests.clients.reference_echo_server:app") as server:
        yield server.url


def test_default_transports_start_on_polling_then_upgrade(nc, echo_url):
    a = nc.connect("a", echo_url)
    # On loopback the upgrade often lands before `connect` is reported, so the transport
    # seen at connect time says nothing; the upgrade record is the proof of polling first.
    assert a.wait_upgrade() == "websocket"
    assert a.transport() == "websocket"
    assert a.state()["connected"] is True


def test_websocket_only(nc, echo_url):
    a = nc.connect("a", echo_url, transports=["websocket"])
    assert a.records("connect")[0]["transport"] == "websocket"
    a.emit("message", "hi")
    assert a.wait_event("message-back") == ["hi"]


def test_polling_only_never_upgrades(nc, echo_url):
    a = nc.connect("a", echo_url, upgrade=False)
    a.emit("message", {"n": 1}, [2, 3])
    assert a.wait_event("message-back") == [{"n": 1}, [2, 3]]
    assert a.records("upgrade") == []
    assert a.transport() == "polling"


def test_ack_round_trip(nc, echo_url):
    a = nc.connect("a", echo_url, transports=["websocket"])
    assert a.emit_with_ack("message-with-ack", 1, "2", {"three": 3}) == [1, "2", {"three": 3}]


def test_ack_timeout_is_reported(nc, echo_url):
    a = nc.connect("a", echo_url, transports=["websocket"])
    with pytest.raises(AckTimeout, match="operation has timed out"):
        a.emit_with_ack("no-handler-so-no-ack", timeout=0.2)


def test_binary_round_trip_nested(nc, echo_url):
    a = nc.connect("a", echo_url)
    # No empty bytes: daphne 4.2.3 drops empty websocket frames on send, so an empty
    # attachment never reaches the client and its whole event is lost.
    payload = {"blob": b"\x00\xff\x10", "list": [b"a", b"bc"], "text": "not binary"}
    a.emit("message", b"top-level", payload)
    assert a.wait_event("message-back") == [b"top-level", payload]
    assert a.emit_with_ack("message-with-ack", payload) == [payload]


def test_waits_see_history_unless_after_a_mark(nc, echo_url):
    a = nc.connect("a", echo_url, transports=["websocket"])
    a.emit("message", 1)
    assert a.wait_event("message-back") == [1]
    mark = a.mark()
    a.emit("message", 2)
    assert a.wait_event("message-back", after=mark) == [2]
    assert a.wait_event("message-back", where=lambda args: args == [2]) == [2]
    assert a.events("message-back") == [[1], [2]]
    a.assert_no_event("message-back", after=a.mark(), within=0.2)


def test_timeouts_list_what_was_received(nc, echo_url):
    a = nc.connect("a", echo_url, transports=["websocket"])
    a.emit("message", "seen")
    a.wait_event("message-back")
    with pytest.raises(AssertionError) as failure:
        a.wait_event("never-sent", timeout=0.2)
    assert "no 'never-sent' event within 0.2s" in str(failure.value)
    assert "event {'event': 'message-back', 'args': ['seen']}" in str(failure.value)
    with pytest.raises(AssertionError, match="unexpected 'message-back' event"):
        a.assert_no_event("message-back", within=0.1)


def test_server_side_disconnect_is_reported(nc, echo_url):
    a = nc.connect("a", echo_url, transports=["websocket"])
    a.emit("disconnect-me")
    assert a.wait_disconnect() == "io server disconnect"
    assert a.state()["connected"] is False


def test_client_side_disconnect_and_transport_loss(nc, echo_url):
    a = nc.connect("a", echo_url, transports=["websocket"])
    b = nc.connect("b", echo_url, transports=["websocket"])
    a.disconnect()
    assert a.wait_disconnect() == "io client disconnect"
    b.close_engine()
    assert b.wait_disconnect() == "forced close"


def test_refused_connection_raises_connect_error(nc, echo_url):
    with pytest.raises(ConnectError) as refused:
        nc.connect("a", echo_url, auth={"refuse": "bad token"})
    assert refused.value.message == "refused"
    assert refused.value.data == {"why": "bad token"}
