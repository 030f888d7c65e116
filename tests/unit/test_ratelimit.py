"""The token buckets behind the socket's limits (signaling/meeting/ratelimit.py)."""

from signaling.meeting.ratelimit import BucketsByKey, TokenBucket


def test_a_charge_beyond_the_balance_is_a_debt_repaid_at_the_rate():
    bucket = TokenBucket(rate=10, burst=100, now=0.0)
    bucket.charge(150)  # one large answer, served whole
    assert not bucket.in_credit(1.0)  # -50 + 10
    assert not bucket.in_credit(5.0)  # exactly 0: still less than one
    assert bucket.in_credit(5.2)


def test_buckets_by_key_keep_a_spent_bucket_when_they_forget_refilled_ones():
    buckets = BucketsByKey(rate=1, burst=2, keep=2)
    buckets.of("spent", 0.0).charge(2)
    buckets.of("idle", 0.0)
    buckets.of("new", 0.5)  # two kept already: the refilled one ("idle") is forgotten
    assert not buckets.of("spent", 0.5).in_credit(0.5)  # 0.5 tokens: its debt is remembered
