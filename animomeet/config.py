"""Reading typed values from the environment, failing with a one-line reason."""

import os
import re
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


# RFC 7064 / 7065: `stun:host[:port]`, `turn:host[:port]?transport=udp|tcp`; the `s`
# schemes are the same over TLS.
_ICE_URL = re.compile(r"(?P<scheme>stuns?|turns?):(?P<host>\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?(?P<query>\?transport=(udp|tcp))?")


def env_ice_urls(name: str, default: list[str], schemes: tuple[str, ...]) -> list[str]:
    """A comma-separated list of ICE server URLs of these schemes; `?transport=` only on
    TURN URLs, as WebRTC accepts it nowhere else."""
    urls = env_list(name, default)
    for url in urls:
        match = _ICE_URL.fullmatch(url)
        if match is None or match["scheme"] not in schemes or (match["query"] and not match["scheme"].startswith("turn")):
            raise config_error(f"{name} holds {url!r}, which is no {' or '.join(s + ':' for s in schemes)} URL")
    return urls


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
