"""Joining and leaving calls: `connect`, `join-call`, `leave-call`, disconnect, and the
participants of a process that died."""

import dataclasses
import time

from accounts.credentials import bearer_token, choose_credential
from meetings.ice_servers import ice_servers_for
from signaling.engine.ids import owner_of
from signaling.engine.server import ConnectionRefused, Socket
from signaling.meeting import payloads, validation
from signaling.meeting.caller import Caller
from signaling.meeting.context import MeetingContext, caller_of, room_key
from signaling.meeting.links import link_of
from signaling.meeting.media import Media
from signaling.meeting.ratelimit import BucketsByKey, TokenBucket
from signaling.meeting.state.base import MeetingInfo, Participant
from signaling.meeting.validation import Rejected
from signaling.meeting.waiting_room import WaitingRoom


TOO_MANY_UNKNOWN_ROOMS = "too many attempts at calls that are no meeting; slow down"
RESERVED_USERNAME = "that username belongs to an account: log in to use it"


class Calls:
    def __init__(self, ctx: MeetingContext, waiting_room: WaitingRoom):
        self.ctx = ctx
        self.waiting_room = waiting_room
        per_address = ctx.config.unknown_rooms_per_address
        self.unknown_rooms_by_address = BucketsByKey(per_address / 60, per_address)

    # --- connection --------------------------------------------------------------------

    async def connect(self, socket: Socket, auth: dict) -> None:
        handshake = socket.handshake
        credential = choose_credential(
            presented=auth.get("token") or bearer_token(handshake.headers.get("authorization", "")),
            cookie=handshake.cookies.get(self.ctx.config.token_cookie),
        )
        account = await self.ctx.directory.identify(credential.token) if credential is not None else None
        if account is None and credential is not None and not credential.from_cookie:
            raise ConnectionRefused("Invalid token, login again")
        socket.data = self._new_caller(account, credential.token if account is not None else None)

    def _new_caller(self, account, token: str | None) -> Caller:
        config, now = self.ctx.config, time.monotonic()
        return Caller(
            account,
            token,
            TokenBucket(config.event_rate, config.event_burst, now),
            TokenBucket(config.reply_rate, config.reply_burst, now),
            TokenBucket(config.unknown_rooms_per_socket / 60, config.unknown_rooms_per_socket, now),
        )

    # --- a socket carried on by another process (the engine's SocketData) ---------------

    def dump(self, socket: Socket) -> dict:
        caller = caller_of(socket)
        return {"token": caller.token, "room": caller.room, "waiting": caller.waiting}

    async def load(self, socket: Socket, data: dict) -> None:
        """Its account is looked up again (the token may have been revoked meanwhile);
        its rate limits start afresh, and so does a wait for admission."""
        token = data["token"]
        account = await self.ctx.directory.identify(token) if token is not None else None
        socket.data = caller = self._new_caller(account, token if account is not None else None)
        caller.room = data["room"]
        if data["waiting"] is not None:
            self.waiting_room.resume(socket, data["waiting"])

    def drop(self, socket: Socket) -> None:
        caller_of(socket).end_wait()

    async def disconnect(self, socket: Socket, reason: str) -> None:
        await self.leave(socket)
        await self.waiting_room.stop_waiting(socket)

    # --- joining -----------------------------------------------------------------------

    async def join_call(self, socket: Socket, args: list) -> None:
        if args and isinstance(args[0], str):
            # An older web client sends (roomID, username, name).
            args = [{"roomID": args[0], "username": args[1] if len(args) > 1 else None, "name": args[2] if len(args) > 2 else None}]
        payload = validation.payload_object(args)
        room = room_key(payload.get("roomID"))
        caller = caller_of(socket)
        if caller.room == room and await self.rejoined(socket, room):
            return
        if caller.waiting == room:
            # Knocking again: the hosts were told once, when it began to wait.
            await self.ctx.reply(socket, "waiting", {"roomID": room})
            return
        unknown_rooms = self._unknown_rooms(socket)
        account = await self.ctx.verified_account(socket)
        if account is not None:
            username = account.username
            name = validation.text(payload.get("name"), "name", validation.NAME_MAX, required=False, default=account.name)
        else:
            # Only a label: a guest has no rights that a name could claim. (Today's client
            # polls without credentials from another origin, so a logged-in user's socket
            # arrives without its cookie and must still be able to join under its name,
            # unless the deployment reserves account usernames.)
            claimed = validation.text(payload.get("username"), "username", validation.USERNAME_MAX, required=False)
            if claimed is not None and self.ctx.config.reserve_account_usernames and await self.ctx.directory.username_taken(claimed):
                raise Rejected(RESERVED_USERNAME)
            username = claimed or "guest"
            name = validation.text(payload.get("name"), "name", validation.NAME_MAX, required=False, default=username)
        media = Media.from_join(payload)
        # Asking for a call ends any wait for one, before anything awaits: an admission
        # that arrives meanwhile must find the socket no longer waiting.
        await self.waiting_room.stop_waiting(socket)
        meeting = await self.ctx.directory.open_meeting(room)
        if not socket.connected:
            return  # the client went away while the database answered
        if meeting is None and not self.ctx.config.allow_unknown_rooms:
            for bucket in unknown_rooms:
                bucket.charge(1)
            raise Rejected("No such meeting found")

        if caller.room not in (None, room):
            await self.leave(socket)
        member = Participant(socket.id, username, name, caller.account_name, media, joined_at=time.time())
        if meeting is not None:
            if not meeting.privileged(member.account):
                # Joining is never refused for it: what the host turned off starts off.
                member.media = Media(
                    media.audioEnabled and meeting.allows("audioAllowed"),
                    media.audioAvailable,
                    media.videoEnabled and meeting.allows("videoAllowed"),
                    media.videoAvailable,
                )
            await self.ctx.state.set_meeting(room, meeting)
            if self.ctx.config.waiting_room and meeting.allows("hostPermissionRequired") and not meeting.privileged(member.account):
                await self.waiting_room.wait(socket, room, member, meeting)
                return
        await self.enter(socket, room, member, meeting)

    def _own_joined(self, member: Participant, roster: dict) -> dict:
        """The joiner's own `user-joined` also carries its ICE servers (a field today's
        client ignores)."""
        ice = ice_servers_for(member.account, now=time.time())
        return {**payloads.joined(member, roster), "iceServers": ice["iceServers"], "iceServersTtl": ice["ttl"]}

    async def enter(self, socket: Socket, room: str, member: Participant, meeting: MeetingInfo | None) -> None:
        # The client can go away at any await; its disconnect handler then runs beside
        # this one, so each step checks before it commits the socket to the room.
        ns, state = self.ctx.ns, self.ctx.state
        process = self.ctx.config.process_name
        member = dataclasses.replace(member, joined_at=time.time(), link=link_of(socket, process))
        roster = await state.join(room, member)
        if not socket.connected:
            await state.leave(room, member.id)
            return
        caller_of(socket).room = room
        if link_of(socket, process) != member.link:  # upgraded meanwhile, unseen by the LinkWatcher
            await state.set_link(room, member.id, link_of(socket, process))
        await ns.enter_room(socket, room)
        if not socket.connected:
            await ns.leave_room(socket, room)  # the disconnect handler has left the call
            return
        everyone = payloads.roster_fields(roster)
        await ns.emit("user-joined", payloads.joined(member, everyone), room=room, skip=socket)
        await socket.emit("user-joined", self._own_joined(member, everyone))
        # The joiner learns the others' names and media state only from user-joined.
        for other in roster:
            if other.id != member.id:
                await self.ctx.reply(socket, "user-joined", {**payloads.joined(other, everyone), "existing": True})
        for message in await state.chat_history(room):
            await self.ctx.reply(socket, "chat-message", message)
        if meeting is not None and meeting.privileged(member.account):
            for waiter in await state.waiting(room):
                await self.ctx.reply(socket, "admit-request", payloads.waiter(waiter))

    async def rejoined(self, socket: Socket, room: str) -> bool:
        """A join-call from a socket already in that call: its own user-joined, to it
        alone, with the room as it is now; nothing to the others, no roster entries or
        history again. False when the room state has lost it (Redis restarted): it then
        joins anew."""
        roster = await self.ctx.state.roster(room)
        member = next((p for p in roster if p.id == socket.id), None)
        if member is None:
            return False
        await self.ctx.reply(socket, "user-joined", self._own_joined(member, payloads.roster_fields(roster)))
        return True

    def _unknown_rooms(self, socket: Socket) -> tuple[TokenBucket, ...]:
        """The socket's and its address's budgets of join-calls for rooms that are no
        meeting (guessing codes); Rejected when either is spent."""
        now = time.monotonic()
        buckets = caller_of(socket).unknown_rooms, self.unknown_rooms_by_address.of(self.ctx.client_address(socket), now)
        if not all(bucket.in_credit(now) for bucket in buckets):
            raise Rejected(TOO_MANY_UNKNOWN_ROOMS)
        return buckets

    # --- leaving -----------------------------------------------------------------------

    async def leave(self, socket: Socket) -> None:
        caller = caller_of(socket)
        room = caller.room
        if room is None:
            return
        caller.room = None
        await self.ctx.ns.leave_room(socket, room)
        gone = await self.ctx.state.leave(room, socket.id)
        if gone is not None:
            await self.ctx.ns.emit("user-left", socket.id, gone.username, room=room)

    async def leave_call(self, socket: Socket, args: list) -> None:
        await self.leave(socket)
        await self.waiting_room.stop_waiting(socket)

    async def take_out(self, room: str, socket_id: str) -> bool:
        """A participant whose socket no process holds leaves its call, as on disconnect."""
        gone = await self.ctx.state.leave(room, socket_id)
        if gone is not None:
            await self.ctx.ns.emit("user-left", gone.id, gone.username, room=room)
        return gone is not None

    async def process_lost(self, process: str) -> None:
        """Another process died: its participants leave their calls, as on disconnect,
        but for those whose sockets live on (recovering, here or on another process)."""
        state, ns = self.ctx.state, self.ctx.ns
        for room in await state.rooms_of_process(process):
            for member in await state.roster(room):
                if owner_of(member.id) == process and not await ns.lives(member.id):
                    await self.take_out(room, member.id)
            for waiter in await state.waiting(room):
                if owner_of(waiter.id) == process and not await ns.lives(waiter.id):
                    await state.remove_waiting(room, waiter.id)
        await state.forget_process(process)
