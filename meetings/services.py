"""Meetings, written: creation, host changes and clean-up of idle meetings, and the
rules they keep; a meeting's code and JSON form. The read-only look-ups are in
meetings.selectors."""

import logging
import re
from datetime import datetime, timedelta, timezone
from typing import Any

from bson import ObjectId
from django.dispatch import Signal
from mongoengine.errors import NotUniqueError

from accounts.selectors import existing_usernames
from animomeet.clock import utcnow
from animomeet.logs import meeting_ref
from meetings import selectors, signals
from meetings.documents import HostControls, Meeting

log = logging.getLogger(__name__)

MEETING_CODE_MAX_LENGTH = 64
MEETING_CODE_PATTERN = re.compile(rf"[a-z0-9-]{{3,{MEETING_CODE_MAX_LENGTH}}}")
HOST_CONTROL_FIELDS = ("audioAllowed", "videoAllowed", "screenShareAllowed", "hostPermissionRequired")


class MeetingCodeTaken(Exception):
    pass


class MeetingNotFound(Exception):
    pass


class NotHost(Exception):
    pass


class InvalidCoHosts(Exception):
    """The co-host list cannot be changed this way; the message says why."""


# Paths under /api/v1/meeting/: a meeting so named could not be reached by PATCH.
RESERVED_CODES = frozenset({"check-code", "create-meet", "check-meet", "check-host", "prev-meets"})


def normalize_meeting_code(raw: str) -> str | None:
    """The stored form of a meeting code, or None when it cannot be one. Codes are
    case-insensitive: the web client makes lowercase ones and people retype them."""
    code = raw.lower()
    return code if MEETING_CODE_PATTERN.fullmatch(code) and code not in RESERVED_CODES else None


def _iso(moment: datetime | None) -> str | None:
    """JavaScript's Date.toISOString() form, as the Node backend's JSON had."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def meeting_json(meeting: Meeting) -> dict[str, Any]:
    controls = meeting.hostControls or HostControls()
    return {
        "meetingCode": meeting.meetingCode,
        "hostUsername": meeting.hostUsername,
        "coHostUsernames": list(meeting.coHostUsernames or []),
        "hostControls": {field: bool(getattr(controls, field)) for field in HOST_CONTROL_FIELDS},
        "date": _iso(meeting.date),
        "lastActive": _iso(meeting.lastActive),
    }


def create_meeting(*, code: str, host_username: str) -> Meeting:
    try:
        return Meeting(meetingCode=code, hostUsername=host_username).save(force_insert=True)
    except NotUniqueError:
        raise MeetingCodeTaken(code) from None


def touch_meeting(code: str) -> Meeting | None:
    """Someone is in the meeting's call: refresh `lastActive` (which its TTL counts from)
    and return it, in one atomic operation; None when there is no such meeting."""
    return Meeting.objects(meetingCode=code).modify(set__lastActive=utcnow(), new=True)


def update_meeting(
    *,
    code: str,
    acting_username: str,
    host_controls: dict[str, bool],
    add_co_hosts: list[str],
    remove_co_hosts: list[str],
) -> Meeting:
    """Applies the host's changes and tells the meeting's live participants."""
    meeting = selectors.find_meeting(code)
    if meeting is None:
        raise MeetingNotFound(code)
    if meeting.hostUsername != acting_username:
        raise NotHost(code)
    if set(add_co_hosts) & set(remove_co_hosts):
        raise InvalidCoHosts("A user cannot be both added and removed as co-host")
    if meeting.hostUsername in add_co_hosts:
        raise InvalidCoHosts("The host cannot be a co-host")
    unknown = sorted(set(add_co_hosts) - existing_usernames(add_co_hosts))
    if unknown:
        raise InvalidCoHosts("No such user: " + ", ".join(unknown))

    changes = {f"set__hostControls__{field}": value for field, value in host_controls.items()}
    if add_co_hosts:
        changes["add_to_set__coHostUsernames"] = add_co_hosts
    # MongoDB refuses $addToSet and $pullAll on one field in one update, hence two.
    updated = Meeting.objects(id=meeting.id).modify(new=True, set__lastActive=utcnow(), **changes)
    if updated is not None and remove_co_hosts:
        updated = Meeting.objects(id=meeting.id).modify(new=True, pull_all__coHostUsernames=remove_co_hosts)
    if updated is None:  # ended while we were changing it
        raise MeetingNotFound(code)
    _announce_change(updated)
    return updated


def toggle_host_control(*, meeting_id: ObjectId, field: str) -> Meeting | None:
    """Flips one host control; None when the meeting is gone. The update names the value
    it read, so a concurrent flip is never undone."""
    while True:
        meeting = Meeting.objects(id=meeting_id).first()
        if meeting is None:
            return None
        current = bool(getattr(meeting.hostControls or HostControls(), field))
        # A control never written reads as its default, True: "$ne: false" matches it too.
        unchanged = {f"hostControls.{field}": {"$ne": False} if current else False}
        flipped = Meeting.objects(id=meeting_id, __raw__=unchanged).modify(
            new=True, **{f"set__hostControls__{field}": not current}
        )
        if flipped is not None:
            _announce_change(flipped)
            return flipped


def _announce(signal: Signal, about: list[str], **details: Any) -> None:
    """Tells the receivers of a change that is already stored: a receiver's failure is
    logged (naming the meetings by reference: a code is all it takes to join) rather than
    reported to whoever made the change."""
    for receiver, outcome in signal.send_robust(sender=Meeting, **details):
        if isinstance(outcome, Exception):
            refs = ", ".join(meeting_ref(code) for code in about)
            log.error("could not announce the change of meeting %s (%r)", refs, receiver, exc_info=outcome, extra={"meeting": refs})


def _announce_change(meeting: Meeting) -> None:
    code = meeting.meetingCode
    _announce(signals.meeting_changed, [code], code=code, meeting=meeting_json(meeting))


def _announce_deleted(codes: list[str]) -> None:
    """The calls of meetings that are gone end (those still found were not deleted)."""
    gone = set(codes) - set(Meeting.objects(meetingCode__in=codes).scalar("meetingCode"))
    if gone:
        _announce(signals.meetings_deleted, sorted(gone), codes=sorted(gone))


def delete_meetings(meeting_ids: list[ObjectId]) -> int:
    codes = list(Meeting.objects(id__in=meeting_ids).scalar("meetingCode"))
    deleted = Meeting.objects(id__in=meeting_ids).delete()
    _announce_deleted(codes)
    return deleted


def delete_idle_meetings(*, older_than: timedelta) -> int:
    """One delete_many on lastActive, so that a meeting becoming active meanwhile stays."""
    idle = selectors.idle_meetings(older_than=older_than)
    codes = list(idle.scalar("meetingCode"))
    deleted = idle.delete()
    _announce_deleted(codes)
    return deleted
