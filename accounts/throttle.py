"""Failed-login counters in Django's cache, per client address and per username.

With Redis as the cache, every server process shares them. A counter lives for one window
that starts at its first failure; `<key>:until` remembers when that window ends so that a
refused client can be told when to retry.
"""

import hashlib
import ipaddress
import math
import time

from django.conf import settings
from django.core.cache import cache


def _address_key(address: str) -> str:
    return f"login-failures:address:{_client_network(address)}"


def _client_network(address: str) -> str:
    """An IPv6 client holds a whole /64 (2^64 addresses): it is counted as one."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 4:
        return str(ip)
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ipaddress.ip_network(f"{ip}/64", strict=False))


def _username_key(username: str) -> str:
    # Hashed: usernames from the request may hold characters a cache key must not.
    return "login-failures:username:" + hashlib.sha256(username.encode()).hexdigest()


def seconds_blocked(address: str, username: str) -> int:
    """0 when a login may be tried now; else how many seconds until it may."""
    keys = [_address_key(address), _username_key(username)]
    stored = cache.get_many(keys + [f"{key}:until" for key in keys])
    now = time.time()
    waits = [
        stored.get(f"{key}:until", now + 1) - now
        for key in keys
        if stored.get(key, 0) >= settings.LOGIN_MAX_FAILURES
    ]
    return max(1, math.ceil(max(waits))) if waits else 0


def record_failure(address: str, username: str | None) -> None:
    """A failed login from `address`; for an existing account, against `username` too
    (counting made-up names would only let a flood of them push real counters out)."""
    window = settings.LOGIN_FAILURE_WINDOW_SECONDS
    keys = [_address_key(address)] + ([_username_key(username)] if username is not None else [])
    for key in keys:
        # add() only writes when absent, so the window is fixed by the first failure.
        cache.add(f"{key}:until", time.time() + window, window)
        cache.add(key, 0, window)
        try:
            cache.incr(key)
        except ValueError:  # the window ran out between add() and incr()
            cache.set(key, 1, window)


def clear_username(username: str) -> None:
    key = _username_key(username)
    cache.delete_many([key, f"{key}:until"])
