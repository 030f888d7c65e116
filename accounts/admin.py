"""Users in the admin: names, session counts and the calls they are in now, never
password hashes or token digests."""

from accounts import selectors, services
from accounts.documents import User
from animomeet.admin_site import Action, Column, DocumentAdmin, format_moment, site
from animomeet.live_calls import live_calls


class UserAdmin(DocumentAdmin):
    document = User
    slug = "users"
    verbose_name_plural = "Users"
    columns = (
        Column("Username", lambda user: user.username),
        Column("Name", lambda user: user.name),
        Column("Active sessions", selectors.active_session_count),
    )
    search_field = "username"
    ordering = ("username",)

    def columns_for(self, documents):
        calls = live_calls().calls_of_accounts() if documents else {}
        return (*self.columns, Column("In a call now", lambda user: ", ".join(calls.get(user.username, [])) or "-"))

    def actions(self):
        return (Action("end_sessions", "End all sessions of the selected users", self.end_sessions),)

    @staticmethod
    def end_sessions(user_ids) -> str:
        return f"Ended the sessions of {services.end_all_sessions(user_ids)} user(s)."

    def detail_rows(self, user):
        sessions = [
            f"since {format_moment(session.createdAt)}, until {format_moment(session.expiresAt)}"
            for session in selectors.active_sessions(user)
        ]
        in_calls = live_calls().calls_of_accounts().get(user.username, [])
        return super().detail_rows(user) + [("Sessions", "\n".join(sessions) or "-"), ("In a call now", ", ".join(in_calls) or "-")]


site.register_document(UserAdmin)
