"""The Meeting document: the original Mongoose `meetings` collection."""

import mongoengine as me
from django.conf import settings

from animomeet.clock import utcnow


class HostControls(me.EmbeddedDocument):
    audioAllowed = me.BooleanField(default=True)
    videoAllowed = me.BooleanField(default=True)
    screenShareAllowed = me.BooleanField(default=True)
    hostPermissionRequired = me.BooleanField(default=True)


class Meeting(me.Document):
    hostUsername = me.StringField()
    coHostUsernames = me.ListField(me.StringField(), default=list)
    meetingCode = me.StringField(required=True, unique=True)
    date = me.DateTimeField(required=True, default=utcnow)
    # MongoDB's TTL monitor deletes a meeting MEETING_TTL_SECONDS (7 days) after its last activity.
    lastActive = me.DateTimeField(required=True, default=utcnow)
    hostControls = me.EmbeddedDocumentField(HostControls, default=HostControls)

    meta = {
        "collection": "meetings",
        "strict": False,
        "indexes": [
            {"fields": ["lastActive"], "expireAfterSeconds": settings.MEETING_TTL_SECONDS},
            "hostUsername",
            "coHostUsernames",
        ],
    }

    def __str__(self):
        return self.meetingCode
