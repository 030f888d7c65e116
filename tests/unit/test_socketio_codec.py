"""Socket.IO v5 packet encoding and decoding.

Examples are the socket.io-protocol Readme's ("Packet encoding", "Sample session") and the
inputs its test suite sends (without the Engine.IO "4" prefix, which the Engine.IO layer
strips). Decoding goes through SocketIOConnection.receive, the public decoder.
"""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from signaling.engine.protocol.engineio import RECORD_SEPARATOR, ProtocolError
from signaling.engine.protocol.socketio import (
    ACK,
    BINARY_ACK,
    BINARY_EVENT,
    CONNECT,
    CONNECT_ERROR,
    DISCONNECT,
    EVENT,
    MAX_DEPTH,
    RESERVED_EVENTS,
    Packet,
    SocketIOConnection,
    encode,
    encode_event,
)
from tests.unit.strategies import (
    JS_MAX_SAFE_INTEGER,
    ack_ids,
    event_names,
    json_keys,
    namespaces,
    plain_values,
    same_value,
    values_with_bytes,
)

PROPERTY = settings(max_examples=200, deadline=None)
PH0 = '{"_placeholder":true,"num":0}'
PH1 = '{"_placeholder":true,"num":1}'


def connected(*names: str) -> SocketIOConnection:
    connection = SocketIOConnection(now=0.0, connect_timeout=45.0)
    for name in names or ("/",):
        connection.accept(name, "socket-" + name)
    return connection


def receive_all(connection: SocketIOConnection, messages: list):
    """Feed messages; every one but the last must be absorbed (None)."""
    *head, last = messages
    for message in head:
        assert connection.receive(message) is None
    return connection.receive(last)


def count_bytes(value) -> int:
    if isinstance(value, bytes):
        return 1
    if isinstance(value, list):
        return sum(count_bytes(v) for v in value)
    if isinstance(value, dict):
        return sum(count_bytes(v) for v in value.values())
    return 0


# --- encoding: the spec's examples --------------------------------------------------------


def test_packet_type_ids_match_the_spec_table():
    assert (CONNECT, DISCONNECT, EVENT, ACK, CONNECT_ERROR, BINARY_EVENT, BINARY_ACK) == tuple(range(7))


@pytest.mark.parametrize(
    "packet, messages",
    [
        (Packet(CONNECT), ["0"]),
        (
            Packet(CONNECT, "/admin", {"sid": "oSO0OpakMV_3jnilAAAA"}),
            ['0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}'],
        ),
        (Packet(CONNECT_ERROR, "/", {"message": "Not authorized"}), ['4{"message":"Not authorized"}']),
        (Packet(EVENT, "/", ["foo"]), ['2["foo"]']),
        (Packet(EVENT, "/admin", ["bar"]), ['2/admin,["bar"]']),
        (Packet(EVENT, "/", ["hey", "Jude"]), ['2["hey","Jude"]']),
        (Packet(EVENT, "/", ["foo"], 12), ['212["foo"]']),
        (Packet(ACK, "/admin", ["bar"], 13), ['3/admin,13["bar"]']),
        (Packet(ACK, "/", [], 12), ["312[]"]),
        (Packet(DISCONNECT), ["1"]),
        (Packet(DISCONNECT, "/admin"), ["1/admin,"]),
    ],
)
def test_encodes_the_spec_examples(packet, messages):
    assert encode(packet) == messages


def test_event_with_binary_becomes_binary_event_with_placeholder_and_attachment():
    assert encode(Packet(EVENT, "/", ["baz", b"\x01\x02\x03\x04"])) == [
        f'51-["baz",{PH0}]',
        b"\x01\x02\x03\x04",
    ]


def test_multiple_attachments_are_numbered_in_order_after_the_namespace_count():
    assert encode(Packet(EVENT, "/admin", ["baz", b"\x01\x02", b"\x03\x04"])) == [
        f'52-/admin,["baz",{PH0},{PH1}]',
        b"\x01\x02",
        b"\x03\x04",
    ]


def test_ack_with_binary_becomes_binary_ack():
    assert encode(Packet(ACK, "/", ["bar", b"\x01\x02\x03\x04"], 15)) == [
        f'61-15["bar",{PH0}]',
        b"\x01\x02\x03\x04",
    ]


def test_binary_ack_in_a_namespace_from_the_sample_session():
    assert encode(Packet(ACK, "/admin", [b"\xff"], 1)) == [f"61-/admin,1[{PH0}]", b"\xff"]


