"""Django signals the meetings service sends after a change is stored, so that whoever
serves the live calls (the signaling app) can tell them; the service knows no receiver."""

from django.dispatch import Signal

# code: the meeting code; meeting: its new state as `meeting_json` gives it.
meeting_changed = Signal()
# codes: the codes of the meetings that were deleted.
meetings_deleted = Signal()
