"""What hosts and co-hosts may do in a call (`force-mute`, `remove-participant`,
`end-meeting`), and changes to a meeting made elsewhere (REST, admin, commands) reaching
its call."""

from signaling.engine.server import Socket
from signaling.meeting import validation
from signaling.meeting.context import MeetingContext
from signaling.meeting.joining import Calls
from signaling.meeting.media import turned_off
from signaling.meeting.relay import announce_media
from signaling.meeting.state.base import MeetingInfo, Participant
from signaling.meeting.validation import Rejected
from signaling.meeting.waiting_room import WaitingRoom

EXPEL = "expel"


class HostControls:
    def __init__(self, ctx: MeetingContext, calls: Calls, waiting_room: WaitingRoom):
        self.ctx = ctx
        self.calls = calls
        self.waiting_room = waiting_room

    async def _target_in(self, room: str, args: list) -> Participant:
        target_id = validation.payload_object(args).get("socketId")
        member = await self.ctx.state.participant(room, target_id) if isinstance(target_id, str) else None
        if member is None:
            raise Rejected("that participant is not in your call")
        return member

    async def force_mute(self, socket: Socket, args: list) -> None:
        room, _ = await self.ctx.privileged_room(socket)
        target = await self._target_in(room, args)
        kind = validation.payload_object(args).get("kind", "audio")
        if kind not in ("audio", "video"):
            raise Rejected("kind must be audio or video")
        member = await self.ctx.state.set_media(room, target.id, turned_off(kind))
        ns = self.ctx.ns
        await ns.emit_to(target.id, "force-mute", {"kind": kind, "by": socket.id})
        await announce_media(ns, room, target.id, member.media, skip=ns.sockets.get(target.id))

    async def remove_participant(self, socket: Socket, args: list) -> None:
        room, _ = await self.ctx.privileged_room(socket)
        target = await self._target_in(room, args)
        await self.expel(target.id, "removed", {"by": socket.id})

    async def end_meeting(self, socket: Socket, args: list) -> None:
        room, _ = await self.ctx.privileged_room(socket)
        await self.end_call(room, by=socket.id)

    async def end_call(self, room: str, by: str | None) -> None:
        """Everyone leaves the call, told why; those waiting are denied. Participants
        whose socket no process holds any more leave all the same."""
        await self.waiting_room.deny_all(room, "the meeting has ended")
        for member in await self.ctx.state.roster(room):
            if not await self.expel(member.id, "meeting-ended", {"by": by}):
                await self.calls.take_out(room, member.id)

    async def expel(self, socket_id: str, event: str, payload: dict) -> bool:
        """False when no process holds the socket."""
        return await self.ctx.ns.command(socket_id, EXPEL, {"event": event, "payload": payload})

    async def expelled(self, target: Socket, payload: dict) -> None:
        """Run by the process that owns the socket: tell them why, take them out of the
        call, and end their connection to the namespace (an unmodified client then does
        not reconnect)."""
        await target.emit(payload["event"], payload["payload"])
        await self.calls.leave(target)
        await target.disconnect()

    async def meeting_changed(self, room: str, meeting_json: dict) -> None:
        """The meeting was edited: refresh the cached controls, tell the call."""
        if await self.ctx.state.meeting(room) is None:
            return
        info = MeetingInfo.from_dict(meeting_json)
        await self.ctx.state.set_meeting(room, info)
        await self.ctx.ns.emit("host-controls-update", meeting_json, room=room)
        if not info.allows("hostPermissionRequired"):
            # Nobody needs admitting any more, including those already waiting.
            await self.waiting_room.admit_all(room)