def test_binary_nested_in_objects_and_lists_is_extracted_depth_first():
    messages = encode(Packet(EVENT, "/", ["e", {"a": b"A", "b": [b"B", {"c": b"C"}]}]))
    assert messages == [
        '53-["e",{"a":' + PH0 + ',"b":[' + PH1 + ',{"c":{"_placeholder":true,"num":2}}]}]',
        b"A",
        b"B",
        b"C",
    ]


def test_bytearray_and_memoryview_are_sent_as_binary_attachments():
    messages = encode(Packet(EVENT, "/", ["e", bytearray(b"\x01"), memoryview(b"\x02")]))
    assert messages == [f'52-["e",{PH0},{PH1}]', b"\x01", b"\x02"]
    assert all(type(m) is bytes for m in messages[1:])


def test_encode_event_matches_the_general_encoder():
    for namespace, args, ack_id in [
        ("/", ["foo"], None),
        ("/", ["foo", 1], 7),
        ("/admin", ["bar"], None),
        ("/", ["baz", b"\x01"], None),
    ]:
        assert encode_event(namespace, args, ack_id) == encode(Packet(EVENT, namespace, args, ack_id))


def test_record_separator_in_a_string_is_escaped_by_json():
    [message] = encode(Packet(EVENT, "/", ["chat", "a\x1eb"]))
    assert RECORD_SEPARATOR not in message
    assert message == '2["chat","a\\u001eb"]'


# --- decoding: the spec's examples ----------------------------------------------------------


@pytest.mark.parametrize(
    "message, packet",
    [
        ("0", Packet(CONNECT, "/")),
        ('0/admin,{"token":"123"}', Packet(CONNECT, "/admin", {"token": "123"})),
        ('0{"token":"123"}', Packet(CONNECT, "/", {"token": "123"})),
        ("0/random", Packet(CONNECT, "/random")),
        ("0/admin,", Packet(CONNECT, "/admin")),
        ('2["hello",1]', Packet(EVENT, "/", ["hello", 1])),
        ('2["foo"]', Packet(EVENT, "/", ["foo"])),
        ('2/admin,["bar"]', Packet(EVENT, "/admin", ["bar"])),
        ('212["hello"]', Packet(EVENT, "/", ["hello"], 12)),
        ('2/admin,1["tellme"]', Packet(EVENT, "/admin", ["tellme"], 1)),
        ('2456["message-with-ack",1,"2",{"3":[false]}]', Packet(EVENT, "/", ["message-with-ack", 1, "2", {"3": [False]}], 456)),
        ('3/admin,13["bar"]', Packet(ACK, "/admin", ["bar"], 13)),
        ("312[]", Packet(ACK, "/", [], 12)),
        ("1", Packet(DISCONNECT, "/")),
        ("1/admin,", Packet(DISCONNECT, "/admin")),
        ("1/admin", Packet(DISCONNECT, "/admin")),
    ],
)
def test_decodes_the_spec_examples(message, packet):
    assert connected("/", "/admin").receive(message) == packet


def test_decoded_ack_id_and_values_keep_their_types():
    packet = connected().receive('27["e",1,1.5,true,null,"s",{"k":[0]}]')
    assert same_value(packet.id, 7)
    assert same_value(packet.data, ["e", 1, 1.5, True, None, "s", {"k": [0]}])


def test_binary_event_from_the_spec_is_reassembled_into_an_event_with_bytes():
    connection = connected()
    assert connection.receive(f'51-["hello",{PH0}]') is None
    packet = connection.receive(b"\x01\x02\x03\x04")
    assert packet == Packet(EVENT, "/", ["hello", b"\x01\x02\x03\x04"])


def test_binary_ack_in_a_namespace_is_reassembled_into_an_ack():
    connection = connected("/admin")
    assert connection.receive(f'61-/admin,15["bar",{PH0}]') is None
    assert connection.receive(b"\x01\x02\x03\x04") == Packet(ACK, "/admin", ["bar", b"\x01\x02\x03\x04"], 15)


def test_binary_event_with_two_attachments_and_an_ack_id_from_the_test_suite():
    packet = receive_all(
        connected(),
        [f'52-789["message-with-ack",{PH0},{PH1}]', bytes([1, 2, 3]), bytes([4, 5, 6])],
    )
    assert packet == Packet(EVENT, "/", ["message-with-ack", bytes([1, 2, 3]), bytes([4, 5, 6])], 789)


def test_placeholder_numbers_pick_attachments_by_index_not_by_position():
    packet = receive_all(connected(), [f'52-["x",{PH1},{PH0},{PH1}]', b"first", b"second"])
    assert packet.data == ["x", b"second", b"first", b"second"]


