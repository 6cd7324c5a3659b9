"""Slow down token guessing: count failed sign-ins and bearer tokens per client address.

A token has 256 random bits, so guessing one is hopeless; throttling is about
not letting a client hammer the store and fill the logs, and about making a
probing client visible. Every failure is logged (the address and why, never
the token presented) and counted in a moving window with the ``limits``
library; an address over the limit is answered 429 with ``Retry-After`` until
its window frees up, whatever it sends. Counts live in Redis when the keeper
shares one (every server process then counts together), else in memory.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from toolkeeper._clock import Clock, SystemClock

__all__ = ["AuthThrottle", "Refusal"]

log = logging.getLogger("toolkeeper.server.auth")
_NAMESPACE = "toolkeeper-auth-failures"


@dataclass(frozen=True, slots=True)
class Refusal:
    """An address over its limit: how long until it may try again."""

    retry_after_seconds: int


class AuthThrottle:
    """Count authentication failures per client address; refuse addresses over ``limit``.

    ``limit`` is a ``limits`` string such as ``"20/minute"``; ``storage`` a
    ``limits`` storage URI (``memory://``, ``redis://…``); ``clock`` the wall
    clock the seconds until a window frees are counted on (``limits`` itself
    reads ``time.time``). Thread-safe.
    """

    def __init__(
        self, limit: str = "20/minute", *, storage: str = "memory://", clock: Clock | None = None
    ) -> None:
        self.limit: RateLimitItem = parse(limit)
        self._clock = clock if clock is not None else SystemClock()
        counts = storage_from_string(storage)
        #: Counts kept in this process's memory: checking them does no I/O.
        self.in_memory = isinstance(counts, MemoryStorage)
        self._limiter = MovingWindowRateLimiter(counts)

    def refusal(self, address: str) -> Refusal | None:
        """Return a refusal when ``address`` has used up its failures, else ``None``."""
        if self._limiter.test(self.limit, _NAMESPACE, address):
            return None
        stats = self._limiter.get_window_stats(self.limit, _NAMESPACE, address)
        left = stats.reset_time - self._clock.now().timestamp()
        return Refusal(retry_after_seconds=max(1, math.ceil(left)))

    def failed(self, address: str, reason: str, *, via: str) -> None:
        """Count a failure from ``address`` and log it with ``reason`` (never the token)."""
        self._limiter.hit(self.limit, _NAMESPACE, address)
        log.warning("authentication failed (%s) from %s: %s", via, address, reason)
