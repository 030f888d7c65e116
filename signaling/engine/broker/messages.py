"""The messages processes of a cluster send each other over the Channels layer (to serve
a session another process owns), in one place. On the wire each is a dict whose `type`
names its kind (the layer requires it)."""

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True)
class Message:
    kind: ClassVar[str]

    def to_wire(self) -> dict:
        wire = {"type": self.kind}
        for name in _field_names(type(self)):
            wire[name] = getattr(self, name)
        return wire


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


# --- a poll or POST that reached a process that does not own the session ---------------


@dataclass(frozen=True, slots=True)
class Poll(Message):
    kind = "poll"
    sid: str
    rid: str = ""  # `rid` and `reply` (the channel to answer on) are set by the request
    reply: str = ""


@dataclass(frozen=True, slots=True)
class Post(Message):
    kind = "post"
    sid: str
    body: bytes
    rid: str = ""
    reply: str = ""


@dataclass(frozen=True, slots=True)
class Cancel(Message):
    """The client of a forwarded poll went away."""

    kind = "cancel"
    rid: str


@dataclass(frozen=True, slots=True)
class Reply(Message):
    kind = "reply"
    rid: str
    status: str  # one of the REPLY_* values
    body: str = ""


REPLY_OK, REPLY_TOO_LARGE, REPLY_BAD_REQUEST, REPLY_UNKNOWN = "ok", "too-large", "bad-request", "unknown"


# --- a WebSocket that reached a process that does not own the session -----------------


@dataclass(frozen=True, slots=True)
class WsOpen(Message):
    kind = "ws-open"
    sid: str
    link: str  # names the WebSocket on the process that holds it
    reply: str


@dataclass(frozen=True, slots=True)
class WsFrame(Message):
    """A frame from the client, to the owner."""

    kind = "ws-frame"
    link: str
    frame: Any


@dataclass(frozen=True, slots=True)
class WsGone(Message):
    """The client's WebSocket closed, to the owner."""

    kind = "ws-gone"
    link: str
    code: int | None = None  # the WebSocket close code


@dataclass(frozen=True, slots=True)
class WsSend(Message):
    """A frame for the client, to the process that holds its WebSocket."""

    kind = "ws-send"
    link: str
    frame: Any


@dataclass(frozen=True, slots=True)
class WsClose(Message):
    """The owner closes the client's WebSocket."""

    kind = "ws-close"
    link: str


KINDS: dict[str, type[Message]] = {
    cls.kind: cls for cls in (Poll, Post, Cancel, Reply, WsOpen, WsFrame, WsGone, WsSend, WsClose)
}


def from_wire(message: dict) -> Message:
    """Raises KeyError or TypeError for a message of no known kind or shape."""
    cls = KINDS[message["type"]]
    return cls(**{name: message[name] for name in _field_names(cls) if name in message})
