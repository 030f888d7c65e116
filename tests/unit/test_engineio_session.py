"""EngineSession: what an Engine.IO v4 client sees of the server's state machine.

Time is passed in explicitly (seconds); nothing sleeps. The statements tested are the
engine.io-protocol README's ("Handshake", "Heartbeat", "Upgrade", "Sending and
receiving data") and the behaviours its test suite checks (duplicate polls, forced close,
requests after an upgrade).
"""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from signaling.engine.protocol.engineio import (
    CLIENT_CLOSE,
    MESSAGE,
    PARSE_ERROR,
    PING,
    PING_TIMEOUT,
    SERVER_CLOSE,
    TRANSPORT_ERROR,
    Closed,
    EngineConfig,
    EngineSession,
    MessageReceived,
    Packet,
    PayloadTooLarge,
    ProtocolError,
    SessionClosed,
    State,
    Transmit,
    Transport,
    Upgraded,
    decode_frame,
    decode_payload,
    encode_frame,
)
from tests.unit.strategies import same_value

FUZZ = settings(max_examples=200, deadline=None)
SID = "lv_VI97HAXpY6yYWAAAC"


def make_session(transport=Transport.POLLING, now=0.0, **config) -> EngineSession:
    settings_ = {"ping_interval": 25.0, "ping_timeout": 20.0, "max_payload": 100}
    settings_.update(config)
    return EngineSession(SID, EngineConfig(**settings_), transport, now)


def polling(**kwargs) -> EngineSession:
    return make_session(Transport.POLLING, **kwargs)


def websocket(**kwargs) -> EngineSession:
    return make_session(Transport.WEBSOCKET, **kwargs)


def poll(session: EngineSession) -> str:
    """One GET that is answered at once."""
    session.start_poll()
    return session.take_poll_payload()


def upgraded(session: EngineSession) -> list:
    """Run the probe and the upgrade packet; the frames queued for the WebSocket."""
    session.start_upgrade()
    assert session.receive_probe_frame("2probe") == [Transmit(["3probe"])]
    [event] = session.receive_probe_frame("5")
    assert isinstance(event, Upgraded)
    return event.frames


# --- handshake -------------------------------------------------------------------------


def test_handshake_is_an_open_packet_with_the_spec_keys_in_milliseconds():
    session = EngineSession(SID, EngineConfig(), Transport.POLLING, now=0.0)
    packet = session.handshake()
    assert packet.type == "0"
    assert encode_frame(packet).startswith('0{"sid":')
    body = json.loads(packet.data)
    assert same_value(
        body,
        {
            "sid": SID,
            "upgrades": ["websocket"],
            "pingInterval": 25000,
            "pingTimeout": 20000,
            "maxPayload": 1000000,
        },
    )


def test_handshake_converts_fractional_seconds_to_integer_milliseconds():
    body = json.loads(polling(ping_interval=0.3, ping_timeout=0.2).handshake().data)
    assert same_value((body["pingInterval"], body["pingTimeout"]), (300, 200))


def test_websocket_only_handshake_offers_no_upgrades():
    assert json.loads(websocket().handshake().data)["upgrades"] == []


def test_handshake_offers_no_upgrades_when_they_are_disabled():
    assert json.loads(polling(allow_upgrades=False).handshake().data)["upgrades"] == []


# --- heartbeat -------------------------------------------------------------------------


def test_first_ping_is_due_ping_interval_after_the_handshake():
    session = polling(now=100.0)
    assert session.deadline == 125.0
    assert session.on_timer(124.999) == []
    assert not session.has_poll_data
    assert session.on_timer(125.0) == []  # polling: the ping waits for the GET
    assert poll(session) == "2"


def test_ping_goes_out_as_a_websocket_frame():
    session = websocket()
    assert session.on_timer(24.0) == []
    assert session.on_timer(25.0) == [Transmit(["2"])]


