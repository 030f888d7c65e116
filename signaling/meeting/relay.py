"""What participants of a call send each other: `signal` (SDP and ICE, to one peer),
`toggle-media` and `chat-message` (to the room). Relaying happens only within a call."""

from signaling.engine.server import Namespace, Socket
from signaling.meeting import payloads, validation
from signaling.meeting.context import MeetingContext, room_key, room_of
from signaling.meeting.media import Media
from signaling.meeting.state.base import MeetingInfo
from signaling.meeting.validation import Rejected


async def announce_media(ns: Namespace, room: str, socket_id: str, media: Media, skip: Socket | None) -> None:
    await ns.emit("user-media-update", payloads.media_update(socket_id, media), room=room, skip=skip)


def _turned_off_by_host(meeting: MeetingInfo, media: Media, screen_share: bool) -> str | None:
    """Why a participant may not turn this on, if the host's controls forbid it."""
    for kind, control in (("audio", "audioAllowed"), ("video", "videoAllowed")):
        if media.enabled(kind) and not meeting.allows(control):
            return f"the host has turned off {kind} for participants"
    if screen_share and not meeting.allows("screenShareAllowed"):
        return "the host has turned off screen sharing for participants"
    return None


class Relay:
    def __init__(self, ctx: MeetingContext):
        self.ctx = ctx

    async def signal(self, socket: Socket, args: list) -> None:
        room = room_of(socket)
        if len(args) < 2:
            raise Rejected("expected (toId, message)")
        to_id, message = args[0], validation.signal_message(args[1])
        if not isinstance(to_id, str):
            raise Rejected("toId must be a socket id")
        # The process holding the recipient checks that it is in this call; if not, the
        # sender hears of it (MeetingEvents.undelivered).
        await self.ctx.ns.emit_to(to_id, "signal", socket.id, message, member_of=room, sender=socket)

    async def toggle_media(self, socket: Socket, args: list) -> None:
        room = room_of(socket)
        payload = validation.payload_object(args)
        claimed = payload.get("roomId")
        if claimed is not None and room_key(claimed) != room:
            raise Rejected("you are not in that call")
        media = Media.from_toggle(payload)
        meeting = await self.ctx.state.meeting(room)
        if meeting is not None:
            refusal = _turned_off_by_host(meeting, media, validation.flag(payload.get("peerScreenShareEnabled"), "peerScreenShareEnabled"))
            if refusal is not None and not await self.ctx.privileged(socket, meeting):  # hosts are exempt
                raise Rejected(refusal)
        await self.ctx.state.set_media(room, socket.id, media.stored())
        await announce_media(self.ctx.ns, room, socket.id, media, skip=socket)

    async def chat_message(self, socket: Socket, args: list) -> None:
        room = room_of(socket)
        payload = validation.payload_object(args)
        data = validation.text(payload.get("data"), "message", validation.CHAT_MAX)
        member = await self.ctx.state.participant(room, socket.id)
        if member is None:
            raise Rejected("join a call first")
        # Who sent it is the server's to say, never the client's.
        message = {"sender": member.name, "data": data, "time": validation.chat_time(payload.get("time")), "socketIdSender": socket.id}
        await self.ctx.state.add_chat(room, message)
        await self.ctx.ns.emit("chat-message", message, room=room)
