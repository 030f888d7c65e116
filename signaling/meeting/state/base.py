"""Live state of the calls: who is in each room (in join order), their names and media
state, the room's chat history, the meeting's host and controls, and who waits to be
admitted. Behind one interface, so that several processes can share it (state/redis.py).
"""

import abc
import dataclasses
from dataclasses import dataclass, field

from signaling.meeting.media import Media

CHAT_HISTORY_LIMIT = 200


@dataclass(frozen=True, slots=True)
class Link:
    """How a participant's socket is connected, for the admin of any process: the
    transport carrying it (None while its client is away), whether it waits for its client
    to come back (connection state recovery), and the process holding it."""

    transport: str | None = None
    recovering: bool = False
    process: str | None = None

    def stored(self) -> dict:
        return {"transport": self.transport, "recovering": self.recovering, "process": self.process}

    @classmethod
    def from_stored(cls, data: dict) -> "Link":
        return cls(data.get("transport"), bool(data.get("recovering", False)), data.get("process"))


@dataclass
class Participant:
    id: str  # socket id
    username: str | None
    name: str
    account: str | None = None  # the logged-in username behind the socket; None for guests
    media: Media = Media()
    joined_at: float | None = None  # when it entered the call, in seconds since the epoch
    link: Link = Link()

    def to_dict(self) -> dict:
        """Flat, as stored: the media flags and the link beside the names (state/redis.py
        merges changes to them)."""
        return {
            "id": self.id, "username": self.username, "name": self.name, "account": self.account,
            "joinedAt": self.joined_at, **self.media.stored(), **self.link.stored(),
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Participant":
        return cls(
            data["id"], data.get("username"), data.get("name", ""), data.get("account"), Media.from_stored(data),
            data.get("joinedAt"), Link.from_stored(data),
        )


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
    async def set_media(self, room: str, socket_id: str, changes: dict) -> Participant | None:
        """Merge media flags (stored names, see media.py) into a participant who is still
        there; None (and nothing written) if not."""

    @abc.abstractmethod
    async def set_link(self, room: str, socket_id: str, link: Link) -> Participant | None:
        """Replace the link of a participant who is still there; None (and nothing
        written) if not."""

    @abc.abstractmethod
    async def live_rooms(self) -> dict[str, int]:
        """Every room with participants in it, and how many (waiters not counted)."""

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
