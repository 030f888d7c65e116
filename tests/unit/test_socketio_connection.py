"""SocketIOConnection: namespace state, binary reassembly and the connect timeout.

From the socket.io-protocol Readme: the client MUST send CONNECT first ("If the server
does not receive a CONNECT packet first, then it MUST close the connection"), the server
answers CONNECT (with the socket id) or CONNECT_ERROR, binary attachments follow their
packet, and DISCONNECT leaves one namespace.
"""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from signaling.engine.protocol.engineio import ProtocolError
from signaling.engine.protocol.socketio import (
    ACK,
    CONNECT,
    DISCONNECT,
    EVENT,
    Packet,
    SocketIOConnection,
)

FUZZ = settings(max_examples=200, deadline=None)
PH0 = '{"_placeholder":true,"num":0}'
PH1 = '{"_placeholder":true,"num":1}'


def fresh(now: float = 0.0, connect_timeout: float = 45.0) -> SocketIOConnection:
    return SocketIOConnection(now=now, connect_timeout=connect_timeout)


def connected(*names: str) -> SocketIOConnection:
    connection = fresh()
    for name in names or ("/",):
        connection.accept(name, "sock")
    return connection


# --- CONNECT first ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    ['2["hello"]', '212["hello"]', "31[]", "1", '2/admin,["hello"]', "1/admin,"],
)
def test_packet_for_a_namespace_before_its_connect_is_a_protocol_error(message):
    with pytest.raises(ProtocolError):
        fresh().receive(message)


def test_binary_packet_before_connect_is_a_protocol_error_by_its_last_attachment():
    connection = fresh()
    with pytest.raises(ProtocolError):
        connection.receive(f'51-["hello",{PH0}]')
        connection.receive(b"\x01")


def test_connect_packets_are_accepted_before_any_namespace_is_connected():
    connection = fresh()
    assert connection.receive("0") == Packet(CONNECT, "/")
    assert connection.receive('0/admin,{"token":"123"}') == Packet(CONNECT, "/admin", {"token": "123"})


def test_connect_alone_does_not_connect_the_namespace_until_the_server_accepts():
    connection = fresh()
    connection.receive("0")
    with pytest.raises(ProtocolError):
        connection.receive('2["hello"]')


def test_accepted_namespace_receives_events_and_other_namespaces_do_not():
    connection = connected("/admin")
    assert connection.receive('2/admin,["hi"]') == Packet(EVENT, "/admin", ["hi"])
    with pytest.raises(ProtocolError):
        connection.receive('2["hi"]')


def test_accept_answers_connect_with_the_socket_id():
    connection = fresh()
    assert connection.accept("/", "wZX3oN0bSVIhsaknAAAI") == ['0{"sid":"wZX3oN0bSVIhsaknAAAI"}']
    assert connection.accept("/admin", "-G5j-67EZFp-q59rADQM") == ['0/admin,{"sid":"-G5j-67EZFp-q59rADQM"}']
    assert connection.namespaces == {"/": "wZX3oN0bSVIhsaknAAAI", "/admin": "-G5j-67EZFp-q59rADQM"}


def test_refuse_answers_connect_error_with_the_message():
    connection = fresh()
    assert connection.refuse("/", "Not authorized") == ['4{"message":"Not authorized"}']
    assert connection.refuse("/random", "Invalid namespace") == ['4/random,{"message":"Invalid namespace"}']
    assert connection.refuse("/", "No", {"retry": False}) == ['4{"message":"No","data":{"retry":false}}']


def test_refused_namespace_stays_unconnected():
    connection = fresh()
    connection.refuse("/", "Not authorized")
    assert connection.namespaces == {}
    with pytest.raises(ProtocolError):
        connection.receive('2["hello"]')


def test_server_disconnect_sends_disconnect_and_leaves_the_namespace():
    connection = connected("/", "/admin")
    assert connection.disconnect("/admin") == ["1/admin,"]
    assert connection.disconnect("/") == ["1"]
    assert connection.namespaces == {}
    with pytest.raises(ProtocolError):
        connection.receive('2["hello"]')


def test_client_disconnect_then_forget_leaves_only_that_namespace():
    connection = connected("/", "/custom")
    assert connection.receive("1/custom,") == Packet(DISCONNECT, "/custom")
    connection.forget("/custom")
    with pytest.raises(ProtocolError):
        connection.receive('2/custom,["x"]')
    assert connection.receive('2["message","message to main namespace"]') == Packet(
        EVENT, "/", ["message", "message to main namespace"]
    )


def test_forgetting_an_unknown_namespace_is_harmless():
    connection = connected()
    connection.forget("/never")
    assert connection.disconnect("/never") == ["1/never,"]
    assert connection.namespaces == {"/": "sock"}


# --- binary reassembly -------------------------------------------------------------------------


