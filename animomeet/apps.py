import logging

from django.apps import AppConfig
from django.conf import settings


class AnimoMeetConfig(AppConfig):
    name = "animomeet"
    verbose_name = "Animo Meet"

    def ready(self):
        # Python's warnings become log records too, so that with LOG_FORMAT=json every
        # line of output is JSON.
        logging.captureWarnings(True)

        from accounts.documents import User
        from animomeet import mongo
        from meetings.documents import Meeting

        mongo.connect(settings.MONGODB_URL, settings.MONGODB_DB_NAME, settings.MONGODB_SERVER_SELECTION_TIMEOUT_MS)
        mongo.ensure_indexes(User, Meeting)