def test_session_closes_with_ping_timeout_when_no_pong_arrives_within_ping_timeout():
    session = polling()
    session.on_timer(25.0)
    assert poll(session) == "2"
    assert session.deadline == 45.0
    assert session.on_timer(44.999) == []
    assert not session.closed
    assert session.on_timer(45.0) == [Closed(PING_TIMEOUT)]
    assert session.closed
    assert session.close_reason == "ping timeout"
    assert session.deadline is None
    assert session.take_poll_payload() == "1"  # a waiting GET learns of the close


def test_websocket_session_times_out_without_pong():
    session = websocket()
    assert session.on_timer(25.0) == [Transmit(["2"])]
    assert session.on_timer(45.0) == [Closed(PING_TIMEOUT)]
    assert session.closed


def test_pong_in_time_keeps_the_session_open_and_next_ping_is_ping_interval_after_the_pong():
    session = polling()
    session.on_timer(25.0)
    assert poll(session) == "2"
    assert session.receive_payload(b"3", now=30.0) == []
    assert session.deadline == 55.0
    assert session.on_timer(45.0) == []  # the old pong deadline no longer applies
    assert not session.closed
    assert session.on_timer(54.999) == []
    assert not session.has_poll_data
    session.on_timer(55.0)
    assert poll(session) == "2"


def test_pong_over_websocket_resets_the_heartbeat():
    session = websocket()
    assert session.on_timer(25.0) == [Transmit(["2"])]
    assert session.receive_frame("3", now=26.0) == []
    assert session.on_timer(45.0) == []
    assert not session.closed
    assert session.on_timer(51.0) == [Transmit(["2"])]


def test_only_one_ping_is_sent_while_waiting_for_its_pong():
    session = polling()
    session.on_timer(25.0)
    session.on_timer(30.0)
    session.on_timer(44.0)
    assert poll(session) == "2"


def test_timer_after_close_does_nothing():
    session = polling()
    session.close()
    assert session.on_timer(1000.0) == []
    assert session.deadline is None


# --- long-polling ------------------------------------------------------------------------


def test_polling_buffers_packets_and_the_next_poll_joins_them_with_record_separators():
    session = polling()
    assert session.send_message("hello") == []
    assert session.send(Packet(MESSAGE, b"\x01\x02\x03\x04")) == []
    assert session.send_message("world") == []
    assert session.has_poll_data
    assert poll(session) == "4hello\x1ebAQIDBA==\x1e4world"
    assert not session.has_poll_data


def test_packets_are_delivered_once_across_polls():
    session = polling()
    session.send_message("a")
    assert poll(session) == "4a"
    session.send_message("b")
    assert poll(session) == "4b"


def test_poll_with_nothing_buffered_is_answered_with_noop():
    session = polling()
    assert not session.has_poll_data
    assert poll(session) == "6"


def test_two_overlapping_polls_close_the_session_and_the_first_gets_the_close_packet():
    session = polling()
    session.send_message("lost")
    session.start_poll()
    with pytest.raises(ProtocolError):
        session.start_poll()
    assert session.closed
    assert session.close_reason == TRANSPORT_ERROR
    assert session.has_poll_data
    # What was queued still goes out, ahead of the close packet.
    assert session.take_poll_payload() == "4lost\x1e1"
    with pytest.raises(SessionClosed):
        session.start_poll()


def test_a_poll_that_went_away_does_not_count_as_overlapping():
    session = polling()
    session.start_poll()
    session.end_poll()
    session.start_poll()
    assert not session.closed
    session.send_message("x")
    assert session.take_poll_payload() == "4x"


def test_client_messages_in_a_post_become_message_events_in_order():
    session = polling()
    events = session.receive_payload(b"4hello\x1ebAQIDBA==\x1e4world", now=1.0)
    assert events == [
        MessageReceived("hello"),
        MessageReceived(b"\x01\x02\x03\x04"),
        MessageReceived("world"),
    ]


def test_client_noop_is_ignored():
    session = polling()
    assert session.receive_payload(b"6", now=1.0) == []
    assert not session.closed


