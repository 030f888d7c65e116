"""Meetings in the admin: list, filter by host, search by code, end them, flip host
controls; the call going on in each, its participants and waiting room, wherever their
sockets are, with "remove participant" and "end the call"."""

from animomeet.admin_site import Action, Column, DetailAction, DocumentAdmin, format_moment, site
from animomeet.live_calls import live_calls
from meetings import services
from meetings.documents import HostControls, Meeting


def _controls_summary(meeting: Meeting) -> str:
    controls = meeting.hostControls or HostControls()
    return ", ".join(f"{field} {'on' if getattr(controls, field) else 'off'}" for field in services.HOST_CONTROL_FIELDS)


class MeetingAdmin(DocumentAdmin):
    document = Meeting
    slug = "meetings"
    verbose_name_plural = "Meetings"
    columns = (
        Column("Code", lambda meeting: meeting.meetingCode),
        Column("Host", lambda meeting: meeting.hostUsername or "-"),
        Column("Co-hosts", lambda meeting: ", ".join(meeting.coHostUsernames or []) or "-"),
        Column("Created", lambda meeting: format_moment(meeting.date)),
        Column("Last active", lambda meeting: format_moment(meeting.lastActive)),
        Column("Host controls", _controls_summary),
    )
    search_field = "meetingCode"
    filter_field = "hostUsername"
    ordering = ("-lastActive",)
    detail_template = "mongo_admin/meeting_detail.html"

    def actions(self):
        return (
            Action("end", "End (delete) the selected meetings", self.end),
            *(
                Action(f"toggle_{field}", f"Toggle {field} of the selected meetings", self.toggler(field))
                for field in services.HOST_CONTROL_FIELDS
            ),
        )

    def columns_for(self, documents):
        sizes = live_calls().call_sizes() if documents else {}

        def live(meeting: Meeting) -> str:
            size = sizes.get(meeting.meetingCode, 0)
            return f"{size} in the call" if size else "-"

        return (*self.columns, Column("Live call", live))

    def detail_context(self, meeting):
        return {"call": live_calls().call(meeting.meetingCode)}

    def detail_actions(self):
        return (DetailAction("remove_participant", self.remove_participant), DetailAction("end_call", self.end_call))

    @staticmethod
    def remove_participant(meeting: Meeting, data) -> tuple[bool, str]:
        if live_calls().remove_participant(meeting.meetingCode, data.get("socket_id", "")):
            return True, "The participant was removed from the call."
        return False, "That participant is no longer in the call; nothing was changed."

    @staticmethod
    def end_call(meeting: Meeting, data) -> tuple[bool, str]:
        live_calls().end_call(meeting.meetingCode)
        return True, "The call was ended."

    @staticmethod
    def end(meeting_ids) -> str:
        return f"Ended {services.delete_meetings(meeting_ids)} meeting(s)."

    @staticmethod
    def toggler(field: str):
        def toggle(meeting_ids) -> str:
            toggled = [services.toggle_host_control(meeting_id=meeting_id, field=field) for meeting_id in meeting_ids]
            return f"Toggled {field} of {sum(1 for meeting in toggled if meeting)} meeting(s)."

        return toggle


site.register_document(MeetingAdmin)
