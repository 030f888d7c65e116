"""Token buckets: `rate` a second on average, bursts up to `burst`."""


class TokenBucket:
    __slots__ = ("rate", "burst", "_tokens", "_updated")

    def __init__(self, rate: float, burst: float, now: float):
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._updated = now

    def _refill(self, now: float) -> None:
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    def allow(self, now: float) -> bool:
        """Take one token, if there is one."""
        self._refill(now)
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False

    def in_credit(self, now: float) -> bool:
        """Whether a token is there, taking none: for costs known only afterwards (`charge`)."""
        if self._tokens >= 1:  # a refill only adds: no need for one to say yes
            return True
        self._refill(now)
        return self._tokens >= 1

    def charge(self, cost: float) -> None:
        """Take `cost` tokens, into debt if need be: nothing is in credit until it is repaid."""
        self._tokens -= cost

    def full(self, now: float) -> bool:
        self._refill(now)
        return self._tokens >= self.burst


class BucketsByKey:
    """A bucket per key (a client address); buckets that have refilled are forgotten once
    there are `keep` of them, so that many keys cost memory only while they are in use."""

    def __init__(self, rate: float, burst: float, keep: int = 10_000):
        self.rate = rate
        self.burst = burst
        self.keep = keep
        self._buckets: dict[str, TokenBucket] = {}

    def of(self, key: str, now: float) -> TokenBucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.keep:
                self._buckets = {k: b for k, b in self._buckets.items() if not b.full(now)}
            bucket = self._buckets[key] = TokenBucket(self.rate, self.burst, now)
        return bucket
