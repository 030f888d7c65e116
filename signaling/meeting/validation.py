"""Checks of what clients send with meeting events. Each failure is a `Rejected` whose
message the client gets back in `call-error`."""

from typing import Any

import orjson

from accounts import names
from signaling.engine.protocol.engineio import exceeds_bytes

NAME_MAX = 100
USERNAME_MAX = 50
ROOM_MAX = 128
CHAT_MAX = 2000
SIGNAL_MAX_BYTES = 64 * 1024
TIME_MAX = 64


class Rejected(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def payload_object(args: list) -> dict:
    if not args or not isinstance(args[0], dict):
        raise Rejected("expected an object")
    return args[0]


def text(value: Any, what: str, max_length: int, *, required: bool = True, default: str | None = None) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise Rejected(f"{what} is required")
        return default
    if not isinstance(value, str):
        raise Rejected(f"{what} must be a string")
    value = value.strip()
    if len(value) > max_length:
        raise Rejected(f"{what} is longer than {max_length} characters")
    reason = names.refusal(value)
    if reason:
        raise Rejected(f"{what} {reason}")
    return value


def flag(value: Any, what: str) -> bool:
    """Media flags: a missing one is off."""
    if value is None:
        return False
    if not isinstance(value, bool):
        raise Rejected(f"{what} must be true or false")
    return value


def signal_message(message: Any) -> Any:
    """An SDP or ICE message: a string (the web client JSON-encodes it) or an object."""
    if isinstance(message, str):
        encoded = message
    elif isinstance(message, dict):
        try:
            encoded = orjson.dumps(message)
        except orjson.JSONEncodeError:  # binary inside: no SDP or ICE message has that
            raise Rejected("signal message must be JSON text") from None
    else:
        raise Rejected("signal message must be a string or an object")
    if exceeds_bytes(encoded, SIGNAL_MAX_BYTES):
        raise Rejected("signal message is larger than 64 KB")
    return message



def chat_time(value: Any) -> str | int | float | None:
    if value is None or isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and len(value) <= TIME_MAX:
        return value
    raise Rejected("time must be a timestamp")
