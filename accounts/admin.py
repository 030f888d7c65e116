"""Users in the admin: names and session counts, never password hashes or token digests."""

from accounts import services
from accounts.documents import User
from animomeet.admin_site import Action, Column, DocumentAdmin, format_moment, site
from animomeet.clock import utcnow


class UserAdmin(DocumentAdmin):
    document = User
    slug = "users"
    verbose_name_plural = "Users"
    columns = (
        Column("Username", lambda user: user.username),
        Column("Name", lambda user: user.name),
        Column("Active sessions", services.active_session_count),
    )
    search_field = "username"
    ordering = ("username",)

    def actions(self):
        return (Action("end_sessions", "End all sessions of the selected users", self.end_sessions),)

    @staticmethod
    def end_sessions(user_ids) -> str:
        return f"Ended the sessions of {services.end_all_sessions(user_ids)} user(s)."

    def detail_rows(self, user):
        now = utcnow()
        sessions = [
            f"since {format_moment(session.createdAt)}, until {format_moment(session.expiresAt)}"
            for session in user.tokens
            if session.expiresAt > now
        ]
        return super().detail_rows(user) + [("Sessions", "\n".join(sessions) or "-")]


site.register_document(UserAdmin)
