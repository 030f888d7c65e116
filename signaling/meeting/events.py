"""The meeting events of the web client, as plain handlers on a Socket.IO namespace.

Client -> server: join-call, signal, toggle-media, chat-message, leave-call, and for
hosts and co-hosts force-mute, remove-participant, end-meeting, admit-user, deny-user.
Server -> client: user-joined, signal, user-media-update, chat-message, user-left,
host-controls-update, admit-request, admitted, denied, waiting, force-mute, removed,
meeting-ended, and call-error {event, message} for every refused event.

Who someone is comes from their token, never from a payload; relaying happens only
between sockets of the same room. The handlers are grouped by concern: joining.py,
relay.py, waiting_room.py, host_controls.py.
"""

import logging
import time

from signaling.engine.server import UNDELIVERED, Namespace, Socket
from signaling.meeting.context import CALL_ERROR, MeetingConfig, MeetingContext, caller_of
from signaling.meeting.directory import Directory
from signaling.meeting.host_controls import EXPEL, HostControls
from signaling.meeting.joining import Calls
from signaling.meeting.links import LinkWatcher
from signaling.meeting.metrics import MeetingMetrics
from signaling.meeting.relay import Relay
from signaling.meeting.state.base import Participant, RoomState
from signaling.meeting.validation import Rejected
from signaling.meeting.waiting_room import ADMIT, DENY, WaitingRoom

log = logging.getLogger("signaling.meeting")


class MeetingEvents:
    def __init__(self, namespace: Namespace, state: RoomState, directory: Directory, config: MeetingConfig):
        ctx = MeetingContext(namespace, state, directory, config)
        self.ctx = ctx
        self.waiting_room = WaitingRoom(ctx, enter=lambda *args: self.calls.enter(*args))
        self.calls = Calls(ctx, self.waiting_room)
        self.relay = Relay(ctx)
        self.host_controls = HostControls(ctx, self.calls, self.waiting_room)
        self.metrics: MeetingMetrics | None = None  # set by a process that exports them
        namespace.server.observer.add(LinkWatcher(ctx))
        namespace.on("connect")(self.calls.connect)
        namespace.on("disconnect")(self.calls.disconnect)
        namespace.data_keeper = self.calls
        for event, handler in {
            "join-call": self.calls.join_call,
            "leave-call": self.calls.leave_call,
            "signal": self.relay.signal,
            "toggle-media": self.relay.toggle_media,
            "chat-message": self.relay.chat_message,
            "force-mute": self.host_controls.force_mute,
            "remove-participant": self.host_controls.remove_participant,
            "end-meeting": self.host_controls.end_meeting,
            "admit-user": self.waiting_room.admit_user,
            "deny-user": self.waiting_room.deny_user,
        }.items():
            namespace.on(event)(self._guarded(event, handler))
        namespace.on_command(ADMIT)(self.waiting_room.admitted)
        namespace.on_command(DENY)(self.waiting_room.denied)
        namespace.on_command(EXPEL)(self.host_controls.expelled)
        namespace.on_command(UNDELIVERED)(self.undelivered)

    def _guarded(self, event: str, handler):
        """Rate limits, and turn a Rejected into the sender's call-error."""

        async def run(socket: Socket, args: list):
            caller, now = caller_of(socket), time.monotonic()
            if not caller.bucket.allow(now):
                await self._refuse(socket, event, "too many events; slow down")
                return None
            if not caller.replies.in_credit(now):
                await self._refuse(socket, event, "too much was sent to you lately; slow down")
                return None
            try:
                return await handler(socket, args)
            except Rejected as rejection:
                await self._refuse(socket, event, rejection.message)
            except Exception:
                # A store that is down (Redis restarting) or a bug: the caller hears of it.
                log.exception("%s from %s failed", event, socket.id)
                await self._refuse(socket, event, "the server could not do that now; try again")
            return None

        return run

    async def undelivered(self, socket: Socket, payload: dict) -> None:
        """What this socket sent one participant did not reach it: not in this call."""
        log.warning("dropped %s from %s to %s: not in the same call", payload["event"], socket.id, payload["to"])
        await self._refuse(socket, payload["event"], "that participant is not in your call")

    async def _refuse(self, socket: Socket, event: str, message: str) -> None:
        log.info("refused %s from %s: %s", event, socket.id, message)
        if self.metrics is not None:
            self.metrics.refused(event, message)
        await self.ctx.reply(socket, CALL_ERROR, {"event": event, "message": message})

    # --- from elsewhere: other processes, the REST API, the admin, commands -------------

    async def process_lost(self, process: str) -> None:
        await self.calls.process_lost(process)

    async def meeting_changed(self, room: str, meeting_json: dict) -> None:
        await self.host_controls.meeting_changed(room, meeting_json)

    async def meeting_ended(self, room: str) -> None:
        """The meeting was deleted: its call ends."""
        await self.host_controls.end_call(room, by=None)

    # --- for the admin, from any process ------------------------------------------------

    async def live_rooms(self) -> dict[str, int]:
        return await self.ctx.state.live_rooms()

    async def live_call(self, room: str) -> tuple[list[Participant], list[Participant]]:
        """Its participants in join order, and who waits to be admitted."""
        return await self.ctx.state.roster(room), await self.ctx.state.waiting(room)

    async def calls_of_accounts(self) -> dict[str, list[str]]:
        """The rooms each logged-in username is in now."""
        rooms_by_account: dict[str, list[str]] = {}
        for room in await self.ctx.state.live_rooms():
            for member in await self.ctx.state.roster(room):
                if member.account is not None and room not in rooms_by_account.setdefault(member.account, []):
                    rooms_by_account[member.account].append(room)
        return rooms_by_account

    async def remove_participant(self, room: str, socket_id: str) -> bool:
        """As a host's remove-participant does, by nobody in the call; a participant whose
        socket no process holds any more is taken out of the call all the same. False when
        it is not in that call."""
        if await self.ctx.state.participant(room, socket_id) is None:
            return False
        if not await self.host_controls.expel(socket_id, "removed", {"by": None}):
            await self.calls.take_out(room, socket_id)
        return True

    async def end_call(self, room: str) -> None:
        """As a host's end-meeting does, by nobody in the call; the meeting stays."""
        await self.host_controls.end_call(room, by=None)
