"""Reading typed values from the environment, failing with a one-line reason."""

import os
from typing import NamedTuple


def config_error(reason: str) -> SystemExit:
    """A start-up refusal: SystemExit prints just this line to stderr, no traceback."""
    return SystemExit(f"animomeet: configuration error: {reason}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise config_error(f"{name} must be a whole number, not {raw!r}") from None


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise config_error(f"{name} must be true or false, not {raw!r}")


def env_list(name: str, default: list[str]) -> list[str]:
    """A comma-separated list; trailing slashes are dropped so that origins compare equal."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return list(default)
    return [item.strip().rstrip("/") for item in raw.split(",") if item.strip()]


class Rate(NamedTuple):
    """At most `count` in a window of `seconds`."""

    count: int
    seconds: int


def env_rate(name: str, default: Rate) -> Rate:
    """`<count>/<seconds>`, both whole numbers above zero: `20/3600` is 20 an hour."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    count, _, seconds = raw.partition("/")
    try:
        rate = Rate(int(count), int(seconds))
    except ValueError:
        rate = None
    if rate is None or rate.count < 1 or rate.seconds < 1:
        raise config_error(f"{name} must be <count>/<seconds> (e.g. 20/3600), not {raw!r}")
    return rate
