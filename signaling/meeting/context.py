"""What every group of meeting handlers shares: the namespace, the room state, the
directory of accounts and meetings, the settings, and the per-socket `Caller`."""

from dataclasses import dataclass

from signaling.engine.protocol import socketio
from signaling.engine.server import Namespace, Socket
from signaling.meeting import validation
from signaling.meeting.caller import Caller
from signaling.meeting.directory import Account, Directory
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
    # What the server sends one socket alone in answer to its own events (its roster and
    # the chat history on joining, call-errors): characters a second on average, and the
    # burst. A socket that has had more is refused until it is back in credit.
    reply_rate: float = 256 * 1024
    reply_burst: float = 8 * 1024 * 1024
    # join-calls for rooms that are no meeting, a minute: per socket, and per client address.
    unknown_rooms_per_socket: int = 10
    unknown_rooms_per_address: int = 60
    # A guest may not join under the username of an account: for deployments whose
    # clients present their credentials (same origin, or the CONNECT `auth` token).
    reserve_account_usernames: bool = False
    token_cookie: str = "token"
    # What this process is called in the room state's links (the admin) and its metrics.
    process_name: str = ""


@dataclass(frozen=True)
class MeetingContext:
    ns: Namespace
    state: RoomState
    directory: Directory
    config: MeetingConfig

    async def reply(self, socket: Socket, event: str, *args) -> None:
        """To the socket alone, in answer to its own request: counted against what the
        server may send it (MeetingConfig.reply_rate)."""
        messages = socketio.encode_event(self.ns.name, [event, *args])
        caller_of(socket).replies.charge(sum(len(message) for message in messages))
        await socket.send(messages)

    async def verified_account(self, socket: Socket) -> Account | None:
        """The caller's account while its token holds. A token that was revoked (logout,
        the admin's "end all sessions", a newer login beyond the per-user cap) or has
        expired leaves the socket without account rights from then on."""
        caller = caller_of(socket)
        if caller.account is None:
            return None
        account = await self.directory.identify(caller.token)
        if account is None or account.username != caller.account.username:
            caller.account = caller.token = None
            return None
        return account

    async def privileged(self, socket: Socket, meeting: MeetingInfo) -> bool:
        """Host or co-host of `meeting`, by a token that still holds."""
        return meeting.privileged(caller_of(socket).account_name) and await self.verified_account(socket) is not None

    async def privileged_room(self, socket: Socket) -> tuple[str, MeetingInfo]:
        """The caller's room, if the caller is its host or a co-host; else Rejected."""
        room = caller_of(socket).room
        meeting = await self.state.meeting(room) if room is not None else None
        if meeting is None or not await self.privileged(socket, meeting):
            raise Rejected("only the host or a co-host can do that")
        return room, meeting

    def client_address(self, socket: Socket) -> str:
        """The address the engine counts the socket's session under (ServerConfig)."""
        return self.ns.server.config.client_address(socket.handshake)


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
