"""Meeting handlers against a client that goes away while they wait on the database."""

import asyncio

import pytest

from signaling.meeting.events import MeetingConfig, MeetingEvents
from signaling.meeting.state import MeetingInfo, MemoryRoomState
from signaling.protocol.engineio import Transport
from signaling.server import ServerConfig, SocketServer
from signaling.sessions import Handshake


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
        frames = []

        async def write(frame):
            frames.append(frame)

        async def close():
            pass

        session = server.open_session(Transport.WEBSOCKET, Handshake())
        session.attach_websocket(write, close)
        await session.receive_ws_frame("40", write, close)
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
