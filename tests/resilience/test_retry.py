"""Backoff: full-jitter bounds (with Hypothesis), the end of retries, and Retry-After."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from toolkeeper import _random
from toolkeeper._clock import FakeClock
from toolkeeper._errors import CircuitOpenError
from toolkeeper.resilience import (
    ResiliencePolicy,
    backoff_ceiling,
    call,
    retry_after_seconds,
    retry_delay,
)


class ThrottledError(Exception):
    """An error that carries a server's Retry-After as an attribute."""

    def __init__(self, **attributes: Any) -> None:
        super().__init__("429 Too Many Requests")
        for name, value in attributes.items():
            setattr(self, name, value)


def http_error(retry_after: str | None) -> httpx.HTTPStatusError:
    """Build the error httpx raises for a 429 response, optionally with a Retry-After header."""
    headers = {} if retry_after is None else {"Retry-After": retry_after}
    request = httpx.Request("GET", "https://api.example.com/v1/chat")
    response = httpx.Response(429, headers=headers, request=request)
    return httpx.HTTPStatusError("429", request=request, response=response)


POLICY = ResiliencePolicy(
    max_attempts=10,
    backoff_initial_seconds=0.5,
    backoff_max_seconds=8.0,
    backoff_multiplier=2.0,
    retry_after_max_seconds=60.0,
)


def test_ceiling_grows_exponentially_up_to_the_maximum() -> None:
    """Double the ceiling per failed attempt from the initial wait, capped at the maximum."""
    ceilings = [backoff_ceiling(POLICY, attempt) for attempt in range(1, 8)]
    assert ceilings == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_ceiling_survives_an_overflowing_exponent() -> None:
    """Return the maximum when the exponential term overflows a float."""
    assert backoff_ceiling(POLICY, 5000) == 8.0


