"""Rate limits through the ``limits`` library: requests, tokens and bursts; wait or refuse."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from toolkeeper._clock import FakeClock
from toolkeeper._errors import RateLimited
from toolkeeper.config import ExternalToolConfig
from toolkeeper.costs import RateLimit, RateLimiter


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """Give a FakeClock that also drives the wall time ``limits`` reads in memory."""
    import limits.storage.memory
    import limits.strategies

    fake = FakeClock(datetime(2026, 1, 15, 12, 0, tzinfo=UTC))
    wall = SimpleNamespace(time=lambda: fake.now().timestamp())
    for module in (limits.storage.memory, limits.strategies):
        monkeypatch.setattr(module, "time", wall)
    return fake


def test_requests_beyond_the_minute_are_refused_with_a_retry_time(clock: FakeClock) -> None:
    """Refuse the 4th request of a 3-per-minute limit, saying it may pass when the 1st expires."""
    limiter = RateLimiter("openai", RateLimit(requests_per_minute=3), clock=clock)
    for _ in range(3):
        assert limiter.acquire() == 0
        clock.advance(10)
    with pytest.raises(RateLimited) as raised:
        limiter.acquire()
    assert raised.value.tool == "openai"
    assert raised.value.retry_after_seconds == pytest.approx(30, abs=0.01)
    assert "3 requests/minute" in str(raised.value)
    clock.advance(raised.value.retry_after_seconds)
    assert limiter.acquire() == 0


def test_the_moving_window_admits_no_more_than_the_limit_in_any_minute(clock: FakeClock) -> None:
    """Refuse a burst at the start of a new minute that a fixed window would have admitted."""
    limiter = RateLimiter("openai", RateLimit(requests_per_minute=10), clock=clock)
    clock.advance(50)
    for _ in range(10):
        limiter.acquire()
    clock.advance(15)  # a fixed window would have reset at the minute boundary
    with pytest.raises(RateLimited):
        limiter.acquire()


def test_wait_policy_sleeps_through_the_clock_then_admits(clock: FakeClock) -> None:
    """Sleep until the window frees, when that is within the bound, and report the wait."""
    limiter = RateLimiter(
        "openai", RateLimit(requests_per_minute=2), clock=clock, max_wait_seconds=60
    )
    limiter.acquire()
    clock.advance(20)
    limiter.acquire()
    waited = limiter.acquire()
    assert waited == pytest.approx(40, abs=0.01)
    assert clock.sleeps == [pytest.approx(40, abs=0.01)]


def test_wait_policy_refuses_a_wait_beyond_the_bound(clock: FakeClock) -> None:
    """Raise at once, without sleeping, when the window frees later than the bound allows."""
    limiter = RateLimiter(
        "openai", RateLimit(requests_per_minute=1), clock=clock, max_wait_seconds=5
    )
    limiter.acquire()
    with pytest.raises(RateLimited) as raised:
        limiter.acquire()
    assert raised.value.retry_after_seconds == pytest.approx(60, abs=0.01)
    assert clock.sleeps == []


def test_async_acquire_waits_without_blocking(clock: FakeClock) -> None:
    """Wait through the clock's asleep in async code."""
    limiter = RateLimiter(
        "openai", RateLimit(requests_per_minute=1), clock=clock, max_wait_seconds=120
    )

    async def twice() -> float:
        await limiter.aacquire()
        return await limiter.aacquire()

    assert asyncio.run(twice()) == pytest.approx(60, abs=0.01)


def test_tokens_per_minute_count_each_call_tokens(clock: FakeClock) -> None:
    """Charge a call's tokens against tokens per minute and refuse what does not fit."""
    limiter = RateLimiter("openai", RateLimit(tokens_per_minute=1000), clock=clock)
    limiter.acquire(tokens=600)
    limiter.acquire(tokens=400)
    with pytest.raises(RateLimited) as raised:
        limiter.acquire(tokens=300)
    # The minute's 1000 tokens weigh less as the window slides: 300 fit once 70% remain,
    # 18 seconds into the next minute.
    assert raised.value.retry_after_seconds == pytest.approx(78, abs=0.01)
    clock.advance(raised.value.retry_after_seconds)
    limiter.acquire(tokens=300)
    with pytest.raises(ValueError, match="can never pass"):
        limiter.acquire(tokens=1001)


def test_a_refused_token_check_does_not_use_up_requests(clock: FakeClock) -> None:
    """Leave the request count untouched when the tokens limit refuses a call."""
    limiter = RateLimiter(
        "openai", RateLimit(requests_per_minute=2, tokens_per_minute=100), clock=clock
    )
    limiter.acquire(tokens=100)
    for _ in range(3):
        with pytest.raises(RateLimited):
            limiter.acquire(tokens=50)
    assert limiter.acquire() == 0  # the second request of the minute is still free
    with pytest.raises(RateLimited):
        limiter.acquire()


def test_burst_caps_requests_in_any_one_second(clock: FakeClock) -> None:
    """Admit at most ``burst`` requests in one second though the minute allows more."""
    limiter = RateLimiter("openai", RateLimit(requests_per_minute=60, burst=3), clock=clock)
    for _ in range(3):
        limiter.acquire()
    with pytest.raises(RateLimited) as raised:
        limiter.acquire()
    assert raised.value.retry_after_seconds == pytest.approx(1, abs=0.01)
    assert "3 requests/second" in str(raised.value)
    clock.advance(raised.value.retry_after_seconds)
    limiter.acquire()


def test_rate_limit_reads_a_tool_configuration() -> None:
    """Read requests, tokens and burst from ExternalToolConfig, and spread bursts over the rate."""
    config = ExternalToolConfig(
        rate_limit_requests_per_minute=600, rate_limit_tokens_per_minute=9000, rate_limit_burst=5
    )
    limit = RateLimit.from_config(config)
    assert (limit.requests_per_minute, limit.tokens_per_minute, limit.burst) == (600, 9000, 5)
    assert limit.per_second == 10
    with pytest.raises(ValueError, match=">= 1"):
        RateLimit(requests_per_minute=0)


def test_redis_storage_limits_requests(redis_url: str) -> None:
    """Limit requests through a real Redis and refuse beyond the limit."""
    limiter = RateLimiter("openai", RateLimit(requests_per_minute=5), storage=redis_url)
    for _ in range(5):
        limiter.acquire()
    with pytest.raises(RateLimited) as raised:
        limiter.acquire()
    assert 59 < raised.value.retry_after_seconds <= 60
    limiter.close()


def test_unknown_storage_is_refused() -> None:
    """Say which storage scheme cannot be used."""
    with pytest.raises(ValueError, match="nosuch://"):
        RateLimiter("openai", RateLimit(requests_per_minute=1), storage="nosuch://x")


def test_reset_forgets_what_was_counted(clock: FakeClock) -> None:
    """Admit again at once after the limiter is reset."""
    limiter = RateLimiter(
        "openai", RateLimit(requests_per_minute=1, tokens_per_minute=10), clock=clock
    )
    limiter.acquire(tokens=10)
    limiter.reset()
    assert limiter.acquire(tokens=10) == 0