def test_binary_packet_completes_after_exactly_its_attachment_count():
    connection = connected()
    assert connection.receive(f'52-["message",{PH0},{PH1}]') is None
    assert connection.receive(bytes([1, 2, 3])) is None
    packet = connection.receive(bytes([4, 5, 6]))
    assert packet == Packet(EVENT, "/", ["message", bytes([1, 2, 3]), bytes([4, 5, 6])])


def test_extra_attachment_after_the_packet_completed_is_a_protocol_error():
    connection = connected()
    connection.receive(f'51-["x",{PH0}]')
    connection.receive(b"a")
    with pytest.raises(ProtocolError):
        connection.receive(b"b")


def test_binary_message_with_no_packet_waiting_is_a_protocol_error():
    with pytest.raises(ProtocolError):
        connected().receive(b"\x01\x02")


def test_text_packet_while_attachments_are_pending_is_a_protocol_error():
    connection = connected()
    connection.receive(f'52-["x",{PH0},{PH1}]')
    connection.receive(b"a")
    with pytest.raises(ProtocolError):
        connection.receive('2["y"]')


def test_connect_while_attachments_are_pending_is_a_protocol_error():
    connection = connected()
    connection.receive(f'51-["x",{PH0}]')
    with pytest.raises(ProtocolError):
        connection.receive("0")


def test_consecutive_binary_packets_do_not_share_attachments():
    connection = connected()
    connection.receive(f'51-["a",{PH0}]')
    first = connection.receive(b"one")
    connection.receive(f'61-4[{PH0}]')
    second = connection.receive(b"two")
    assert first == Packet(EVENT, "/", ["a", b"one"])
    assert second == Packet(ACK, "/", [b"two"], 4)


def test_unused_attachments_are_accepted_and_dropped():
    connection = connected()
    connection.receive(f'52-["x",{PH1}]')
    connection.receive(b"unused")
    assert connection.receive(b"used") == Packet(EVENT, "/", ["x", b"used"])


def test_empty_attachment_is_empty_bytes():
    connection = connected()
    connection.receive(f'51-["x",{PH0}]')
    assert connection.receive(b"") == Packet(EVENT, "/", ["x", b""])


# --- connect timeout ---------------------------------------------------------------------------


def test_connect_timeout_fires_when_no_namespace_is_accepted_in_time():
    connection = fresh(now=100.0, connect_timeout=45.0)
    assert connection.deadline == 145.0
    assert not connection.connect_timed_out(144.999)
    assert connection.connect_timed_out(145.0)
    assert connection.connect_timed_out(500.0)


def test_connect_packet_alone_does_not_stop_the_connect_timeout():
    connection = fresh(now=0.0, connect_timeout=45.0)
    connection.receive("0")
    assert connection.connect_timed_out(45.0)


def test_refusal_does_not_stop_the_connect_timeout():
    connection = fresh(now=0.0, connect_timeout=45.0)
    connection.refuse("/", "Not authorized")
    assert connection.deadline == 45.0
    assert connection.connect_timed_out(45.0)


def test_accept_cancels_the_connect_timeout():
    connection = fresh(now=0.0, connect_timeout=45.0)
    connection.accept("/admin", "sock")
    assert connection.deadline is None
    assert not connection.connect_timed_out(1000.0)


def test_connect_timeout_never_fires_once_a_namespace_was_accepted_even_after_leaving_it():
    connection = fresh(now=0.0, connect_timeout=45.0)
    connection.accept("/", "sock")
    connection.disconnect("/")
    assert not connection.connect_timed_out(1000.0)
    connection.accept("/admin", "sock2")
    connection.forget("/admin")
    assert connection.namespaces == {}
    assert not connection.connect_timed_out(10_000.0)
    assert connection.deadline is None


# --- fuzz --------------------------------------------------------------------------------------

FRAGMENTS = [
    "0", "1", "2", "3", "4", "5", "6", "-", "1-", "2-", "/", "/admin", ",", "12", "[", "]",
    "{", "}", '"', '"x"', ",", ":", '"_placeholder"', ":true", '"num"', ":0", ":1", "null",
    "true", '"connect"', "9" * 20, "€", "\x1e",
]
protocolish_text = st.lists(st.sampled_from(FRAGMENTS), max_size=16).map("".join)
messages = st.one_of(st.text(max_size=40), protocolish_text, st.binary(max_size=8))


@given(st.lists(messages, min_size=1, max_size=6))
@FUZZ
def test_fuzzed_messages_give_packets_or_none_or_a_protocol_error(sequence):
    connection = connected("/", "/admin")
    for message in sequence:
        try:
            packet = connection.receive(message)
        except ProtocolError:
            return
        if packet is None:
            continue
        assert isinstance(packet, Packet)
        assert packet.type == CONNECT or packet.namespace in connection.namespaces
        assert packet.id is None or 0 <= packet.id <= 2**53 - 1


@given(st.text(max_size=80) | protocolish_text)
@FUZZ
def test_fuzzed_text_on_a_fresh_connection_is_connect_or_protocol_error(message):
    try:
        packet = fresh().receive(message)
    except ProtocolError:
        return
    assert packet is None or packet.type == CONNECT
