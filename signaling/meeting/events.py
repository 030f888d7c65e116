"""The meeting events of the web client, as plain handlers on a Socket.IO namespace.

Client -> server: join-call, signal, toggle-media, chat-message, leave-call, and for
hosts and co-hosts force-mute, remove-participant, end-meeting, admit-user, deny-user.
Server -> client: user-joined, signal, user-media-update, chat-message, user-left,
host-controls-update, admit-request, admitted, denied, waiting, force-mute, removed,
meeting-ended, and call-error {event, message} for every refused event.

Who someone is comes from their token, never from a payload; relaying happens only
between sockets of the same room.
"""

import asyncio
import logging
import time
from dataclasses import dataclass

from signaling.cluster import owner_of
from signaling.meeting import validation
from signaling.meeting.directory import Account, Directory
from signaling.meeting.ratelimit import TokenBucket
from signaling.meeting.state import MeetingInfo, Participant, RoomState
from signaling.meeting.validation import Rejected
from signaling.server import ConnectionRefused, Namespace, Socket

log = logging.getLogger("signaling.meeting")

CALL_ERROR = "call-error"


@dataclass(frozen=True)
class MeetingConfig:
    allow_unknown_rooms: bool = False  # join rooms that are no meeting in the database
    waiting_room: bool = False  # honour hostPermissionRequired with a waiting room
    waiting_timeout: float = 120.0  # seconds a joiner may wait for a host
    event_rate: float = 500.0  # events a second per socket, on average
    event_burst: float = 1000.0
    token_cookie: str = "token"


def _socket_token(socket: Socket, auth: dict, cookie_name: str) -> tuple[str | None, bool]:
    """The token a client presents, and whether it asked for it explicitly (auth payload,
    query, header) rather than a browser sending a cookie along."""
    handshake = socket.handshake
    explicit = auth.get("token") or handshake.query.get("token")
    header = handshake.headers.get("authorization", "")
    if not explicit and header.lower().startswith("bearer "):
        explicit = header[7:].strip()
    if isinstance(explicit, str) and explicit:
        return explicit, True
    return handshake.cookies.get(cookie_name), False


def _joined_payload(member: Participant, roster: list[Participant]) -> dict:
    return {
        "id": member.id,
        "clients": [p.id for p in roster],
        "username": member.username,
        "name": member.name,
        "usernamesMap": {p.id: p.username for p in roster},
        "namesMap": {p.id: p.name for p in roster},
        "peerAudioEnabled": member.audioEnabled,
        "peerAudioAvailable": member.audioAvailable,
        "peerVideoEnabled": member.videoEnabled,
        "peerVideoAvailable": member.videoAvailable,
    }


