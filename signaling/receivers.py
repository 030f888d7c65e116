"""Meeting changes made anywhere (the REST API, the admin, a management command) reach
the live calls of the meeting, through this process's signaling (wiring.using_signaling)
and, with Redis, every other process's.
"""

from asgiref.sync import async_to_sync

from signaling.wiring import using_signaling


def meeting_changed(sender, code: str, meeting: dict, **kwargs) -> None:
    async_to_sync(using_signaling)(lambda meetings: meetings.meeting_changed(code, meeting))


def meetings_deleted(sender, codes: list[str], **kwargs) -> None:
    async def end_calls(meetings):
        for code in codes:
            await meetings.meeting_ended(code)

    async_to_sync(using_signaling)(end_calls)
