"""Meeting changes made anywhere (the REST API, the admin, a management command) reach
the live calls of the meeting.

In a process that serves calls, its own signaling tells them (and, through Redis, every
other process). A process that serves none (a command, a shell) builds a signaling for
the announcement alone: with Redis it reaches the calls of every process; without
Redis there are no calls outside the serving process to reach.
"""

from asgiref.sync import async_to_sync
from django.apps import apps

from signaling.wiring import Signaling, build_signaling


def _serving() -> Signaling | None:
    return apps.get_app_config("signaling").serving


async def _tell(announce) -> None:
    signaling = _serving()
    if signaling is not None:
        await announce(signaling.meetings)
        return
    signaling = build_signaling()
    try:
        await announce(signaling.meetings)
    finally:
        await signaling.close()


def meeting_changed(sender, code: str, meeting: dict, **kwargs) -> None:
    async_to_sync(_tell)(lambda meetings: meetings.meeting_changed(code, meeting))


def meetings_deleted(sender, codes: list[str], **kwargs) -> None:
    async def end_calls(meetings):
        for code in codes:
            await meetings.meeting_ended(code)

    async_to_sync(_tell)(end_calls)
