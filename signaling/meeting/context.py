"""What every group of meeting handlers shares: the namespace, the room state, the
directory of accounts and meetings, the settings, and the per-socket `Caller`."""

from dataclasses import dataclass

from signaling.engine.server import Namespace, Socket
from signaling.meeting import validation
from signaling.meeting.caller import Caller
from signaling.meeting.directory import Directory
from signaling.meeting.state.base import MeetingInfo, RoomState
from signaling.meeting.validation import Rejected

CALL_ERROR = "call-error"


@dataclass(frozen=True)
class MeetingConfig:
    allow_unknown_rooms: bool = False  # join rooms that are no meeting in the database
    waiting_room: bool = False  # honour hostPermissionRequired with a waiting room
    waiting_timeout: float = 120.0  # seconds a joiner may wait for a host
    event_rate: float = 500.0  # events a second per socket, on average
    event_burst: float = 1000.0
    token_cookie: str = "token"


@dataclass(frozen=True)
class MeetingContext:
    ns: Namespace
    state: RoomState
    directory: Directory
    config: MeetingConfig

    async def privileged_room(self, socket: Socket) -> tuple[str, MeetingInfo]:
        """The caller's room, if the caller is its host or a co-host; else Rejected."""
        room = caller_of(socket).room
        meeting = await self.state.meeting(room) if room is not None else None
        if meeting is None or not meeting.privileged(caller_of(socket).account_name):
            raise Rejected("only the host or a co-host can do that")
        return room, meeting


def caller_of(socket: Socket) -> Caller:
    return socket.data


def room_of(socket: Socket) -> str:
    room = caller_of(socket).room
    if room is None:
        raise Rejected("join a call first")
    return room


def room_key(raw) -> str:
    # Meeting codes are case-insensitive (meetings.services.normalize_meeting_code).
    return validation.text(raw, "roomID", validation.ROOM_MAX).lower()
