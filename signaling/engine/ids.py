"""Session and socket ids: 20 random URL-safe characters, then `.<process id>` in a
cluster, so that any process can tell which one owns a session or socket."""

import re
import secrets

PROCESS_ID = re.compile(r"[0-9a-f]{8}")


def new_process_id() -> str:
    return secrets.token_hex(4)


def new_id(process_id: str | None = None) -> str:
    random_part = secrets.token_urlsafe(15)
    return f"{random_part}.{process_id}" if process_id else random_part


def owner_of(some_id: str) -> str | None:
    """The process id at the end of a session or socket id, if it has one."""
    head, dot, process = some_id.rpartition(".")
    return process if dot and head and PROCESS_ID.fullmatch(process) else None
