"""Limits that keep one misbehaving client from holding a session or memory forever."""

import pytest

from signaling.engine.protocol.engineio import TRANSPORT_ERROR, EngineConfig, EngineSession, ProtocolError, Transmit, Transport
from signaling.engine.protocol.socketio import SocketIOConnection

CONFIG = EngineConfig(ping_interval=25, ping_timeout=20, max_payload=1000, max_buffer=3000)


def test_a_pong_nobody_asked_for_does_not_postpone_the_heartbeat():
    session = EngineSession("s", CONFIG, Transport.WEBSOCKET, now=0)
    session.receive_frame("3", now=20)  # unprompted: the ping is still due at 25
    assert session.on_timer(now=25) == [Transmit(["2"])]
    session.receive_frame("3", now=30)  # the answer to that ping
    assert session.deadline == 55


def test_a_polling_client_that_stops_polling_is_given_up_past_the_buffer_limit():
    session = EngineSession("s", CONFIG, Transport.POLLING, now=0)
    for _ in range(2):
        session.send_message("x" * 1000)
    assert not session.closed
    session.send_message("x" * 1000)
    assert session.closed and session.close_reason == TRANSPORT_ERROR


def test_a_poll_empties_the_buffer_and_its_count():
    session = EngineSession("s", CONFIG, Transport.POLLING, now=0)
    for _ in range(5):
        session.send_message("x" * 900)
        session.start_poll()
        session.take_poll_payload()
    assert not session.closed


def test_binary_attachments_of_one_packet_are_capped_in_bytes():
    connection = SocketIOConnection(now=0, connect_timeout=45, max_attachment_bytes=1000)
    connection.accept("/", "sid")
    placeholders = ",".join('{"_placeholder":true,"num":%d}' % i for i in range(3))
    assert connection.receive(f'53-["upload",{placeholders}]') is None
    assert connection.receive(b"x" * 600) is None
    with pytest.raises(ProtocolError):
        connection.receive(b"x" * 600)