def test_placeholder_inside_nested_objects_is_replaced():
    packet = receive_all(connected(), ['51-["x",{"a":[{"b":' + PH0 + "}]}]", b"deep"])
    assert packet.data == ["x", {"a": [{"b": b"deep"}]}]


def test_placeholder_in_a_text_event_is_left_as_plain_data():
    assert connected().receive(f'2["x",{PH0}]').data == ["x", {"_placeholder": True, "num": 0}]


def test_ack_id_up_to_the_javascript_safe_integer_is_accepted():
    assert connected().receive(f'2{JS_MAX_SAFE_INTEGER}["x"]').id == JS_MAX_SAFE_INTEGER
    with pytest.raises(ProtocolError):
        connected().receive(f'2{JS_MAX_SAFE_INTEGER + 1}["x"]')


def _nested(depth: int) -> str:
    """An event whose payload array is `depth` levels deep."""
    return '2["deep",' + "[" * (depth - 1) + "]" * (depth - 1) + "]"


def test_json_nested_up_to_the_depth_limit_is_accepted():
    packet = connected().receive(_nested(MAX_DEPTH))
    value, levels = packet.data, 1
    while len(value) > 1 or value and isinstance(value[-1], list):
        value, levels = value[-1], levels + 1
    assert (packet.type, levels) == (EVENT, MAX_DEPTH)


def test_json_nested_past_the_depth_limit_is_a_protocol_error():
    # Deeper documents could not even be encoded again to relay them.
    with pytest.raises(ProtocolError):
        connected().receive(_nested(MAX_DEPTH + 1))


def test_json_nested_deeper_than_the_parser_allows_is_a_protocol_error():
    with pytest.raises(ProtocolError):
        connected().receive('2["deep",' + "[" * 5000 + "]" * 5000 + "]")


def test_deeply_nested_binary_event_is_refused_before_its_attachments():
    depth = 1015  # orjson's own limit is 1024
    with pytest.raises(ProtocolError):
        connected().receive('51-["deep",' + "[" * depth + PH0 + "]" * depth + "]")


@pytest.mark.parametrize(
    "message, kind", [('50-["hello"]', EVENT), ("60-3[]", ACK), ('50-/admin,["hello"]', EVENT)]
)
def test_binary_packet_with_zero_attachments_is_a_plain_packet_or_a_protocol_error(message, kind):
    try:
        packet = connected("/", "/admin").receive(message)
    except ProtocolError:
        return
    assert packet.type == kind


# --- decoding: malformed input --------------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        # unknown packet types / garbage (the test suite's "4abc" is "abc" here)
        "",
        "abc",
        "7",
        "9[]",
        "x",
        " 2[\"x\"]",
        "٢[\"x\"]",
        # EVENT payload must be a non-empty array starting with a string event name
        "2{}",
        "2",
        "2[]",
        "2[1]",
        "2[null]",
        "2[[\"x\"]]",
        '2"hello"',
        "2/admin,",
        "212",
        # bad ack id: the test suite's 42abc[...]
        '2abc["message-with-ack",1,"2",{"3":[false]}]',
        '2-1["x"]',
        '21.5["x"]',
        # invalid JSON / trailing garbage
        '2["x",]',
        "2['x']",
        '2["x"]]',
        '2["x"]x',
        '2["x"],["y"]',
        '2["x",NaN]',
        '2["x",1e400]',
        '2["x"',
        # CONNECT payload must be an object (or absent), without ack id
        "0[]",
        "0[1]",
        '0"token"',
        "0true",
        "012{}",
        "0/admin,[1]",
        "0admin",
        # DISCONNECT takes no payload
        "1{}",
        '1/admin,{"a":1}',
        '1["x"]',
        "11",
        # ACK needs an id and an array
        '3["bar"]',
        '3/admin,["bar"]',
        "313",
        "313{}",
        '313"bar"',
        # CONNECT_ERROR is never sent by a client
        '4{"message":"x"}',
        "4",
        # attachment counts
        '5-["x",' + PH0 + "]",
        '5x-["x",' + PH0 + "]",
        '5-1["x",' + PH0 + "]",
        '51["x",' + PH0 + "]",
        '5 1-["x"]',
        '5+1-["x"]',
        '5١-["x"]',
        '51001-["x"]',
        '599999999999999999999999-["x"]',
        '6-1[]',
        '61-[' + PH0 + "]",  # BINARY_ACK without id
        '51-["connect",' + PH0 + "]",
    ],
)
def test_malformed_packet_is_a_protocol_error(message):
    with pytest.raises(ProtocolError):
        connected("/", "/admin").receive(message)