@given(
    initial=st.floats(min_value=0, max_value=60),
    extra=st.floats(min_value=0, max_value=600),
    multiplier=st.floats(min_value=1, max_value=10),
    attempt=st.integers(min_value=1, max_value=2000),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_delay_lies_within_full_jitter_bounds(
    initial: float, extra: float, multiplier: float, attempt: int, seed: int
) -> None:
    """Draw every delay from [0, min(max, initial * multiplier**(attempt-1))]."""
    policy = ResiliencePolicy(
        max_attempts=attempt + 1,
        backoff_initial_seconds=initial,
        backoff_max_seconds=initial + extra,
        backoff_multiplier=multiplier,
    )
    ceiling = backoff_ceiling(policy, attempt)
    assert ceiling <= policy.backoff_max_seconds
    if attempt < 50:  # past that the float power overflows and the cap applies anyway
        assert ceiling <= initial * multiplier ** (attempt - 1) * (1 + 1e-12)
    delay = retry_delay(policy, attempt, OSError(), clock=FakeClock(), rng=random.Random(seed))
    assert delay is not None
    assert 0.0 <= delay <= ceiling


@given(
    multiplier=st.floats(min_value=1, max_value=10),
    attempt=st.integers(min_value=1, max_value=500),
)
def test_ceiling_never_shrinks_from_one_attempt_to_the_next(
    multiplier: float, attempt: int
) -> None:
    """Keep the ceiling non-decreasing in the attempt number."""
    policy = ResiliencePolicy(backoff_multiplier=multiplier, backoff_max_seconds=100.0)
    assert backoff_ceiling(policy, attempt) <= backoff_ceiling(policy, attempt + 1)


def test_jitter_is_full_not_equal() -> None:
    """Spread delays over the whole range, near zero as well as near the ceiling."""
    rng = random.Random(7)
    delays = [retry_delay(POLICY, 4, OSError(), clock=FakeClock(), rng=rng) for _ in range(500)]
    values = [d for d in delays if d is not None]
    assert min(values) < 0.4
    assert max(values) > 3.6


def test_a_seeded_generator_gives_reproducible_delays() -> None:
    """Repeat the same delays from the same seed, so tests can pin them."""
    first = [
        retry_delay(POLICY, n, OSError(), clock=FakeClock(), rng=random.Random(3)) for n in (1, 2)
    ]
    again = [
        retry_delay(POLICY, n, OSError(), clock=FakeClock(), rng=random.Random(3)) for n in (1, 2)
    ]
    assert first == again


def test_no_retry_after_the_last_attempt_or_for_a_refusal() -> None:
    """Return None once attempts are used up, or when the error is not retryable."""
    clock = FakeClock()
    assert retry_delay(POLICY, 10, OSError(), clock=clock) is None
    refusal = CircuitOpenError(tool="t", retry_after_seconds=1)
    assert retry_delay(POLICY, 1, refusal, clock=clock) is None
    assert retry_delay(ResiliencePolicy(), 1, OSError(), clock=clock) is None


@pytest.mark.parametrize(
    "error",
    [
        ThrottledError(retry_after=5),
        ThrottledError(retry_after_seconds=5.0),
        ThrottledError(retry_after=timedelta(seconds=5)),
        ThrottledError(retry_after="5"),
        http_error("5"),
    ],
    ids=["retry_after", "retry_after_seconds", "timedelta", "string", "httpx-header"],
)
def test_delay_honours_retry_after_in_seconds(error: BaseException) -> None:
    """Wait at least the Retry-After the error carries, above the jittered backoff."""
    clock = FakeClock()
    assert retry_after_seconds(error, clock=clock) == 5.0
    for seed in range(20):
        delay = retry_delay(POLICY, 1, error, clock=clock, rng=random.Random(seed))
        assert delay == 5.0  # backoff after attempt 1 is at most 0.5 s


def test_delay_honours_retry_after_as_an_http_date() -> None:
    """Wait until the HTTP-date the server names, measured on the clock's wall time."""
    clock = FakeClock()
    when = format_datetime(clock.now() + timedelta(seconds=30), usegmt=True)
    error = http_error(when)
    assert retry_after_seconds(error, clock=clock) == 30.0
    assert retry_delay(POLICY, 1, error, clock=clock, rng=random.Random(1)) == 30.0


def test_a_date_in_the_past_asks_for_no_wait() -> None:
    """Treat a Retry-After date already past as zero, leaving the jittered backoff."""
    clock = FakeClock()
    error = http_error(format_datetime(clock.now() - timedelta(minutes=5), usegmt=True))
    assert retry_after_seconds(error, clock=clock) == 0.0
    delay = retry_delay(POLICY, 3, error, clock=clock, rng=random.Random(1))
    assert delay is not None
    assert 0.0 <= delay <= 2.0


def test_a_long_retry_after_is_capped() -> None:
    """Wait no longer than retry_after_max_seconds, whatever the server asks."""
    delay = retry_delay(POLICY, 1, http_error("86400"), clock=FakeClock())
    assert delay == 60.0


@pytest.mark.parametrize(
    "error",
    [OSError("reset"), http_error(None), http_error("soon"), ThrottledError(retry_after=-3)],
    ids=["no-response", "no-header", "garbage", "negative"],
)
def test_a_missing_or_unreadable_retry_after_is_ignored(error: BaseException) -> None:
    """Fall back to the jittered backoff when the error names no usable wait."""
    found = retry_after_seconds(error, clock=FakeClock())
    assert found in (None, 0.0)
    delay = retry_delay(POLICY, 1, error, clock=FakeClock(), rng=random.Random(2))
    assert delay is not None
    assert 0.0 <= delay <= 0.5


@pytest.fixture
def seeded_source() -> Iterator[random.Random]:
    """Install a seeded generator as the process's random source, then put the default back."""
    installed = random.Random(11)
    _random.use(installed)
    yield installed
    _random.reset_defaults()


def _sleeps_of_three_failures(rng: random.Random | None) -> list[float]:
    """Run a call that fails three times then succeeds; return the backoff sleeps it asked for."""
    clock = FakeClock()
    failures = iter([OSError("1"), OSError("2"), OSError("3")])

    def flaky() -> str:
        error = next(failures, None)
        if error is not None:
            raise error
        return "ok"

    outcome = call(flaky, policy=POLICY, clock=clock, rng=rng)
    assert outcome.value == "ok"
    return clock.sleeps


@pytest.mark.usefixtures("seeded_source")
def test_injected_source_makes_the_executors_jitter_deterministic() -> None:
    """A call handed no generator draws jitter from the injected source, so a seed replays it."""
    drawn = _sleeps_of_three_failures(None)
    assert drawn == _sleeps_of_three_failures(random.Random(11))
    assert len(drawn) == 3
    _random.use(random.Random(11))
    assert _sleeps_of_three_failures(None) == drawn


def test_reset_defaults_puts_back_the_process_source(seeded_source: random.Random) -> None:
    """After reset_defaults() the jitter no longer comes from the generator a test installed."""
    installed = seeded_source
    assert _random.source() is installed
    _random.reset_defaults()
    assert _random.source() is not installed
    state = installed.getstate()
    retry_delay(POLICY, 1, OSError(), clock=FakeClock())
    assert installed.getstate() == state
