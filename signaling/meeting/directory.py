"""What a live call needs from the database, asked from a worker thread (the MongoDB
driver blocks), so that one slow query never stalls the event loop."""

import asyncio
from dataclasses import dataclass

from accounts.selectors import user_for_token, username_exists
from meetings.services import meeting_json, touch_meeting
from signaling.meeting.state.base import MeetingInfo


@dataclass(frozen=True)
class Account:
    username: str
    name: str


class Directory:
    """Accounts and meetings, through their apps' selectors and services."""

    async def identify(self, token: str) -> Account | None:
        """The account holding this token, unless it was revoked or has expired."""
        return await asyncio.to_thread(_identify, token)

    async def username_taken(self, username: str) -> bool:
        """Whether an account has this username (one indexed look-up)."""
        return await asyncio.to_thread(username_exists, username)

    async def open_meeting(self, code: str) -> MeetingInfo | None:
        """The meeting behind a room, its `lastActive` refreshed; None if there is none."""
        return await asyncio.to_thread(_open_meeting, code)


def _identify(token: str) -> Account | None:
    user = user_for_token(token)
    return Account(user.username, user.name) if user is not None else None


def _open_meeting(code: str) -> MeetingInfo | None:
    meeting = touch_meeting(code)
    return MeetingInfo.from_dict(meeting_json(meeting)) if meeting is not None else None
