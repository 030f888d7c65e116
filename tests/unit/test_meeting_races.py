"""Meeting handlers against a client that goes away while they wait on the database."""

import asyncio

import pytest

from signaling.meeting.context import MeetingConfig
from signaling.meeting.events import MeetingEvents
from signaling.meeting.state.base import MeetingInfo
from signaling.meeting.state.memory import MemoryRoomState
from signaling.engine.protocol.engineio import Transport
from signaling.engine.server import ServerConfig, SocketServer
from signaling.engine.session import Handshake


async def connected_session(server):
    """A WebSocket session connected to the main namespace; its frames go nowhere."""

    async def write(frame):
        pass

    async def close():
        pass

    session = server.open_session(Transport.WEBSOCKET, Handshake())
    session.attach_websocket(write, close)
    await session.receive_ws_frame("40", write, close)
    return session, write, close


class SlowDirectory:
    """The database answers only when the test says so."""

    def __init__(self, meeting: MeetingInfo | None):
        self.meeting = meeting
        self.answer = asyncio.Event()

    async def identify(self, token):
        return None

    async def open_meeting(self, code):
        await self.answer.wait()
        return self.meeting


@pytest.mark.parametrize("waiting_room", [False, True], ids=["call", "waiting room"])
def test_a_client_that_leaves_during_its_join_leaves_no_ghost_in_the_room(waiting_room):
    async def scenario():
        server = SocketServer(ServerConfig())
        directory = SlowDirectory(MeetingInfo("host") if waiting_room else None)
        state = MemoryRoomState()
        config = MeetingConfig(allow_unknown_rooms=True, waiting_room=waiting_room)
        MeetingEvents(server.of("/"), state, directory, config)
        session, write, close = await connected_session(server)
        joining = asyncio.create_task(
            session.receive_ws_frame('42["join-call",{"roomID":"r","username":"u","name":"U"}]', write, close)
        )
        await asyncio.sleep(0.01)  # the join waits on the database...
        session.websocket_gone(write)  # ...when the client's connection drops
        await asyncio.sleep(0.01)
        directory.answer.set()
        await joining
        return await state.roster("r"), await state.waiting("r"), server.of("/").rooms

    roster, waiting, delivery_rooms = asyncio.run(scenario())
    assert roster == [] and waiting == [] and delivery_rooms == {}


class RoundTripState(MemoryRoomState):
    """Room state that takes a millisecond to join, as Redis does."""

    async def join(self, room, participant):
        await asyncio.sleep(0.001)
        return await super().join(room, participant)


class TwoMeetings:
    """Meeting "m" needs a host's permission; meeting "b" opens only when told to."""

    def __init__(self):
        self.answer = asyncio.Event()

    async def identify(self, token):
        return None

    async def open_meeting(self, code):
        if code == "b":
            await self.answer.wait()
            return None
        return MeetingInfo("host")


def test_an_admission_that_arrives_while_the_waiter_joins_another_call_is_ignored():
    async def scenario():
        server = SocketServer(ServerConfig())
        directory = TwoMeetings()
        state = RoundTripState()
        MeetingEvents(server.of("/"), state, directory, MeetingConfig(allow_unknown_rooms=True, waiting_room=True))
        session, write, close = await connected_session(server)
        await session.receive_ws_frame('42["join-call",{"roomID":"m","username":"w"}]', write, close)
        waiter = (await state.waiting("m"))[0]
        joining_b = asyncio.create_task(session.receive_ws_frame('42["join-call",{"roomID":"b","username":"w"}]', write, close))
        await asyncio.sleep(0.01)  # tired of waiting, it asks for "b"; meanwhile a host admits it to "m"
        admitting = asyncio.create_task(server.of("/").command(waiter.id, "admit", {"room": "m", "member": waiter.to_dict()}))
        await asyncio.sleep(0)
        directory.answer.set()
        await asyncio.gather(joining_b, admitting)
        return await state.roster("m"), await state.roster("b"), set(server.of("/").rooms)

    in_m, in_b, delivery_rooms = asyncio.run(scenario())
    assert in_m == [] and [p.username for p in in_b] == ["w"] and delivery_rooms == {"b"}