def test_client_close_packet_closes_with_transport_close_and_the_waiting_poll_gets_noop():
    session = polling()
    session.start_poll()
    assert session.receive_payload(b"1", now=1.0) == [Closed(CLIENT_CLOSE)]
    assert session.closed
    assert session.close_reason == "transport close"
    assert session.has_poll_data  # wakes the waiting GET
    assert session.take_poll_payload() == "6"
    with pytest.raises(SessionClosed):
        session.start_poll()


def test_packets_after_the_client_close_packet_are_ignored():
    session = polling()
    events = session.receive_payload(b"4a\x1e1\x1e4b", now=1.0)
    assert events == [MessageReceived("a"), Closed(CLIENT_CLOSE)]


def test_server_close_gives_the_close_packet_to_the_waiting_poll():
    session = polling()
    session.start_poll()
    session.close()
    assert session.closed
    assert session.close_reason == SERVER_CLOSE
    assert session.has_poll_data
    assert session.take_poll_payload() == "1"


def test_server_close_keeps_the_first_reason():
    session = polling()
    session.close("forced close")
    session.close("another")
    assert session.close_reason == "forced close"


def test_server_close_delivers_packets_queued_before_it_ahead_of_the_close_packet():
    session = polling()
    session.start_poll()
    session.send_message("1")  # a Socket.IO DISCONNECT
    session.close()
    assert session.take_poll_payload() == "41\x1e1"


def test_operations_on_a_closed_session_raise_session_closed():
    session = polling()
    session.close()
    with pytest.raises(SessionClosed):
        session.send_message("x")
    with pytest.raises(SessionClosed):
        session.send(Packet(PING))
    with pytest.raises(SessionClosed):
        session.receive_payload(b"4x", now=1.0)
    with pytest.raises(SessionClosed):
        session.start_poll()


@pytest.mark.parametrize("body", [b"0", b"2", b"2probe", b"3probe\x1e5", b"5", b"4ok\x1e2"])
def test_client_sending_open_ping_or_upgrade_over_polling_is_a_protocol_error_that_closes(body):
    session = polling()
    session.start_poll()
    with pytest.raises(ProtocolError):
        session.receive_payload(body, now=1.0)
    assert session.closed
    assert session.close_reason == PARSE_ERROR
    assert session.take_poll_payload() == "1"


@pytest.mark.parametrize("body", [b"abc", b"", b"4a\x1e", b"b!!!!", b"4a\x1e\x1e4b", b"7"])
def test_malformed_post_body_is_a_protocol_error_that_closes_the_session(body):
    session = polling()
    with pytest.raises(ProtocolError):
        session.receive_payload(body, now=1.0)
    assert session.closed
    assert session.close_reason == PARSE_ERROR
    with pytest.raises(SessionClosed):
        session.start_poll()


def test_post_body_over_max_payload_raises_payload_too_large_and_closes():
    session = polling(max_payload=100)
    session.start_poll()
    with pytest.raises(PayloadTooLarge):
        session.receive_payload(b"4" + b"x" * 100, now=1.0)
    assert isinstance(PayloadTooLarge("x"), ProtocolError)
    assert session.closed
    assert session.take_poll_payload() == "1"


def test_post_body_of_exactly_max_payload_bytes_is_accepted():
    session = polling(max_payload=100)
    assert session.receive_payload(b"4" + b"x" * 99, now=1.0) == [MessageReceived("x" * 99)]


def test_post_body_limit_counts_bytes_of_multibyte_characters():
    session = polling(max_payload=100)
    body = ("4" + "😀" * 25).encode("utf-8")  # 26 characters, 101 bytes
    with pytest.raises(PayloadTooLarge):
        session.receive_payload(body, now=1.0)
    assert session.closed


@pytest.mark.parametrize("body", [b"4\xff", b"4caf\xc3", b"4\xed\xa0\x80", b"\xc0\xaf"])
def test_post_body_that_is_not_utf8_is_a_protocol_error_that_closes(body):
    session = polling()
    with pytest.raises(ProtocolError) as raised:
        session.receive_payload(body, now=1.0)
    assert not isinstance(raised.value, PayloadTooLarge)
    assert session.closed


