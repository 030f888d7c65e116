"""A participant's camera and microphone state: one value, read from `join-call` and
`toggle-media`, stored with the participant, and written to the wire."""

from dataclasses import dataclass

from signaling.meeting import validation

# The four flags: as `join-call` sends them and the room state stores them, and as
# `toggle-media`, `user-joined` and `user-media-update` name them.
STORED_NAMES = ("audioEnabled", "audioAvailable", "videoEnabled", "videoAvailable")
WIRE_NAMES = ("peerAudioEnabled", "peerAudioAvailable", "peerVideoEnabled", "peerVideoAvailable")


@dataclass(frozen=True, slots=True)
class Media:
    audioEnabled: bool = False
    audioAvailable: bool = False
    videoEnabled: bool = False
    videoAvailable: bool = False

    @classmethod
    def from_join(cls, payload: dict) -> "Media":
        """From a `join-call` payload; a missing flag is off, a non-boolean is Rejected."""
        return cls(*(validation.flag(payload.get(name), name) for name in STORED_NAMES))

    @classmethod
    def from_toggle(cls, payload: dict) -> "Media":
        return cls(*(validation.flag(payload.get(name), name) for name in WIRE_NAMES))

    @classmethod
    def from_stored(cls, data: dict) -> "Media":
        return cls(*(bool(data.get(name, False)) for name in STORED_NAMES))

    def stored(self) -> dict:
        return {name: getattr(self, name) for name in STORED_NAMES}

    def to_wire(self) -> dict:
        return {wire: getattr(self, name) for name, wire in zip(STORED_NAMES, WIRE_NAMES)}

    def enabled(self, kind: str) -> bool:
        """`kind`: "audio" or "video"."""
        return getattr(self, f"{kind}Enabled")


def turned_off(kind: str) -> dict:
    """The stored change that turns a participant's audio or video off."""
    return {f"{kind}Enabled": False}
