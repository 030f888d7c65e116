"""Deliveries and connections survive recipients that go away and handlers that fail."""

import asyncio

from autobahn.exception import Disconnected

from signaling.engine.asgi.consumers import WebSocketConsumer
from signaling.engine.protocol.engineio import Transport
from signaling.engine.protocol.socketio import CONNECT, DISCONNECT, Packet
from signaling.engine.server import ServerConfig, SocketServer
from signaling.engine.session import Handshake, Session


class Recipient:
    def __init__(self, socket_id: str, fails: bool = False):
        self.id = socket_id
        self.fails = fails
        self.received: list = []

    async def deliver(self, messages: list, stamped) -> None:
        if self.fails:
            raise RuntimeError("connection lost mid-broadcast")
        self.received.extend(messages)


def test_a_failing_recipient_does_not_stop_a_room_broadcast():
    namespace = SocketServer(ServerConfig()).of("/")
    first, broken, last = Recipient("a"), Recipient("b", fails=True), Recipient("c")
    namespace.rooms["room"] = {r.id: r for r in (first, broken, last)}

    asyncio.run(namespace.emit("user-left", "x", "xavier", room="room"))

    assert first.received == last.received == ['2["user-left","x","xavier"]']


def test_writing_to_a_websocket_that_just_closed_is_not_an_error():
    async def closed_connection(message):
        raise Disconnected("Attempt to send on a closed protocol")

    consumer = WebSocketConsumer(SocketServer(ServerConfig()))
    consumer.base_send = closed_connection

    asyncio.run(consumer.write('2["user-left","x","xavier"]'))  # does not raise


def run_packets(server: SocketServer, *packets: Packet) -> Session:
    """Feed Socket.IO packets to a fresh polling session of `server`."""

    async def scenario():
        session = server.open_session(Transport.POLLING, Handshake())
        for packet in packets:
            await server.handle_packet(session, packet)
        return session

    return asyncio.run(scenario())


def test_a_connect_handler_that_fails_answers_connect_error_and_keeps_the_connection():
    server = SocketServer(ServerConfig())

    @server.of("/").on("connect")
    async def connect(socket, auth):
        raise ConnectionError("the database is down")

    session = run_packets(server, Packet(CONNECT))
    assert session.engine.take_poll_payload() == '44{"message":"Server error, try again"}'
    assert not session.closed and session.sockets == {}


def test_a_disconnect_handler_that_fails_leaves_the_connection_usable():
    server = SocketServer(ServerConfig())

    @server.of("/").on("disconnect")
    async def disconnect(socket, reason):
        raise ConnectionError("Redis is restarting")

    # The DISCONNECT's failure must not escape; the client can connect again after it.
    session = run_packets(server, Packet(CONNECT), Packet(DISCONNECT), Packet(CONNECT))
    assert not session.closed and "/" in session.sockets


def test_two_connects_at_once_make_one_socket():
    server = SocketServer(ServerConfig())

    @server.of("/").on("connect")
    async def connect(socket, auth):
        await asyncio.sleep(0.01)  # a token lookup

    async def scenario():
        session = server.open_session(Transport.POLLING, Handshake())
        # Two POSTs of one client, each carrying a CONNECT, handled side by side.
        await asyncio.gather(server.handle_packet(session, Packet(CONNECT)), server.handle_packet(session, Packet(CONNECT)))
        await session._finish("transport close")
        return server.of("/").sockets

    assert asyncio.run(scenario()) == {}