def test_post_with_non_ascii_base64_is_a_protocol_error_that_closes():
    session = polling()
    with pytest.raises(ProtocolError):
        session.receive_payload("bé".encode("utf-8"), now=1.0)
    assert session.closed


# --- WebSocket ----------------------------------------------------------------------------


def test_websocket_session_sends_each_packet_as_its_own_frame_at_once():
    session = websocket()
    assert session.send_message("hello") == ["4hello"]
    assert session.send_message(b"\x01\x02") == [b"\x01\x02"]
    assert session.send(Packet(PING)) == ["2"]
    assert not session.has_poll_data


def test_websocket_frames_become_message_events():
    session = websocket()
    assert session.receive_frame("4hello", now=1.0) == [MessageReceived("hello")]
    assert session.receive_frame(b"\x01\x02\x03\x04", now=1.0) == [MessageReceived(b"\x01\x02\x03\x04")]


def test_websocket_close_packet_closes_with_transport_close():
    session = websocket()
    assert session.receive_frame("1", now=1.0) == [Closed(CLIENT_CLOSE)]
    assert session.closed
    assert session.close_reason == CLIENT_CLOSE


def test_websocket_frame_over_max_payload_in_utf8_bytes_closes_the_session():
    session = websocket(max_payload=100)
    frame = "4" + "😀" * 25  # 26 characters but 101 bytes
    with pytest.raises(PayloadTooLarge):
        session.receive_frame(frame, now=1.0)
    assert session.closed
    assert session.close_reason == PARSE_ERROR


def test_websocket_frame_of_exactly_max_payload_bytes_is_accepted():
    session = websocket(max_payload=100)
    frame = "4" + "😀" * 24 + "abc"  # 100 bytes
    assert session.receive_frame(frame, now=1.0) == [MessageReceived("😀" * 24 + "abc")]


def test_binary_websocket_frame_over_max_payload_closes_the_session():
    session = websocket(max_payload=100)
    with pytest.raises(PayloadTooLarge):
        session.receive_frame(b"\x00" * 101, now=1.0)
    assert session.closed


@pytest.mark.parametrize("frame", ["abc", "", "0", "2probe", "5", "9"])
def test_invalid_websocket_frame_is_a_protocol_error_that_closes(frame):
    session = websocket()
    with pytest.raises(ProtocolError):
        session.receive_frame(frame, now=1.0)
    assert session.closed


def test_websocket_only_session_cannot_poll_or_upgrade():
    session = websocket()
    with pytest.raises(ProtocolError):
        session.start_poll()
    with pytest.raises(ProtocolError):
        session.start_upgrade()
    with pytest.raises(ProtocolError):
        session.receive_payload(b"4x", now=1.0)
    assert not session.closed


# --- upgrade ----------------------------------------------------------------------------


def test_probe_is_answered_with_3probe_and_the_session_is_upgrading():
    session = polling()
    session.start_upgrade()
    assert session.receive_probe_frame("2probe") == [Transmit(["3probe"])]
    assert session.upgrading
    assert not session.closed


def test_pending_poll_is_answered_with_noop_once_the_probe_arrives():
    session = polling()
    session.start_poll()
    assert not session.has_poll_data
    session.start_upgrade()
    session.receive_probe_frame("2probe")
    assert session.has_poll_data
    assert session.take_poll_payload() == "6"


def test_polls_during_the_upgrade_are_answered_immediately():
    session = polling()
    session.start_upgrade()
    session.receive_probe_frame("2probe")
    assert session.has_poll_data
    assert poll(session) == "6"
    session.send_message("a")
    assert poll(session) == "4a"
    assert session.has_poll_data


def test_client_can_still_post_during_the_upgrade():
    session = polling()
    session.start_upgrade()
    session.receive_probe_frame("2probe")
    assert session.receive_payload(b"4hi", now=1.0) == [MessageReceived("hi")]


