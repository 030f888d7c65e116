"""Fixed-window counters in Django's cache, for the limits the REST API puts on a client
(failed logins, ICE server requests). With Redis as the cache every server process
shares them.

A counter lives for one window that starts at its first count; `<key>:until` remembers
when that window ends, so that a refused client can be told when to retry.
"""

import ipaddress
import math
import time

from django.core.cache import cache


def client_network(address: str) -> str:
    """What one client is counted as: its IPv4 address, or the /64 an IPv6 client holds
    (2^64 addresses, which it could otherwise rotate through)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 4:
        return str(ip)
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ipaddress.ip_network(f"{ip}/64", strict=False))


def seconds_blocked(keys: list[str], limit: int) -> int:
    """0 when none of the counters has reached `limit`; else the seconds until all that
    have are over."""
    stored = cache.get_many(keys + [f"{key}:until" for key in keys])
    now = time.time()
    waits = [stored.get(f"{key}:until", now + 1) - now for key in keys if stored.get(key, 0) >= limit]
    return max(1, math.ceil(max(waits))) if waits else 0


def count(keys: list[str], window: int) -> None:
    """One more for each counter; a counter absent or run out starts a window here."""
    for key in keys:
        # add() only writes when absent, so the window is fixed by the first count.
        cache.add(f"{key}:until", time.time() + window, window)
        cache.add(key, 0, window)
        try:
            cache.incr(key)
        except ValueError:  # the window ran out between add() and incr()
            cache.set(key, 1, window)


def clear(key: str) -> None:
    cache.delete_many([key, f"{key}:until"])
