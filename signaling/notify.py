"""Telling live calls about changes made elsewhere (the REST API, the admin)."""

from asgiref.sync import async_to_sync

from signaling.app import meeting_events


def meeting_changed(meeting_code: str, meeting_json: dict) -> None:
    """Push a meeting's new host controls and co-hosts to everyone in its call. Called
    from synchronous code (a view); a process that serves no calls has nobody to tell."""
    events = meeting_events()
    if events is not None:
        async_to_sync(events.meeting_changed)(meeting_code, meeting_json)
