"""A session whose WebSocket reached another process: what crosses the channel layer.

The layer here is Channels' in-memory one, made to take a millisecond per send as a
round trip to Redis does, so that writes suspend as they do in production.
"""

import asyncio

from channels.layers import InMemoryChannelLayer

from signaling.engine.broker.cluster import ClusterBroker
from signaling.engine.ids import owner_of
from signaling.meeting.context import MeetingConfig
from signaling.meeting.events import MeetingEvents
from signaling.meeting.state.memory import MemoryRoomState
from signaling.engine.protocol.engineio import Transport
from signaling.engine.server import ServerConfig, SocketServer
from signaling.engine.session import Handshake

OWNER, OTHER = "0000000a", "0000000b"
OTHER_CHANNEL = f"t.process.{OTHER}"


class RoundTripLayer(InMemoryChannelLayer):
    async def send(self, channel, message):
        await asyncio.sleep(0.001)
        await super().send(channel, message)

    async def group_add(self, group, channel):
        await asyncio.sleep(0.001)

    async def group_discard(self, group, channel):
        await asyncio.sleep(0.001)


class NoRedis:
    """Takes whatever the broker writes (events, socket records) and keeps nothing: what
    these tests look at crosses the channel layer."""

    def register_script(self, script):
        async def run(keys=(), args=()):
            return [b"1-0"] * len(args) if "XADD" in script else 1

        return run


class RoundTripState(MemoryRoomState):
    """Room state that takes a millisecond to leave, as Redis does."""

    async def leave(self, room, socket_id):
        await asyncio.sleep(0.001)
        return await super().leave(room, socket_id)


class NoDirectory:
    async def identify(self, token):
        return None

    async def open_meeting(self, code):
        return None


def cluster_server():
    layer = RoundTripLayer()
    broker = ClusterBroker(layer, NoRedis(), prefix="t", presence_bound=45, process_id=OWNER)
    return SocketServer(ServerConfig(), broker), broker, layer


async def upgrade_through(broker, session, link="L1"):
    """The client's WebSocket reached the other process, which forwards it here."""
    await broker._dispatch({"type": "ws-open", "sid": session.sid, "link": link, "reply": OTHER_CHANNEL})
    for frame in ("2probe", "5"):
        await broker._dispatch({"type": "ws-frame", "link": link, "frame": frame})
    await asyncio.sleep(0.05)


async def sent_to_other(layer) -> list:
    messages = []
    while True:
        try:
            messages.append(await asyncio.wait_for(layer.receive(OTHER_CHANNEL), 0.05))
        except asyncio.TimeoutError:
            return messages


def test_a_session_that_ends_inside_its_remote_websocket_is_cleaned_up():
    async def scenario():
        server, broker, layer = cluster_server()
        left = []

        @server.of("/").on("disconnect")
        async def disconnect(socket, reason):
            left.append(reason)

        session = server.open_session(Transport.POLLING, Handshake())
        await session.receive_post(b"40")
        await upgrade_through(broker, session)
        await broker._dispatch({"type": "ws-frame", "link": "L1", "frame": "1"})  # the client closes
        await asyncio.sleep(0.1)
        return server, session, left, await sent_to_other(layer)

    server, session, left, sent = asyncio.run(scenario())
    assert session.sid not in server.sessions and left == ["transport close"]
    assert any(m["type"] == "ws-close" for m in sent)



def test_a_websocket_gone_mid_handler_lets_the_handler_finish():
    async def scenario():
        server, broker, layer = cluster_server()
        state = RoundTripState()
        MeetingEvents(server.of("/"), state, NoDirectory(), MeetingConfig(allow_unknown_rooms=True))
        session = server.open_session(Transport.POLLING, Handshake())
        await session.receive_post(b"40")
        await session.receive_post(b'42["join-call",{"roomID":"r","username":"u"}]')
        await upgrade_through(broker, session)
        await broker._dispatch({"type": "ws-frame", "link": "L1", "frame": '42["leave-call"]'})
        await asyncio.sleep(0.0015)  # leave-call is under way...
        await broker._dispatch({"type": "ws-gone", "link": "L1"})  # ...when the client's tab closes
        await asyncio.sleep(0.1)
        return server, session, await state.roster("r")

    server, session, roster = asyncio.run(scenario())
    assert session.sid not in server.sessions and roster == []


def test_frames_queued_before_the_upgrade_go_out_before_newer_ones():
    async def scenario():
        server, broker, layer = cluster_server()
        session = server.open_session(Transport.POLLING, Handshake())
        await session.receive_post(b"40")
        socket = session.sockets["/"]
        for n in range(3):
            await socket.emit("queued", n)
        await broker._dispatch({"type": "ws-open", "sid": session.sid, "link": "L1", "reply": OTHER_CHANNEL})
        await broker._dispatch({"type": "ws-frame", "link": "L1", "frame": "2probe"})
        await broker._dispatch({"type": "ws-frame", "link": "L1", "frame": "5"})
        await asyncio.sleep(0.0015)  # the flush of the queued frames is under way
        await socket.emit("newer", 3)
        await asyncio.sleep(0.05)
        return [m["frame"] for m in await sent_to_other(layer) if m.get("frame", "").startswith("42")]

    assert asyncio.run(scenario()) == ['42["queued",0]', '42["queued",1]', '42["queued",2]', '42["newer",3]']


def test_only_well_formed_process_ids_name_an_owner():
    assert owner_of("abcDEF123_-xyz.0000000a") == "0000000a"
    assert owner_of("abcDEF123_-xyz.!!") is None
    assert owner_of("abcDEF123_-xyz") is None
    assert owner_of(".0000000a") is None
