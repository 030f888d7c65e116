"""The waiting room: a joiner who needs the host's permission waits until a host or
co-host admits or denies them, or until the wait times out.

Admissions and denials run as namespace commands on the process that owns the waiting
socket, and act only on a socket still waiting for that room.
"""

from collections.abc import Awaitable, Callable

from signaling.engine import tasks
from signaling.engine.server import Socket
from signaling.meeting import payloads, validation
from signaling.meeting.context import MeetingContext, caller_of
from signaling.meeting.state.base import MeetingInfo, Participant
from signaling.meeting.validation import Rejected

# Lets an admitted socket into the call (joining.Calls.enter).
Enter = Callable[[Socket, str, Participant, MeetingInfo | None], Awaitable[None]]

ADMIT, DENY = "admit", "deny"


class WaitingRoom:
    def __init__(self, ctx: MeetingContext, enter: Enter):
        self.ctx = ctx
        self.enter = enter

    async def wait(self, socket: Socket, room: str, member: Participant, meeting: MeetingInfo) -> None:
        state = self.ctx.state
        await state.add_waiting(room, member)
        if not socket.connected:
            await state.remove_waiting(room, member.id)
            return
        self.resume(socket, room)
        await socket.save()
        await self.ctx.reply(socket, "waiting", {"roomID": room})
        for other in await state.roster(room):
            if meeting.privileged(other.account):
                await self.ctx.ns.emit_to(other.id, "admit-request", payloads.waiter(member))

    def resume(self, socket: Socket, room: str) -> None:
        """The socket waits for `room` from now on, until the timeout."""
        caller = caller_of(socket)
        caller.waiting = room
        caller.wait_timer = tasks.later(
            self.ctx.config.waiting_timeout, lambda: self._waited_too_long(socket, room), "waiting-room timeout"
        )

    async def _waited_too_long(self, socket: Socket, room: str) -> None:
        if caller_of(socket).waiting == room and await self.ctx.state.remove_waiting(room, socket.id):
            await self.denied(socket, {"roomID": room, "reason": "no host admitted you in time"})

    async def stop_waiting(self, socket: Socket) -> None:
        room = caller_of(socket).end_wait()
        if room is not None:
            await self.ctx.state.remove_waiting(room, socket.id)
            await socket.save()

    async def settle(self, room: str, command: str, payload_for: Callable[[Participant], dict]) -> None:
        """Admit or deny everyone waiting for `room` at once."""
        for waiter in await self.ctx.state.waiting(room):
            if await self.ctx.state.remove_waiting(room, waiter.id) is not None:
                await self.ctx.ns.command(waiter.id, command, payload_for(waiter))

    async def admit_all(self, room: str) -> None:
        await self.settle(room, ADMIT, lambda waiter: payloads.admission(room, waiter))

    async def deny_all(self, room: str, reason: str) -> None:
        await self.settle(room, DENY, lambda waiter: {"roomID": room, "reason": reason})

    # --- host and co-host events -------------------------------------------------------

    async def admit_user(self, socket: Socket, args: list) -> None:
        room, _ = await self.ctx.privileged_room(socket)
        member = await self._take_waiter(room, args)
        await self.ctx.ns.command(member.id, ADMIT, payloads.admission(room, member))

    async def deny_user(self, socket: Socket, args: list) -> None:
        room, _ = await self.ctx.privileged_room(socket)
        member = await self._take_waiter(room, args)
        await self.ctx.ns.command(member.id, DENY, {"roomID": room, "reason": "the host denied entry"})

    async def _take_waiter(self, room: str, args: list) -> Participant:
        waiter_id = validation.text(validation.payload_object(args).get("socketId"), "socketId", validation.ROOM_MAX)
        member = await self.ctx.state.remove_waiting(room, waiter_id)
        if member is None:
            raise Rejected("nobody with that socketId is waiting")
        return member

    # --- commands, run by the process that owns the waiting socket ---------------------

    async def admitted(self, target: Socket, payload: dict) -> None:
        room = payload["room"]
        caller = caller_of(target)
        if caller.waiting != room:
            return  # it asked for another call, or left, in the meantime
        caller.end_wait()
        await target.emit("admitted", {"roomID": room})
        await self.enter(target, room, Participant.from_dict(payload["member"]), await self.ctx.state.meeting(room))

    async def denied(self, target: Socket, payload: dict) -> None:
        caller = caller_of(target)
        if caller.waiting != payload["roomID"]:
            return  # it asked for another call, or left, in the meantime
        caller.end_wait()
        await target.save()
        await target.emit("denied", payload)
