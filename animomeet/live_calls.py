"""The live calls as the admin shows them, whichever process serves the page and
whichever holds the sockets. An interface here, implemented by the signaling app
(signaling/live_calls.py), which registers it once Django is ready: the admin's modules
import nothing of signaling."""

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class LiveParticipant:
    socket_id: str
    name: str
    username: str | None
    account: str | None  # the logged-in username; None for a guest
    transport: str | None  # "polling" or "websocket"; None while its client is away
    process: str | None  # the process that holds its socket (settings.PROCESS_NAME/process id)
    camera: bool
    microphone: bool
    since: datetime | None  # in the call (or, waiting, in the waiting room) since
    recovering: bool  # its client is away and may come back (connection state recovery)


@dataclass(frozen=True)
class LiveCall:
    participants: list[LiveParticipant]  # in join order
    waiting: list[LiveParticipant]


class LiveCalls(Protocol):
    def call_sizes(self) -> dict[str, int]:
        """Meeting code -> participants, for every meeting with a call going on."""

    def call(self, code: str) -> LiveCall: ...

    def calls_of_accounts(self) -> dict[str, list[str]]:
        """Username -> the codes of the calls that account is in now."""

    def remove_participant(self, code: str, socket_id: str) -> bool:
        """False when that socket is not in that call."""

    def end_call(self, code: str) -> None: ...


class _NoCalls:
    """Before the signaling app is ready (or without it): nothing is going on."""

    def call_sizes(self):
        return {}

    def call(self, code):
        return LiveCall([], [])

    def calls_of_accounts(self):
        return {}

    def remove_participant(self, code, socket_id):
        return False

    def end_call(self, code):
        return None


_provider: LiveCalls = _NoCalls()


def register(provider: LiveCalls) -> None:
    global _provider
    _provider = provider


def live_calls() -> LiveCalls:
    return _provider
