"""Rate limits in Django's cache: with Redis as the cache (REDIS_URL), every server
process counts together.

A `Limit` allows `count` hits per key in a fixed window of `seconds` that opens at the
key's first hit; `<key>:until` remembers when that window closes, so that a refused
client can be told when to retry (`Refused.retry_after`; the REST views answer it with
429 and `Retry-After`). `LoginThrottle` builds the login lock-out on it. Everything here
makes blocking cache calls: from async code, call it in a thread (`asyncio.to_thread`).
"""

import hashlib
import ipaddress
import math
import time
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache

from animomeet.config import Rate


class Refused(Exception):
    def __init__(self, retry_after: int, message: str = "Too many requests. Try again later"):
        super().__init__(message)
        self.retry_after = retry_after
        self.message = message


def client_network(address: str) -> str:
    """Who a client address stands for: an IPv6 client holds a whole /64 (2^64
    addresses), so it is counted as one; an IPv4-mapped address as its IPv4 one."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 4:
        return str(ip)
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ipaddress.ip_network(f"{ip}/64", strict=False))


class Limit:
    """`rate()` is read at each hit, so that settings changed at run time (tests) apply."""

    def __init__(self, name: str, rate: Callable[[], Rate]):
        self.name = name
        self.rate = rate

    def _key(self, key: str) -> str:
        # Hashed: keys from requests may hold characters a cache key must not.
        return f"ratelimit:{self.name}:{hashlib.sha256(key.encode()).hexdigest()}"

    def hit(self, key: str, cost: int = 1) -> int:
        """Counts `cost` hits for `key`: 0 when they are within the limit, else the seconds
        until the window closes (the hits are refused, and still counted)."""
        rate = self.rate()
        counter = self._key(key)
        # add() writes only when absent: the window is fixed by its first hit.
        if cache.add(counter, 0, rate.seconds):
            cache.set(f"{counter}:until", time.time() + rate.seconds, rate.seconds)
        try:
            count = cache.incr(counter, cost)
        except ValueError:  # the window closed between add() and incr()
            cache.set_many({counter: cost, f"{counter}:until": time.time() + rate.seconds}, rate.seconds)
            count = cost
        return self._wait(counter, rate) if count > rate.count else 0

    def enforce(self, key: str, cost: int = 1) -> None:
        """`hit`, raising Refused past the limit."""
        retry_after = self.hit(key, cost)
        if retry_after:
            raise Refused(retry_after)

    def wait(self, key: str) -> int:
        """0 when one more hit would be within the limit, else the seconds until it would
        be; counts nothing."""
        rate = self.rate()
        counter = self._key(key)
        return self._wait(counter, rate) if cache.get(counter, 0) >= rate.count else 0

    def _wait(self, counter: str, rate: Rate) -> int:
        until = cache.get(f"{counter}:until", time.time() + rate.seconds)
        return max(1, math.ceil(until - time.time()))


class LoginThrottle:
    """Failed logins, counted so that guessing is slow and a victim cannot be locked out
    everywhere by someone failing on purpose:

    - per client address, over all usernames (LOGIN_MAX_FAILURES): past the limit that
      address is refused;
    - per username, over all addresses, with a higher limit (LOGIN_USERNAME_MAX_FAILURES):
      past it, the username is refused only from addresses that have not logged into it
      in the last `KNOWN_ADDRESS_SECONDS`; where its owner usually logs in from, it keeps
      working.

    Both count within LOGIN_FAILURE_WINDOW_SECONDS. Each `scope` has counters of its own.

    Failures against usernames nobody has count for the address only: counting made-up
    names would let a flood of them push real counters out of the cache.
    """

    KNOWN_ADDRESS_SECONDS = 30 * 24 * 3600
    REFUSAL = "Too many failed login attempts. Try again later"

    def __init__(self, scope: str):
        self.scope = scope
        self.by_address = Limit(
            f"{scope}-failures-address",
            lambda: Rate(settings.LOGIN_MAX_FAILURES, settings.LOGIN_FAILURE_WINDOW_SECONDS),
        )
        self.by_username = Limit(
            f"{scope}-failures-username",
            lambda: Rate(settings.LOGIN_USERNAME_MAX_FAILURES, settings.LOGIN_FAILURE_WINDOW_SECONDS),
        )

    def _known_key(self, username: str, network: str) -> str:
        return f"ratelimit:{self.scope}-known:" + hashlib.sha256(f"{username}\n{network}".encode()).hexdigest()

    def check(self, address: str, username: str) -> None:
        """Raises Refused unless a login to `username` from `address` may be tried now."""
        network = client_network(address)
        waits = [self.by_address.wait(network)]
        username_wait = self.by_username.wait(username)
        if username_wait and not cache.get(self._known_key(username, network)):
            waits.append(username_wait)
        if max(waits):
            raise Refused(max(waits), self.REFUSAL)

    def record_failure(self, address: str, username: str | None) -> None:
        """A failed login from `address`; `username` when that account exists."""
        self.by_address.hit(client_network(address))
        if username is not None:
            self.by_username.hit(username)

    def record_success(self, address: str, username: str) -> None:
        cache.set(self._known_key(username, client_network(address)), 1, self.KNOWN_ADDRESS_SECONDS)
