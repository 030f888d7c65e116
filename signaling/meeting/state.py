"""Live state of the calls: who is in each room (in join order), their names and media
state, the room's chat history, the meeting's host and controls, and who waits to be
admitted. Behind one interface, so that several processes can share it (RedisRoomState).
"""

import abc
import dataclasses
from collections import deque
from dataclasses import dataclass, field

CHAT_HISTORY_LIMIT = 200
MEDIA_FIELDS = ("audioEnabled", "audioAvailable", "videoEnabled", "videoAvailable")


@dataclass
class Participant:
    id: str  # socket id
    username: str | None
    name: str
    account: str | None = None  # the logged-in username behind the socket; None for guests
    audioEnabled: bool = False
    audioAvailable: bool = False
    videoEnabled: bool = False
    videoAvailable: bool = False

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Participant":
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data})


@dataclass
class MeetingInfo:
    """What the live call needs of the meeting document, cached with the room."""

    hostUsername: str | None = None
    coHostUsernames: list = field(default_factory=list)
    hostControls: dict = field(default_factory=dict)

    def privileged(self, account: str | None) -> bool:
        """Hosts and co-hosts: decided by the logged-in identity only."""
        return account is not None and (account == self.hostUsername or account in self.coHostUsernames)

    def allows(self, control: str) -> bool:
        return self.hostControls.get(control, True)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "MeetingInfo":
        return cls(
            hostUsername=data.get("hostUsername"),
            coHostUsernames=list(data.get("coHostUsernames") or []),
            hostControls=dict(data.get("hostControls") or {}),
        )


class RoomState(abc.ABC):
    """Every method is a coroutine: an implementation may be across the network."""

    @abc.abstractmethod
    async def join(self, room: str, participant: Participant) -> list[Participant]:
        """Add or update a participant; returns the room's roster in join order."""

    @abc.abstractmethod
    async def leave(self, room: str, socket_id: str) -> Participant | None:
        """Remove a participant; the room is forgotten (with its history) once empty."""

    @abc.abstractmethod
    async def roster(self, room: str) -> list[Participant]: ...

    @abc.abstractmethod
    async def participant(self, room: str, socket_id: str) -> Participant | None: ...

    @abc.abstractmethod
    async def set_media(self, room: str, socket_id: str, media: dict) -> Participant | None:
        """Update a participant who is still there; None (and nothing written) if not."""

    @abc.abstractmethod
    async def add_chat(self, room: str, message: dict) -> None:
        """Append to the history of a room with people in it, keeping the newest
        CHAT_HISTORY_LIMIT messages."""

    @abc.abstractmethod
    async def chat_history(self, room: str) -> list[dict]: ...

    @abc.abstractmethod
    async def meeting(self, room: str) -> MeetingInfo | None: ...

    @abc.abstractmethod
    async def set_meeting(self, room: str, info: MeetingInfo) -> None: ...

    @abc.abstractmethod
    async def add_waiting(self, room: str, participant: Participant) -> None: ...

    @abc.abstractmethod
    async def remove_waiting(self, room: str, socket_id: str) -> Participant | None: ...

    @abc.abstractmethod
    async def waiting(self, room: str) -> list[Participant]: ...


@dataclass
class _Room:
    members: dict = field(default_factory=dict)  # socket id -> Participant, join order
    history: deque = field(default_factory=lambda: deque(maxlen=CHAT_HISTORY_LIMIT))
    waiting: dict = field(default_factory=dict)
    meeting: MeetingInfo | None = None


class MemoryRoomState(RoomState):
    """One process: plain dictionaries."""

    def __init__(self):
        self._rooms: dict[str, _Room] = {}

    def _room(self, room: str) -> _Room:
        state = self._rooms.get(room)
        if state is None:
            state = self._rooms[room] = _Room()
        return state

    async def join(self, room, participant):
        members = self._room(room).members
        members[participant.id] = participant
        return list(members.values())

    def _take(self, room: str, socket_id: str, waiting: bool) -> Participant | None:
        state = self._rooms.get(room)
        if state is None:
            return None
        gone = (state.waiting if waiting else state.members).pop(socket_id, None)
        if not state.members and not state.waiting:
            del self._rooms[room]
        return gone

    async def leave(self, room, socket_id):
        return self._take(room, socket_id, waiting=False)

    async def roster(self, room):
        state = self._rooms.get(room)
        return list(state.members.values()) if state else []

    async def participant(self, room, socket_id):
        state = self._rooms.get(room)
        return state.members.get(socket_id) if state else None

    async def set_media(self, room, socket_id, media):
        member = await self.participant(room, socket_id)
        if member is not None:
            for name, value in media.items():
                setattr(member, name, value)
        return member

    async def add_chat(self, room, message):
        state = self._rooms.get(room)
        if state is not None and state.members:  # an emptied room keeps no history
            state.history.append(message)

    async def chat_history(self, room):
        state = self._rooms.get(room)
        return list(state.history) if state else []

    async def meeting(self, room):
        state = self._rooms.get(room)
        return state.meeting if state else None

    async def set_meeting(self, room, info):
        self._room(room).meeting = info

    async def add_waiting(self, room, participant):
        self._room(room).waiting[participant.id] = participant

    async def remove_waiting(self, room, socket_id):
        return self._take(room, socket_id, waiting=True)

    async def waiting(self, room):
        state = self._rooms.get(room)
        return list(state.waiting.values()) if state else []
