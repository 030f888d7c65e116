"""Failed-login counters, per client address and per username (animomeet.ratelimit)."""

import hashlib

from django.conf import settings

from animomeet import ratelimit


def _address_key(address: str) -> str:
    return f"login-failures:address:{ratelimit.client_network(address)}"


def _username_key(username: str) -> str:
    # Hashed: usernames from the request may hold characters a cache key must not.
    return "login-failures:username:" + hashlib.sha256(username.encode()).hexdigest()


def seconds_blocked(address: str, username: str) -> int:
    """0 when a login may be tried now; else how many seconds until it may."""
    return ratelimit.seconds_blocked([_address_key(address), _username_key(username)], settings.LOGIN_MAX_FAILURES)


def record_failure(address: str, username: str | None) -> None:
    """A failed login from `address`; for an existing account, against `username` too
    (counting made-up names would only let a flood of them push real counters out)."""
    keys = [_address_key(address)] + ([_username_key(username)] if username is not None else [])
    ratelimit.count(keys, settings.LOGIN_FAILURE_WINDOW_SECONDS)


def clear_username(username: str) -> None:
    ratelimit.clear(_username_key(username))
