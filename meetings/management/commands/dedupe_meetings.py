"""Removes meetings that share a code, keeping the most recently active of each.

The Node backend had no unique index on meeting codes, so its data may hold duplicates,
which keep the unique index from being created (the server logs it at start-up). Run
once, then restart: the index is created then.
"""

from django.core.management.base import BaseCommand

from animomeet import mongo
from meetings.documents import Meeting


class Command(BaseCommand):
    help = "Delete meetings whose code another, more recently active meeting also has."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="only count what would be deleted")

    def handle(self, *args, dry_run=False, **options):
        collection = Meeting._get_collection()
        groups = collection.aggregate(
            [
                {"$sort": {"lastActive": -1}},
                {"$group": {"_id": "$meetingCode", "ids": {"$push": "$_id"}, "count": {"$sum": 1}}},
                {"$match": {"count": {"$gt": 1}}},
            ]
        )
        extra = [meeting_id for group in groups for meeting_id in group["ids"][1:]]
        if dry_run:
            self.stdout.write(f"Dry run: would delete {len(extra)} duplicate meeting(s).")
            return
        deleted = collection.delete_many({"_id": {"$in": extra}}).deleted_count if extra else 0
        mongo.ensure_indexes(Meeting)
        self.stdout.write(f"Deleted {deleted} duplicate meeting(s); meeting codes are unique now.")
