"""What the meeting handlers keep per socket (the engine's `socket.data`)."""

import asyncio
from dataclasses import dataclass

from signaling.meeting.directory import Account
from signaling.meeting.ratelimit import TokenBucket


@dataclass(slots=True)
class Caller:
    account: Account | None  # from the token; None for a guest
    token: str | None  # the token that named the account, checked again before each use of its rights
    bucket: TokenBucket  # the socket's event rate limit
    replies: TokenBucket  # what the server sends it alone, in characters (MeetingContext.reply)
    unknown_rooms: TokenBucket  # its join-calls for rooms that are no meeting
    room: str | None = None  # the call it is in
    waiting: str | None = None  # the call it waits to be admitted to
    wait_timer: asyncio.TimerHandle | None = None

    @property
    def account_name(self) -> str | None:
        return self.account.username if self.account is not None else None

    def end_wait(self) -> str | None:
        """Forget that the socket waits (and its timer); returns the room it waited for."""
        if self.wait_timer is not None:
            self.wait_timer.cancel()
            self.wait_timer = None
        room, self.waiting = self.waiting, None
        return room
