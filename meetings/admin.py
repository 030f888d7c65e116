"""Meetings in the admin: list, filter by host, search by code, end them, flip host controls."""

from animomeet.admin_site import Action, Column, DocumentAdmin, format_moment, site
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

    def actions(self):
        return (
            Action("end", "End (delete) the selected meetings", self.end),
            *(
                Action(f"toggle_{field}", f"Toggle {field} of the selected meetings", self.toggler(field))
                for field in services.HOST_CONTROL_FIELDS
            ),
        )

    @staticmethod
    def end(meeting_ids) -> str:
        return f"Ended {services.delete_meetings(meeting_ids)} meeting(s)."

    @staticmethod
    def toggler(field: str):
        def toggle(meeting_ids) -> str:
            toggled = [services.toggle_host_control(meeting_id, field) for meeting_id in meeting_ids]
            return f"Toggled {field} of {sum(1 for meeting in toggled if meeting)} meeting(s)."

        return toggle


site.register_document(MeetingAdmin)