def test_upgrade_packet_switches_to_websocket_and_buffered_packets_come_out_as_frames_in_order():
    session = polling()
    session.send_message("before")
    session.start_upgrade()
    session.receive_probe_frame("2probe")
    session.send_message("during")
    session.send_message(b"\x01\x02")
    session.on_timer(25.0)  # a ping queued while upgrading
    [event] = session.receive_probe_frame("5")
    assert event == Upgraded(["4before", "4during", b"\x01\x02", "2"])
    assert session.transport is Transport.WEBSOCKET
    assert session.state is State.OPEN
    assert not session.upgrading
    assert not session.has_poll_data
    assert session.send_message("after") == ["4after"]


def test_upgrade_with_nothing_buffered_has_no_frames():
    assert upgraded(polling()) == []


def test_after_upgrade_the_heartbeat_uses_websocket_frames():
    session = polling()
    upgraded(session)
    assert session.on_timer(25.0) == [Transmit(["2"])]
    assert session.receive_frame("3", now=26.0) == []
    assert session.on_timer(45.0) == []
    assert not session.closed


@pytest.mark.parametrize("frame", ["4hello", "2", "3probe", "1", "6", "2probe", b"\x01", "abc", ""])
def test_anything_but_upgrade_after_the_probe_fails_the_upgrade_and_cancel_returns_to_polling(frame):
    session = polling()
    session.start_upgrade()
    session.receive_probe_frame("2probe")
    with pytest.raises(ProtocolError):
        session.receive_probe_frame(frame)
    session.cancel_upgrade()
    assert session.state is State.OPEN
    assert session.transport is Transport.POLLING
    assert not session.closed
    assert not session.has_poll_data  # back to normal polling: a GET waits again
    session.send_message("still polling")
    assert poll(session) == "4still polling"


@pytest.mark.parametrize("frame", ["5", "4hello", "3probe", "2", "2prob", b"probe"])
def test_anything_but_the_probe_first_fails_the_upgrade(frame):
    session = polling()
    session.start_upgrade()
    with pytest.raises(ProtocolError):
        session.receive_probe_frame(frame)
    assert session.state is State.OPEN
    assert session.transport is Transport.POLLING


def test_cancel_upgrade_when_not_upgrading_changes_nothing():
    session = polling()
    session.cancel_upgrade()
    assert session.state is State.OPEN
    upgraded(session)
    session.cancel_upgrade()
    assert session.transport is Transport.WEBSOCKET
    assert session.state is State.OPEN


def test_polling_after_the_upgrade_is_a_protocol_error_and_the_session_lives_on():
    session = polling()
    upgraded(session)
    with pytest.raises(ProtocolError):
        session.start_poll()
    with pytest.raises(ProtocolError):
        session.receive_payload(b"4hello", now=1.0)
    assert not session.closed
    assert session.receive_frame("4hello", now=1.0) == [MessageReceived("hello")]


def test_second_websocket_after_the_upgrade_is_refused():
    session = polling()
    upgraded(session)
    with pytest.raises(ProtocolError):
        session.start_upgrade()


def test_second_probe_while_upgrading_is_refused():
    session = polling()
    session.start_upgrade()
    session.receive_probe_frame("2probe")
    with pytest.raises(ProtocolError):
        session.start_upgrade()


def test_upgrade_is_refused_when_disabled():
    session = polling(allow_upgrades=False)
    with pytest.raises(ProtocolError):
        session.start_upgrade()


def test_upgrade_of_a_closed_session_is_refused():
    session = polling()
    session.close()
    with pytest.raises(ProtocolError):
        session.start_upgrade()
    with pytest.raises(SessionClosed):
        session.receive_probe_frame("2probe")


# --- fuzz --------------------------------------------------------------------------------

body_strategy = st.one_of(
    st.binary(max_size=80),
    st.text(max_size=60).map(lambda text: text.encode("utf-8")),
    st.text(alphabet="0123456b4\x1e=+/AQIDBAprobe€", max_size=60).map(lambda text: text.encode("utf-8")),
)


@given(body_strategy)
@FUZZ
def test_fuzzed_post_body_gives_events_or_a_protocol_error_that_closes(body):
    session = polling(max_payload=64)
    try:
        events = session.receive_payload(body, now=1.0)
    except ProtocolError:
        assert session.closed
        return
    assert all(isinstance(event, (MessageReceived, Closed)) for event in events)
    assert session.closed == any(isinstance(event, Closed) for event in events)