class MeetingEvents:
    def __init__(self, namespace: Namespace, state: RoomState, directory: Directory, config: MeetingConfig):
        self.ns = namespace
        self.state = state
        self.directory = directory
        self.config = config
        namespace.on("connect")(self.connect)
        namespace.on("disconnect")(self.disconnect)
        for event, handler in {
            "join-call": self.join_call,
            "signal": self.signal,
            "toggle-media": self.toggle_media,
            "chat-message": self.chat_message,
            "leave-call": self.leave_call,
            "force-mute": self.force_mute,
            "remove-participant": self.remove_participant,
            "end-meeting": self.end_meeting,
            "admit-user": self.admit_user,
            "deny-user": self.deny_user,
        }.items():
            namespace.on(event)(self._guarded(event, handler))
        namespace.on_command("admit")(self._admit)
        namespace.on_command("deny")(self._deny)
        namespace.on_command("expel")(self._expelled)

    def _guarded(self, event: str, handler):
        """Rate limit, and turn a Rejected into the sender's call-error."""
        async def run(socket: Socket, args: list):
            if not socket.data["bucket"].allow(time.monotonic()):
                await self._refuse(socket, event, "too many events; slow down")
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

    async def _refuse(self, socket: Socket, event: str, message: str) -> None:
        log.info("refused %s from %s: %s", event, socket.id, message)
        await socket.emit(CALL_ERROR, {"event": event, "message": message})

    # --- connection ----------------------------------------------------------------------

    async def connect(self, socket: Socket, auth: dict) -> None:
        token, explicit = _socket_token(socket, auth, self.config.token_cookie)
        account = await self.directory.identify(token) if isinstance(token, str) and token else None
        if account is None and explicit:
            raise ConnectionRefused("Invalid token, login again")
        socket.data.update(
            account=account,
            room=None,
            waiting=None,
            bucket=TokenBucket(self.config.event_rate, self.config.event_burst, time.monotonic()),
        )

    async def disconnect(self, socket: Socket, reason: str) -> None:
        await self._leave(socket)
        await self._stop_waiting(socket)

    # --- joining ---------------------------------------------------------------------------

    def _room_key(self, raw) -> str:
        # Meeting codes are case-insensitive (meetings.services.normalize_meeting_code).
        return validation.text(raw, "roomID", validation.ROOM_MAX).lower()

    async def join_call(self, socket: Socket, args: list) -> None:
        if args and isinstance(args[0], str):
            # An older web client sends (roomID, username, name).
            args = [{"roomID": args[0], "username": args[1] if len(args) > 1 else None, "name": args[2] if len(args) > 2 else None}]
        payload = validation.payload_object(args)
        room = self._room_key(payload.get("roomID"))
        account: Account | None = socket.data["account"]
        if account is not None:
            username = account.username
            name = validation.text(payload.get("name"), "name", validation.NAME_MAX, required=False, default=account.name)
        else:
            # Only a label: a guest has no rights that a name could claim. (Today's client
            # polls without credentials from another origin, so a logged-in user's socket
            # arrives without its cookie and must still be able to join under its name.)
            username = validation.text(payload.get("username"), "username", validation.USERNAME_MAX, required=False, default="guest")
            name = validation.text(payload.get("name"), "name", validation.NAME_MAX, required=False, default=username)
        media = {
            "audioEnabled": validation.flag(payload.get("audioEnabled"), "audioEnabled"),
            "audioAvailable": validation.flag(payload.get("audioAvailable"), "audioAvailable"),
            "videoEnabled": validation.flag(payload.get("videoEnabled"), "videoEnabled"),
            "videoAvailable": validation.flag(payload.get("videoAvailable"), "videoAvailable"),
        }
        # Asking for a call ends any wait for one, before anything awaits: an admission
        # that arrives meanwhile must find the socket no longer waiting.
        await self._stop_waiting(socket)
        meeting = await self.directory.open_meeting(room)
        if not socket.connected:
            return  # the client went away while the database answered
        if meeting is None and not self.config.allow_unknown_rooms:
            raise Rejected("No such meeting found")

        if socket.data["room"] not in (None, room):
            await self._leave(socket)
        member = Participant(socket.id, username, name, _account_name(socket), **media)
        if meeting is not None:
            if not meeting.privileged(member.account):
                # Joining is never refused for it: what the host turned off starts off.
                member.audioEnabled = member.audioEnabled and meeting.allows("audioAllowed")
                member.videoEnabled = member.videoEnabled and meeting.allows("videoAllowed")
            await self.state.set_meeting(room, meeting)
            if self.config.waiting_room and meeting.allows("hostPermissionRequired") and not meeting.privileged(member.account):
                await self._wait(socket, room, member, meeting)
                return
        await self._enter(socket, room, member, meeting)

    async def _enter(self, socket: Socket, room: str, member: Participant, meeting: MeetingInfo | None) -> None:
        # The client can go away at any await; its disconnect handler then runs beside
        # this one, so each step checks before it commits the socket to the room.
        roster = await self.state.join(room, member)
        if not socket.connected:
            await self.state.leave(room, member.id)
            return
        socket.data["room"] = room
        await self.ns.enter_room(socket, room)
        if not socket.connected:
            await self.ns.leave_room(socket, room)  # the disconnect handler has left the call
            return
        await self.ns.emit("user-joined", _joined_payload(member, roster), room=room)
        # The joiner learns the others' names and media state only from user-joined.
        for other in roster:
            if other.id != member.id:
                await socket.emit("user-joined", {**_joined_payload(other, roster), "existing": True})
        for message in await self.state.chat_history(room):
            await socket.emit("chat-message", message)
        if meeting is not None and meeting.privileged(member.account):
            for waiter in await self.state.waiting(room):
                await socket.emit("admit-request", _waiter_payload(waiter))

    async def _leave(self, socket: Socket) -> None:
        room = socket.data.get("room")
        if room is None:
            return
        socket.data["room"] = None
        await self.ns.leave_room(socket, room)
        gone = await self.state.leave(room, socket.id)
        if gone is not None:
            await self.ns.emit("user-left", socket.id, gone.username, room=room)

    async def leave_call(self, socket: Socket, args: list) -> None:
        await self._leave(socket)
        await self._stop_waiting(socket)

    # --- waiting room ------------------------------------------------------------------

    async def _wait(self, socket: Socket, room: str, member: Participant, meeting: MeetingInfo) -> None:
        await self.state.add_waiting(room, member)
        if not socket.connected:
            await self.state.remove_waiting(room, member.id)
            return
        socket.data["waiting"] = room
        socket.data["wait_timer"] = asyncio.get_running_loop().call_later(
            self.config.waiting_timeout, lambda: asyncio.ensure_future(self._waited_too_long(socket, room))
        )
        await socket.emit("waiting", {"roomID": room})
        for other in await self.state.roster(room):
            if meeting.privileged(other.account):
                await self.ns.emit_to(other.id, "admit-request", _waiter_payload(member))

    async def _waited_too_long(self, socket: Socket, room: str) -> None:
        if socket.data.get("waiting") == room and await self.state.remove_waiting(room, socket.id):
            await self._deny(socket, {"roomID": room, "reason": "no host admitted you in time"})

    async def _stop_waiting(self, socket: Socket) -> None:
        room = _end_wait(socket)
        if room is not None:
            await self.state.remove_waiting(room, socket.id)

    async def _settle_waiters(self, room: str, command: str, payload_for) -> None:
        """Admit or deny everyone waiting for `room` at once."""
        for waiter in await self.state.waiting(room):
            if await self.state.remove_waiting(room, waiter.id) is not None:
                await self.ns.command(waiter.id, command, payload_for(waiter))

    async def admit_user(self, socket: Socket, args: list) -> None:
        room, _ = await self._privileged_room(socket)
        member = await self._take_waiter(room, args)
        await self.ns.command(member.id, "admit", _admission(room, member))

    async def deny_user(self, socket: Socket, args: list) -> None:
        room, _ = await self._privileged_room(socket)
        member = await self._take_waiter(room, args)
        await self.ns.command(member.id, "deny", {"roomID": room, "reason": "the host denied entry"})

    async def _take_waiter(self, room: str, args: list) -> Participant:
        waiter_id = validation.text(validation.payload_object(args).get("socketId"), "socketId", validation.ROOM_MAX)
        member = await self.state.remove_waiting(room, waiter_id)
        if member is None:
            raise Rejected("nobody with that socketId is waiting")
        return member

    # Run by the process that owns the waiting socket.

    async def _admit(self, target: Socket, payload: dict) -> None:
        room = payload["room"]
        if target.data.get("waiting") != room:
            return  # it asked for another call, or left, in the meantime
        _end_wait(target)
        await target.emit("admitted", {"roomID": room})
        await self._enter(target, room, Participant.from_dict(payload["member"]), await self.state.meeting(room))

    async def _deny(self, target: Socket, payload: dict) -> None:
        if target.data.get("waiting") != payload["roomID"]:
            return  # it asked for another call, or left, in the meantime
        _end_wait(target)
        await target.emit("denied", payload)

    # --- in the call -------------------------------------------------------------------

    def _room_of(self, socket: Socket) -> str:
        room = socket.data.get("room")
        if room is None:
            raise Rejected("join a call first")
        return room

    async def signal(self, socket: Socket, args: list) -> None:
        room = self._room_of(socket)
        if len(args) < 2:
            raise Rejected("expected (toId, message)")
        to_id, message = args[0], validation.signal_message(args[1])
        if not isinstance(to_id, str):
            raise Rejected("toId must be a socket id")
        target = self.ns.sockets.get(to_id)
        if target is not None:
            if target.data.get("room") != room:
                log.warning("dropped signal from %s to %s: not in the same call", socket.id, to_id)
                raise Rejected("that participant is not in your call")
            await target.emit("signal", socket.id, message)
        elif await self.state.participant(room, to_id) is not None:
            await self.ns.emit_to(to_id, "signal", socket.id, message)
        else:
            log.warning("dropped signal from %s to %s: not in the same call", socket.id, to_id)
            raise Rejected("that participant is not in your call")

    async def toggle_media(self, socket: Socket, args: list) -> None:
        room = self._room_of(socket)
        payload = validation.payload_object(args)
        claimed = payload.get("roomId")
        if claimed is not None and self._room_key(claimed) != room:
            raise Rejected("you are not in that call")
        update = {
            "videoEnabled": validation.flag(payload.get("peerVideoEnabled"), "peerVideoEnabled"),
            "videoAvailable": validation.flag(payload.get("peerVideoAvailable"), "peerVideoAvailable"),
            "audioEnabled": validation.flag(payload.get("peerAudioEnabled"), "peerAudioEnabled"),
            "audioAvailable": validation.flag(payload.get("peerAudioAvailable"), "peerAudioAvailable"),
        }
        meeting = await self.state.meeting(room)
        if meeting is not None and not meeting.privileged(_account_name(socket)):
            for flag_name, control in (("audioEnabled", "audioAllowed"), ("videoEnabled", "videoAllowed")):
                if update[flag_name] and not meeting.allows(control):
                    raise Rejected(f"the host has turned off {flag_name[:5]} for participants")
            if validation.flag(payload.get("peerScreenShareEnabled"), "peerScreenShareEnabled") and not meeting.allows("screenShareAllowed"):
                raise Rejected("the host has turned off screen sharing for participants")
        await self.state.set_media(room, socket.id, update)
        await self._announce_media(room, socket.id, update, skip=socket)

    async def _announce_media(self, room: str, socket_id: str, media: dict, skip: Socket | None) -> None:
        await self.ns.emit(
            "user-media-update",
            {
                "userId": socket_id,
                "peerVideoEnabled": media["videoEnabled"],
                "peerVideoAvailable": media["videoAvailable"],
                "peerAudioEnabled": media["audioEnabled"],
                "peerAudioAvailable": media["audioAvailable"],
            },
            room=room,
            skip=skip,
        )

    async def chat_message(self, socket: Socket, args: list) -> None:
        room = self._room_of(socket)
        payload = validation.payload_object(args)
        data = validation.text(payload.get("data"), "message", validation.CHAT_MAX)
        member = await self.state.participant(room, socket.id)
        if member is None:
            raise Rejected("join a call first")
        # Who sent it is the server's to say, never the client's.
        message = {"sender": member.name, "data": data, "time": validation.chat_time(payload.get("time")), "socketIdSender": socket.id}
        await self.state.add_chat(room, message)
        await self.ns.emit("chat-message", message, room=room)

    # --- host controls -----------------------------------------------------------------

    async def _privileged_room(self, socket: Socket) -> tuple[str, MeetingInfo]:
        room = socket.data.get("room")
        meeting = await self.state.meeting(room) if room is not None else None
        if meeting is None or not meeting.privileged(_account_name(socket)):
            raise Rejected("only the host or a co-host can do that")
        return room, meeting

    async def _target_in(self, room: str, args: list) -> Participant:
        target_id = validation.payload_object(args).get("socketId")
        member = await self.state.participant(room, target_id) if isinstance(target_id, str) else None
        if member is None:
            raise Rejected("that participant is not in your call")
        return member

    async def force_mute(self, socket: Socket, args: list) -> None:
        room, _ = await self._privileged_room(socket)
        target = await self._target_in(room, args)
        kind = validation.payload_object(args).get("kind", "audio")
        if kind not in ("audio", "video"):
            raise Rejected("kind must be audio or video")
        member = await self.state.set_media(room, target.id, {f"{kind}Enabled": False})
        await self.ns.emit_to(target.id, "force-mute", {"kind": kind, "by": socket.id})
        media = {name: getattr(member, name) for name in ("audioEnabled", "audioAvailable", "videoEnabled", "videoAvailable")}
        await self._announce_media(room, target.id, media, skip=self.ns.sockets.get(target.id))

    async def remove_participant(self, socket: Socket, args: list) -> None:
        room, _ = await self._privileged_room(socket)
        target = await self._target_in(room, args)
        await self._expel(room, target.id, "removed", {"by": socket.id})

    async def end_meeting(self, socket: Socket, args: list) -> None:
        room, _ = await self._privileged_room(socket)
        await self._settle_waiters(room, "deny", lambda waiter: {"roomID": room, "reason": "the meeting has ended"})
        for member in await self.state.roster(room):
            await self._expel(room, member.id, "meeting-ended", {"by": socket.id})

    async def _expel(self, room: str, socket_id: str, event: str, payload: dict) -> None:
        await self.ns.command(socket_id, "expel", {"event": event, "payload": payload})

    async def _expelled(self, target: Socket, payload: dict) -> None:
        """Run by the process that owns the socket: tell them why, take them out of the
        call, and end their connection to the namespace (an unmodified client then does
        not reconnect)."""
        await target.emit(payload["event"], payload["payload"])
        await self._leave(target)
        await target.disconnect()

    async def process_lost(self, process: str) -> None:
        """Another process died: its participants leave their calls, as on disconnect."""
        for room in await self.state.rooms_of_process(process):
            for member in await self.state.roster(room):
                if owner_of(member.id) == process and await self.state.leave(room, member.id) is not None:
                    await self.ns.emit("user-left", member.id, member.username, room=room)
            for waiter in await self.state.waiting(room):
                if owner_of(waiter.id) == process:
                    await self.state.remove_waiting(room, waiter.id)
        await self.state.forget_process(process)

    async def meeting_changed(self, room: str, meeting_json: dict) -> None:
        """The meeting was edited (REST): refresh the cached controls, tell the call."""
        if await self.state.meeting(room) is None:
            return
        info = MeetingInfo.from_dict(meeting_json)
        await self.state.set_meeting(room, info)
        await self.ns.emit("host-controls-update", meeting_json, room=room)
        if not info.allows("hostPermissionRequired"):
            # Nobody needs admitting any more, including those already waiting.
            await self._settle_waiters(room, "admit", lambda waiter: _admission(room, waiter))


def _end_wait(socket: Socket) -> str | None:
    """Forget that a socket waits (and its timer); returns the room it waited for."""
    timer = socket.data.pop("wait_timer", None)
    if timer is not None:
        timer.cancel()
    room, socket.data["waiting"] = socket.data.get("waiting"), None
    return room


def _admission(room: str, member: Participant) -> dict:
    return {"room": room, "member": member.to_dict()}


def _account_name(socket: Socket) -> str | None:
    account = socket.data.get("account")
    return account.username if account is not None else None


def _waiter_payload(member: Participant) -> dict:
    return {"socketId": member.id, "username": member.username, "name": member.name}
