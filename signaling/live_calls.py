"""The admin's view of the live calls (animomeet/live_calls.py), from Django's
synchronous views: read from the room state, which every process shares through Redis,
and acted on through the meeting handlers, which reach the process that holds a socket."""

from datetime import datetime, timezone

from asgiref.sync import async_to_sync

from animomeet.live_calls import LiveCall, LiveParticipant
from signaling.meeting.state.base import Participant
from signaling.wiring import using_signaling


def _room(code: str) -> str:
    return code.lower()  # rooms are meeting codes as clients' join-calls name them (context.room_key)


def _live(member: Participant) -> LiveParticipant:
    since = datetime.fromtimestamp(member.joined_at, timezone.utc) if member.joined_at is not None else None
    return LiveParticipant(
        socket_id=member.id,
        name=member.name,
        username=member.username,
        account=member.account,
        transport=member.link.transport,
        process=member.link.process,
        camera=member.media.videoEnabled,
        microphone=member.media.audioEnabled,
        since=since,
        recovering=member.link.recovering,
    )


def _run(act):
    return async_to_sync(using_signaling)(act)


class SignalingLiveCalls:
    def call_sizes(self) -> dict[str, int]:
        return _run(lambda meetings: meetings.live_rooms())

    def call(self, code: str) -> LiveCall:
        roster, waiting = _run(lambda meetings: meetings.live_call(_room(code)))
        return LiveCall([_live(member) for member in roster], [_live(member) for member in waiting])

    def calls_of_accounts(self) -> dict[str, list[str]]:
        return _run(lambda meetings: meetings.calls_of_accounts())

    def remove_participant(self, code: str, socket_id: str) -> bool:
        return _run(lambda meetings: meetings.remove_participant(_room(code), socket_id))

    def end_call(self, code: str) -> None:
        _run(lambda meetings: meetings.end_call(_room(code)))
