"""Decide whether to retry a failed attempt, and how long to wait first.

The wait is exponential backoff with *full jitter*: after failed attempt ``n``
(1-based) it is drawn uniformly from ``[0, min(max, initial * multiplier**(n-1))]``.
If the error carries a ``Retry-After``, the wait is at least that long, capped
at ``policy.retry_after_max_seconds`` so that a server cannot park a caller for
an hour; the executor still enforces ``max_retry_attempts`` after such a wait.

Hand-written rather than built on tenacity, on purpose. tenacity's
``wait_random_exponential`` is the same formula, but it draws from the global
``random`` module (so tests cannot inject a seeded ``random.Random``), and its
strategies take a ``RetryCallState`` that only its ``Retrying``/``AsyncRetrying``
controllers build. Those controllers own the attempt loop, and ours must
interleave a circuit check, a per-attempt timeout and the fallback chain while
sharing one decision function between the sync and async paths. What is left
to borrow is the five lines below.
"""

from __future__ import annotations

import math
import random
import re
from datetime import UTC, datetime, timedelta

from toolkeeper import _random
from toolkeeper._clock import Clock
from toolkeeper.resilience.policy import ResiliencePolicy

__all__ = ["backoff_ceiling", "retry_after_seconds", "retry_delay"]

_DELAY_SECONDS = re.compile(r"\s*\d+(?:\.\d+)?\s*")
_RETRY_AFTER_ATTRIBUTES = ("retry_after_seconds", "retry_after")


def backoff_ceiling(policy: ResiliencePolicy, attempt: int) -> float:
    """Return the upper bound of the jittered wait after failed attempt ``attempt``."""
    try:
        high = policy.retry_backoff_seconds * policy.retry_backoff_multiplier ** (attempt - 1)
    except OverflowError:
        return policy.retry_backoff_max_seconds
    return min(policy.retry_backoff_max_seconds, high)


def retry_delay(
    policy: ResiliencePolicy,
    attempt: int,
    error: BaseException,
    *,
    clock: Clock,
    rng: random.Random | None = None,
) -> float | None:
    """Return the seconds to wait before the next attempt, or None to stop retrying.

    ``attempt`` is the 1-based number of the attempt that just failed with
    ``error``. None means the attempts are used up or the error is not retryable.
    The jitter is drawn from ``rng``, or when None from the process's source
    (:func:`toolkeeper._random.source`, which a test may replace).
    """
    if attempt > policy.max_retry_attempts or not policy.should_retry(error):
        return None
    delay = (rng or _random.source()).uniform(0.0, backoff_ceiling(policy, attempt))
    floor = retry_after_seconds(error, clock=clock)
    if floor is not None:
        delay = max(delay, min(floor, policy.retry_after_max_seconds))
    return delay


def retry_after_seconds(error: BaseException, *, clock: Clock) -> float | None:
    """Return the wait, in seconds, that ``error`` asks for, or None if it names none.

    Looks at ``error.retry_after_seconds`` and ``error.retry_after`` (seconds, a
    ``timedelta``, a ``datetime`` or a header string), then at an httpx-style
    ``error.response.headers["Retry-After"]`` (delay-seconds or an HTTP-date).
    A date in the past, or a negative number, means no wait (0.0); a value that
    does not parse is ignored (None).
    """
    for attribute in _RETRY_AFTER_ATTRIBUTES:
        seconds = _to_seconds(getattr(error, attribute, None), clock)
        if seconds is not None:
            return seconds
    headers = getattr(getattr(error, "response", None), "headers", None)
    get = getattr(headers, "get", None)
    if get is None:
        return None
    # httpx, requests and aiohttp headers ignore case; a plain dict does not.
    return _to_seconds(get("Retry-After") or get("retry-after"), clock)


def _to_seconds(value: object, clock: Clock) -> float | None:
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if isinstance(value, str):
        value = _parse_header(value)
    if isinstance(value, datetime):
        when = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        value = (when - clock.now()).total_seconds()
    elif isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return None
    return max(float(value), 0.0)  # a date in the past asks for no wait


def _parse_header(value: str) -> float | datetime | None:
    if _DELAY_SECONDS.fullmatch(value):
        return float(value)
    from email.utils import parsedate_to_datetime  # 6 ms to import; HTTP-dates are rare

    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
