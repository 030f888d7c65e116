"""What the log may say, and how it says it: plain lines or one JSON object per line
(LOG_FORMAT), the id of the request being served, and meetings named by a reference
instead of their code (a code is all it takes to join a call)."""

import contextvars
import hashlib
import hmac
import json
import logging
import re
from datetime import datetime, timezone

from django.conf import settings

# Set by the request log middleware for the request being served; asgiref carries it
# into the threads and coroutines that serve that request.
current_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

MEETING_CODE_IN_PATH = re.compile(r"^(/api/v1/meeting/(?:check-code/|create-meet/|check-meet/)?)(?!check-host$|prev-meets/)[^/]+$")


def logged_path(path: str) -> str:
    """The path with a meeting code in it replaced by ***."""
    return MEETING_CODE_IN_PATH.sub(r"\1***", path)


def meeting_ref(code: str) -> str:
    """A short keyed digest of a meeting code: lines about the same meeting share it,
    and without SECRET_KEY nobody can tell the code from it."""
    return hmac.new(settings.SECRET_KEY.encode(), code.encode(), hashlib.sha256).hexdigest()[:12]


class RedactPaths(logging.Filter):
    """For Django's own request lines ("Internal Server Error: <path>"): no meeting code."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(logged_path(arg) if isinstance(arg, str) else arg for arg in record.args)
        return True


# Every LogRecord has these; whatever else a record holds came through `extra=`.
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
_JSON_SCALARS = (str, int, float, bool, type(None))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, request_id (when a
    request is being served), the `extra=` fields of plain JSON types (event, socket_id,
    meeting, status...; objects such as Django's `request` are left out), and the
    traceback as `exception`."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or current_request_id.get()
        if request_id:
            entry["request_id"] = request_id
        for name, value in vars(record).items():
            if name not in _RECORD_ATTRIBUTES and isinstance(value, _JSON_SCALARS):
                entry.setdefault(name, value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False)