frame_strategy = st.one_of(
    st.binary(max_size=80),
    st.text(max_size=60),
    st.text(alphabet="0123456probe4😀", max_size=40),
)


@given(frame_strategy)
@FUZZ
def test_fuzzed_websocket_frame_gives_events_or_a_protocol_error_that_closes(frame):
    session = websocket(max_payload=64)
    try:
        events = session.receive_frame(frame, now=1.0)
    except ProtocolError:
        assert session.closed
        return
    assert all(isinstance(event, (MessageReceived, Closed)) for event in events)


@given(frame_strategy, frame_strategy)
@FUZZ
def test_fuzzed_probe_frames_upgrade_or_raise_protocol_error(first, second):
    session = polling()
    session.start_upgrade()
    try:
        for frame in (first, second):
            session.receive_probe_frame(frame)
    except ProtocolError:
        session.cancel_upgrade()
        assert session.state is State.OPEN
        assert not session.closed
        return
    assert (first, second) == ("2probe", "5")
    assert session.transport is Transport.WEBSOCKET


# --- stateful: no message is lost, duplicated or reordered -----------------------------


class SessionMachine(RuleBasedStateMachine):
    """Drives one polling session through sends, polls, heartbeats and an upgrade, and
    checks that the messages the client gets are exactly those sent, in order, until the
    session closes."""

    def __init__(self):
        super().__init__()
        self.now = 0.0
        self.session = polling()
        self.sent: list[str] = []
        self.delivered: list[str] = []

    def _record_frames(self, frames):
        for frame in frames:
            packet = decode_frame(frame)
            if packet.type == MESSAGE:
                self.delivered.append(packet.data)

    @rule()
    def send(self):
        message = f"m{len(self.sent)}"
        if self.session.closed:
            with pytest.raises(SessionClosed):
                self.session.send_message(message)
            return
        self.sent.append(message)
        self._record_frames(self.session.send_message(message))

    @precondition(lambda self: not self.session.closed and self.session.transport is Transport.POLLING)
    @rule()
    def poll(self):
        self.session.start_poll()
        for packet in decode_payload(self.session.take_poll_payload()):
            if packet.type == MESSAGE:
                self.delivered.append(packet.data)

    @rule(seconds=st.sampled_from([1.0, 10.0, 20.0, 30.0]))
    def time_passes(self, seconds):
        self.now += seconds
        results = self.session.on_timer(self.now)
        for result in results:
            if isinstance(result, Transmit):
                self._record_frames(result.frames)

    @precondition(lambda self: not self.session.closed)
    @rule()
    def pong(self):
        if self.session.transport is Transport.POLLING:
            assert self.session.receive_payload(b"3", now=self.now) == []
        else:
            assert self.session.receive_frame("3", now=self.now) == []

    @precondition(
        lambda self: self.session.state is State.OPEN and self.session.transport is Transport.POLLING
    )
    @rule()
    def probe(self):
        self.session.start_upgrade()
        assert self.session.receive_probe_frame("2probe") == [Transmit(["3probe"])]

    @precondition(lambda self: self.session.upgrading)
    @rule()
    def upgrade(self):
        [event] = self.session.receive_probe_frame("5")
        self._record_frames(event.frames)

    @precondition(lambda self: self.session.upgrading)
    @rule()
    def probe_socket_fails(self):
        self.session.cancel_upgrade()

    @invariant()
    def delivered_messages_are_the_sent_ones_in_order(self):
        assert self.delivered == self.sent[: len(self.delivered)]

    @invariant()
    def deadline_is_none_exactly_when_closed(self):
        assert (self.session.deadline is None) == self.session.closed

    def teardown(self):
        if not self.session.closed and self.session.transport is Transport.POLLING:
            self.poll()
        if not self.session.closed:
            assert self.delivered == self.sent


TestSessionMachine = SessionMachine.TestCase
TestSessionMachine.settings = settings(max_examples=100, stateful_step_count=30, deadline=None)
