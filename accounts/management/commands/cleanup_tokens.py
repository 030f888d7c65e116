"""Removes expired login sessions, and the clear-text tokens left by the Node backend.

Each is a single update_many ($pull / $unset) filtered on the server, so running it from
cron beside the server cannot undo a login that happens meanwhile.
"""

from django.core.management.base import BaseCommand

from accounts import services


class Command(BaseCommand):
    help = "Remove expired session tokens from users, and clear-text tokens from the Node backend."

    def handle(self, *args, **options):
        expired = services.remove_expired_tokens()
        legacy = services.remove_legacy_tokens()
        self.stdout.write(f"Removed expired sessions from {expired} user(s).")
        self.stdout.write(f"Removed clear-text legacy tokens from {legacy} user(s).")
