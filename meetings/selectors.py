"""Meetings, read: look-ups by code, host and co-host, and idleness. Nothing here
writes; the writes, and the rules they keep, are in meetings.services."""

from datetime import timedelta

from mongoengine import QuerySet
from mongoengine.queryset.visitor import Q

from animomeet.clock import utcnow
from meetings.documents import Meeting


def find_meeting(code: str) -> Meeting | None:
    return Meeting.objects(meetingCode=code).first()


def is_host(*, code: str, username: str) -> bool:
    return Meeting.objects(meetingCode=code, hostUsername=username).only("id").first() is not None


def meeting_codes_for(username: str) -> list[str]:
    """Codes of the meetings this user hosts or co-hosts, newest first."""
    meetings = Meeting.objects(Q(hostUsername=username) | Q(coHostUsernames=username))
    return list(meetings.order_by("-date").scalar("meetingCode"))


def idle_meetings(*, older_than: timedelta) -> QuerySet:
    """The meetings whose last activity is older than `older_than`, as one query."""
    return Meeting.objects(lastActive__lt=utcnow() - older_than)
