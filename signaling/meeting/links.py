"""How each participant is connected (transport, recovering, process), kept in the room
state beside the participant so that the admin of any process can show it: written when
the participant enters its call, and again when the engine says its link changed."""

from signaling.engine import tasks
from signaling.engine.observer import ServerObserver
from signaling.engine.server import Socket
from signaling.meeting.caller import Caller
from signaling.meeting.context import MeetingContext
from signaling.meeting.state.base import Link


def link_of(socket: Socket, process: str) -> Link:
    return Link(socket.transport, socket.away, process)


class LinkWatcher(ServerObserver):
    def __init__(self, ctx: MeetingContext):
        self.ctx = ctx

    def session_upgraded(self, session) -> None:
        for socket in tuple(session.sockets.values()):
            self._refresh(socket)

    def socket_away(self, socket) -> None:
        self._refresh(socket)

    def recovery_succeeded(self, socket) -> None:
        self._refresh(socket)

    def _refresh(self, socket: Socket) -> None:
        if socket.namespace is self.ctx.ns and isinstance(socket.data, Caller) and socket.data.room is not None:
            tasks.spawn(self._write(socket), "participant link")

    async def _write(self, socket: Socket) -> None:
        # Read when it runs, not when asked: of two changes in a row the last one is written.
        room = socket.data.room
        if room is not None:
            await self.ctx.state.set_link(room, socket.id, link_of(socket, self.ctx.config.process_name))
