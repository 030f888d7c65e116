"""Deletes meetings idle for longer than a limit (by default MEETING_TTL_SECONDS).

MongoDB's TTL index removes them too, but only about once a minute and only with the
index's fixed limit; this command is for a shorter limit and for reporting. It is one
delete_many on lastActive, so running it from cron beside the server is safe.
"""

import argparse
import re
from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand

from meetings import selectors, services

# A unit is required: a bare "7" read as seconds would delete nearly every meeting.
DURATION_PATTERN = re.compile(r"(\d{1,6})([dhms])")
SECONDS_PER_UNIT = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def duration(text: str) -> timedelta:
    """`7d`, `12h`, `30m` or `45s`."""
    match = DURATION_PATTERN.fullmatch(text.strip().lower())
    if match is None or int(match.group(1)) == 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive duration with a unit, such as 7d, 12h, 30m or 45s")
    return timedelta(seconds=int(match.group(1)) * SECONDS_PER_UNIT[match.group(2)])


class Command(BaseCommand):
    help = "Delete meetings whose last activity is older than the meeting TTL (or --older-than)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than",
            type=duration,
            default=None,
            help="idle time after which a meeting goes: 7d, 12h, 30m or 45s (default: MEETING_TTL_SECONDS)",
        )
        parser.add_argument("--dry-run", action="store_true", help="only count what would be deleted")

    def handle(self, *args, older_than=None, dry_run=False, **options):
        older_than = older_than or timedelta(seconds=settings.MEETING_TTL_SECONDS)
        if dry_run:
            count = selectors.idle_meetings(older_than=older_than).count()
            self.stdout.write(f"Dry run: would delete {count} meeting(s) idle for more than {older_than}.")
        else:
            count = services.delete_idle_meetings(older_than=older_than)
            self.stdout.write(f"Deleted {count} meeting(s) idle for more than {older_than}.")
