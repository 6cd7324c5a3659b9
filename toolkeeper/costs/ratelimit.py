"""Rate limits of a tool through the ``limits`` library, in memory or shared through Redis.

Requests per minute use the *moving window*: ``limits`` keeps the time of each
admitted request, so no 60-second span, wherever it starts, admits more than
the limit. A fixed window admits up to twice the limit around its boundary
and the sliding-window counter only approximates; neither keeps the promise
"at most N in any minute" that replicas sharing a limit rely on. The burst is
a second moving window of one second: at most ``burst`` requests (or the
per-minute rate spread over a second, if larger) arrive at once.

Tokens per minute use the *sliding-window counter*, with the call's tokens as
the hit's cost: a moving window stores one entry per unit of cost (a million
list entries for a million tokens a minute), while the counter is two
integers whatever the volume, at the price of weighting the previous minute
linearly.

When a call is limited the policy waits, sleeping through the :class:`Clock`,
as long as the wait stays within ``max_wait_seconds``; otherwise it raises
:class:`~toolkeeper.RateLimited` with the seconds until the window frees.
Windows run on the wall clock of each process (``time.time``), as ``limits``
does; processes sharing Redis should agree on the time. The limiter's own
reading of the time (the seconds until a moving window frees) is its
:class:`Clock`'s ``now()``, the same wall clock unless a test gives another.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from toolkeeper._clock import Clock, SystemClock
from toolkeeper._errors import MissingDependencyError, RateLimited, StoreError
from toolkeeper._schemes import REDIS_SCHEMES, scheme_of
from toolkeeper.costs.tool_fields import cost_fields

__all__ = ["RateLimit", "RateLimiter"]

_MIN_WAIT = 0.001


@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimit:
    """How fast one tool may be called; ``None`` means no limit of that kind."""

    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    burst: int | None = None

    def __post_init__(self) -> None:
        for name in ("requests_per_minute", "tokens_per_minute", "burst"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or value < 1):
                raise ValueError(f"rate limit {name} must be an integer >= 1, got {value!r}")

    @classmethod
    def from_config(cls, config: object) -> RateLimit:
        """Read ``rate_limit_*`` from an ``ExternalToolConfig`` (no limit for other tool types)."""
        fields = cost_fields(config)
        if fields is None:
            return cls()
        return cls(
            requests_per_minute=fields.rate_limit_requests_per_minute,
            tokens_per_minute=fields.rate_limit_tokens_per_minute,
            burst=fields.rate_limit_burst,
        )

    @property
    def per_second(self) -> int | None:
        """Return the requests allowed in any one second: the burst, at least the spread rate."""
        if self.burst is None:
            return None
        spread = math.ceil(self.requests_per_minute / 60) if self.requests_per_minute else 1
        return max(self.burst, spread)


@dataclass(frozen=True, slots=True)
class _Check:
    name: str
    strategy: Any
    item: Any
    sliding: bool


class RateLimiter:
    """Admit or hold back the calls of one tool; share one per tool and process.

    ``storage`` is a ``limits`` storage URI: ``memory://`` (this process) or
    ``redis://…`` (every process pointing at it; needs ``toolkeeper[redis]``).
    Thread-safe, as the ``limits`` storages are.
    """

    def __init__(
        self,
        tool: str,
        limit: RateLimit,
        *,
        storage: str = "memory://",
        clock: Clock | None = None,
        max_wait_seconds: float = 0.0,
        namespace: str = "toolkeeper",
    ) -> None:
        # Deferred: `limits` loads only where a rate limit is configured or parsed; most tools have
        # none.
        import limits
        from limits.strategies import MovingWindowRateLimiter, SlidingWindowCounterRateLimiter

        if max_wait_seconds < 0:
            raise ValueError(f"max_wait_seconds must be >= 0, got {max_wait_seconds!r}")
        self.tool = tool
        self.limit = limit
        self.max_wait_seconds = max_wait_seconds
        self._clock = clock if clock is not None else SystemClock()
        self._storage = _open_storage(storage)
        moving = MovingWindowRateLimiter(self._storage)
        self._ids = (namespace, tool)
        self._checks: list[_Check] = []
        if limit.per_second is not None:
            burst = limits.RateLimitItemPerSecond(limit.per_second)
            self._checks.append(_Check("burst", moving, burst, sliding=False))
        if limit.requests_per_minute is not None:
            requests = limits.RateLimitItemPerMinute(limit.requests_per_minute)
            self._checks.append(_Check("requests", moving, requests, sliding=False))
        self._tokens: _Check | None = None
        if limit.tokens_per_minute is not None:
            sliding = SlidingWindowCounterRateLimiter(self._storage)
            tokens = limits.RateLimitItemPerMinute(limit.tokens_per_minute)
            self._tokens = _Check("tokens", sliding, tokens, sliding=True)

    def acquire(self, tokens: int = 0) -> float:
        """Admit one call using ``tokens``, waiting within the bound; return the seconds waited.

        Raises :class:`~toolkeeper.RateLimited` when admitting it would take
        longer than ``max_wait_seconds``.
        """
        waited = 0.0
        for wait in self.waits(tokens):
            self._clock.sleep(wait)
            waited += wait
        return waited

    async def aacquire(self, tokens: int = 0) -> float:
        """Admit one call like :meth:`acquire`, waiting without blocking the event loop.

        The check itself is one storage call: microseconds in memory, one round trip to Redis.
        """
        waited = 0.0
        for wait in self.waits(tokens):
            await self._clock.asleep(wait)
            waited += wait
        return waited

    def waits(self, tokens: int) -> Iterator[float]:
        """Yield each wait before a call of ``tokens`` passes: the engine of both drivers.

        Each step hits the limits; the generator ends once they admit the call and
        raises :class:`~toolkeeper.RateLimited` when the next wait would go past
        ``max_wait_seconds``.
        """
        deadline = self._clock.monotonic() + self.max_wait_seconds
        while (retry := self._attempt(tokens)) is not None:
            self._refuse_beyond(deadline, retry, tokens)
            yield retry

    def reset(self) -> None:
        """Forget every request and token counted so far, for every process sharing them."""
        for check in [*self._checks, *([self._tokens] if self._tokens is not None else [])]:
            check.strategy.clear(check.item, *self._ids)

    def close(self) -> None:
        """Close the storage's connections, if it has any."""
        client = getattr(self._storage, "storage", None)
        if client is not None and hasattr(client, "close"):
            client.close()

    def __repr__(self) -> str:
        return f"RateLimiter(tool={self.tool!r}, limit={self.limit!r})"

    def _attempt(self, tokens: int) -> float | None:
        """Hit every limit; return ``None`` when admitted, else seconds until a retry may pass."""
        # Deferred: `limits` loads only where a rate limit is configured or parsed; most tools have
        # none.
        from limits.errors import StorageError

        try:
            return self._hit_all(tokens)
        except StorageError as exc:
            raise StoreError(
                f"the rate limit storage of {self.tool!r} failed: {exc.storage_error!r}"
            ) from exc

    def _hit_all(self, tokens: int) -> float | None:
        checks = [(check, 1) for check in self._checks]
        if self._tokens is not None and tokens > 0:
            if tokens > self._tokens.item.amount:
                raise ValueError(
                    f"a call of {tokens} tokens can never pass the limit of "
                    f"{self._tokens.item.amount} tokens per minute of {self.tool!r}"
                )
            checks.append((self._tokens, tokens))
        if len(checks) > 1:
            # Test them all first, so a refusal by one does not use up the others.
            for check, cost in checks:
                if not check.strategy.test(check.item, *self._ids, cost=cost):
                    return self._retry_after(check, cost)
        for check, cost in checks:
            if not check.strategy.hit(check.item, *self._ids, cost=cost):
                return self._retry_after(check, cost)
        return None

    def _retry_after(self, check: _Check, cost: int) -> float:
        if not check.sliding:
            reset = float(check.strategy.get_window_stats(check.item, *self._ids).reset_time)
            # An entry leaves the moving window strictly after its expiry: step just past it.
            return max(reset - self._clock.now().timestamp(), 0.0) + _MIN_WAIT
        key = check.item.key_for(*self._ids)
        expiry = check.item.get_expiry()
        previous, previous_ttl, current, current_ttl = self._storage.get_sliding_window(key, expiry)
        # limits weighs the previous window by the share of it still inside the sliding
        # minute (previous_ttl / expiry); current_ttl runs to the end of the current window
        # plus the window it will then spend as the previous one.
        amount = check.item.amount
        room = amount - cost - current
        if room >= 0:
            wait = previous_ttl - room * expiry / previous if previous else 0.0
        else:
            wait = current_ttl - expiry + expiry * (1 - (amount - cost) / current)
        return max(float(wait), 0.0) + _MIN_WAIT

    def _refuse_beyond(self, deadline: float, retry: float, tokens: int) -> None:
        if self._clock.monotonic() + retry <= deadline:
            return
        what = f"{tokens} tokens" if tokens else "one request"
        raise RateLimited(
            f"rate limit of {self.tool!r} reached ({self._describe()}); {what} may pass in "
            f"{retry:.2f}s, beyond the wait allowed of {self.max_wait_seconds:g}s",
            tool=self.tool,
            retry_after_seconds=retry,
        )

    def _describe(self) -> str:
        parts = []
        if self.limit.requests_per_minute is not None:
            parts.append(f"{self.limit.requests_per_minute} requests/minute")
        if self.limit.per_second is not None:
            parts.append(f"{self.limit.per_second} requests/second")
        if self.limit.tokens_per_minute is not None:
            parts.append(f"{self.limit.tokens_per_minute} tokens/minute")
        return ", ".join(parts) or "no limit"


def _open_storage(uri: str) -> Any:
    # Deferred: `limits` loads only where a rate limit is configured or parsed;
    # most tools have none.
    from limits.errors import ConfigurationError
    from limits.storage import storage_from_string

    if scheme_of(uri) in REDIS_SCHEMES:
        import importlib.util

        if importlib.util.find_spec("redis") is None:
            raise MissingDependencyError("rate limits shared through Redis", "redis")
    try:
        return storage_from_string(uri, wrap_exceptions=True)
    except ConfigurationError as exc:
        raise ValueError(f"rate limit storage {scheme_of(uri)}:// is not usable: {exc}") from None
