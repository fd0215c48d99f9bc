"""The limiter's arithmetic (GCRA), the same in Redis and in memory: a burst of a whole
period's worth, a smooth refill, several limits taken together or not at all, and counts that
can be taken after the fact."""

import time

import pytest
from django.conf import settings

from accounts.rate_limiter import Limit, MemoryStore, RedisStore


@pytest.fixture(params=["memory", "redis"])
def store(request):
    if request.param == "memory":
        return MemoryStore()
    if not settings.REDIS_URL:
        pytest.skip("Redis is not configured")
    return RedisStore(settings.REDIS_URL)


@pytest.fixture
def key():
    """Keys of their own for each test: the Redis store is shared."""
    prefix = f"test{time.monotonic_ns()}"
    return lambda name: f"{prefix}:{name}"


def test_a_whole_periods_worth_passes_then_the_next_waits(store, key):
    limit = Limit(key=key("alice:chat"), rate=5, period=60)
    verdicts = [store.check([limit]) for _ in range(6)]

    assert [v.allowed for v in verdicts] == [True] * 5 + [False]
    assert [v.states[0].remaining for v in verdicts[:5]] == [4, 3, 2, 1, 0]
    assert verdicts[-1].retry_after == pytest.approx(12, abs=0.5)  # one request every 12 s
    assert verdicts[-1].states[0].remaining == 0
    assert verdicts[4].states[0].reset == pytest.approx(60, abs=0.5)


def test_the_limit_refills_smoothly(store, key):
    limit = Limit(key=key("bob:chat"), rate=10, period=1)  # one every 100 ms
    for _ in range(10):
        assert store.check([limit]).allowed
    assert not store.check([limit]).allowed
    time.sleep(0.25)
    assert store.check([limit]).allowed
    assert store.check([limit]).allowed
    assert not store.check([limit]).allowed


def test_a_request_refused_by_one_limit_takes_nothing_from_the_others(store, key):
    per_key = Limit(key=key("key:1:chat"), rate=100, period=60)
    per_user = Limit(key=key("user:1:chat"), rate=2, period=60)
    assert store.check([per_key, per_user]).allowed
    assert store.check([per_key, per_user]).allowed
    refused = store.check([per_key, per_user])

    assert not refused.allowed
    assert store.check([per_key]).states[0].remaining == 97  # two taken, not three


def test_costs_are_counted_in_units(store, key):
    tokens = Limit(key=key("carol:tokens"), rate=1000, period=60, cost=600)
    assert store.check([tokens]).states[0].remaining == 400
    assert not store.check([tokens]).allowed
    cheap = store.check([Limit(key=key("carol:tokens"), rate=1000, period=60, cost=300)])
    assert cheap.allowed and cheap.states[0].remaining == 100


def test_forced_units_are_taken_even_past_the_limit(store, key):
    tokens = Limit(key=key("dave:tokens"), rate=100, period=60, cost=250, force=True)
    assert store.check([tokens]).allowed  # what a finished call used is counted regardless
    after = store.check([Limit(key=key("dave:tokens"), rate=100, period=60, cost=1)])
    assert not after.allowed
    assert after.retry_after == pytest.approx(90.6, abs=1)  # 150 tokens over, 0.6 s each


def test_forced_units_sent_with_a_check_count_first_and_stay_when_it_is_refused(store, key):
    tokens = key("erin:tokens")
    counted = Limit(key=tokens, rate=100, period=60, cost=60, force=True)
    ask = Limit(key=tokens, rate=100, period=60, cost=30)
    allowed = store.check([counted, ask])
    assert allowed.allowed and allowed.states[1].remaining == 10  # 100 - 60 - 30

    refused = store.check([Limit(key=tokens, rate=100, period=60, cost=5, force=True), ask])
    assert not refused.allowed
    after = store.check([Limit(key=tokens, rate=100, period=60, cost=0)])
    assert after.states[0].remaining == 5  # the 5 forced units stayed; the refused 30 did not