@pytest.mark.parametrize("name", sorted(RESERVED_EVENTS))
def test_reserved_event_names_are_a_protocol_error(name):
    with pytest.raises(ProtocolError):
        connected().receive(f'2["{name}"]')
    with pytest.raises(ProtocolError):
        connected("/", "/admin").receive(f'2/admin,["{name}",1]')


@pytest.mark.parametrize(
    "placeholder",
    [
        '{"_placeholder":true,"num":1}',  # out of range for one attachment
        '{"_placeholder":true,"num":-1}',
        '{"_placeholder":true,"num":"0"}',
        '{"_placeholder":true,"num":0.0}',
        '{"_placeholder":true,"num":true}',
        '{"_placeholder":true,"num":false}',
        '{"_placeholder":true,"num":null}',
        '{"_placeholder":true}',
        '{"_placeholder":true,"num":99999999999999999999}',
    ],
)
def test_bad_placeholder_is_a_protocol_error_once_the_attachments_are_in(placeholder):
    connection = connected()
    assert connection.receive(f'51-["x",{placeholder}]') is None
    with pytest.raises(ProtocolError):
        connection.receive(b"\x01")


@pytest.mark.parametrize(
    "message",
    ["2" + "9" * 5000 + '["x"]', "5" + "1" * 5000 + '-["x"]', "3/admin," + "1" * 4301 + "[]"],
)
def test_overlong_digit_runs_are_a_protocol_error(message):
    with pytest.raises(ProtocolError):
        connected("/", "/admin").receive(message)


# --- properties ------------------------------------------------------------------------------


@given(namespace=namespaces, name=event_names, args=st.lists(values_with_bytes, max_size=4), ack_id=ack_ids)
@PROPERTY
def test_event_round_trips_through_encode_and_a_connection(namespace, name, args, ack_id):
    data = [name, *args]
    messages = encode(Packet(EVENT, namespace, data, ack_id))
    assert isinstance(messages[0], str)
    assert all(isinstance(m, bytes) for m in messages[1:])
    assert len(messages) == 1 + count_bytes(data)
    packet = receive_all(connected(namespace), messages)
    assert (packet.type, packet.namespace, packet.id) == (EVENT, namespace, ack_id)
    assert same_value(packet.data, data)


@given(namespace=namespaces, name=event_names, args=st.lists(values_with_bytes, max_size=4), ack_id=ack_ids)
@PROPERTY
def test_encode_event_always_matches_the_general_encoder(namespace, name, args, ack_id):
    data = [name, *args]
    assert encode_event(namespace, data, ack_id) == encode(Packet(EVENT, namespace, data, ack_id))


@given(namespace=namespaces, data=st.lists(values_with_bytes, max_size=4), ack_id=st.integers(0, JS_MAX_SAFE_INTEGER))
@PROPERTY
def test_ack_round_trips_through_encode_and_a_connection(namespace, data, ack_id):
    packet = receive_all(connected(namespace), encode(Packet(ACK, namespace, data, ack_id)))
    assert (packet.type, packet.namespace, packet.id) == (ACK, namespace, ack_id)
    assert same_value(packet.data, data)


@given(namespace=namespaces, auth=st.none() | st.dictionaries(json_keys, plain_values, max_size=4))
@PROPERTY
def test_connect_round_trips(namespace, auth):
    [message] = encode(Packet(CONNECT, namespace, auth))
    packet = SocketIOConnection(now=0.0, connect_timeout=1.0).receive(message)
    assert (packet.type, packet.namespace, packet.id) == (CONNECT, namespace, None)
    assert same_value(packet.data, auth)


@given(namespace=namespaces)
@PROPERTY
def test_disconnect_round_trips(namespace):
    [message] = encode(Packet(DISCONNECT, namespace))
    assert connected(namespace).receive(message) == Packet(DISCONNECT, namespace)


@given(namespace=namespaces, name=event_names, args=st.lists(values_with_bytes, max_size=4), ack_id=ack_ids)
@PROPERTY
def test_encoded_text_never_holds_a_raw_record_separator(namespace, name, args, ack_id):
    # Engine.IO polling payloads cannot carry a raw \x1e inside a text packet.
    text = encode(Packet(EVENT, namespace, [name, *args], ack_id))[0]
    assert RECORD_SEPARATOR not in text
