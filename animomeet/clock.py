"""Time in one place, so that documents and services agree on it (UTC, aware)."""

from datetime import datetime, timezone


def utcnow() -> datetime:
    return datetime.now(timezone.utc)
