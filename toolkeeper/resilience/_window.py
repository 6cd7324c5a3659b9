"""A count-based sliding window over the outcomes of a tool's last N calls.

Successes, the common case, are counted without a lock: an ``itertools.count``
advanced by ``next()`` is atomic in CPython. Failed and slow calls, the rare
case, are kept with their position among all calls, under the breaker's lock;
the window's figures are computed from those positions when an outcome is
evaluated (to decide whether to trip) or a snapshot is taken.
"""

from __future__ import annotations

import itertools
from collections import deque

__all__ = ["FAILED", "SLOW", "CallWindow"]

FAILED = 1
SLOW = 2


class CallWindow:
    """Keep the last ``size`` outcomes: a lock-free success count and the positions of bad calls.

    ``success`` may run on any thread without a lock; every other method runs
    under the breaker's lock. ``failures`` and ``slow`` count the failed and slow
    calls among the ``count`` held, as of the last :meth:`push` or :meth:`refresh`.
    """

    __slots__ = ("_bad", "_bad_total", "_base", "_reads", "_successes", "count", "failures",
                 "size", "slow", "success")  # fmt: skip

    def __init__(self, size: int) -> None:
        self.size = size
        self._successes = itertools.count()
        #: Count one successful call; lock-free (a C method: this is on every call's path).
        self.success = self._successes.__next__
        self._reads = 0
        self._bad: deque[tuple[int, int]] = deque()
        self._bad_total = 0
        self._base = 0
        self.count = self.failures = self.slow = 0

    def _total(self) -> int:
        # Reading the counter advances it: remember how many reads to take off.
        successes = next(self._successes) - self._reads
        self._reads += 1
        return successes + self._bad_total

    def push(self, code: int) -> None:
        """Add the newest outcome (``FAILED | SLOW`` bits; 0 is a success) and refresh."""
        if not code:
            self.success()
        else:
            self._bad.append((self._total(), code))
            self._bad_total += 1
        self.refresh()

    def refresh(self) -> None:
        """Recompute ``count``, ``failures`` and ``slow``, evicting calls older than the window."""
        total = self._total()
        start = total - self.size
        bad = self._bad
        while bad and bad[0][0] < start:
            bad.popleft()
        self.count = min(total - self._base, self.size)
        self.failures = sum(code & FAILED for _, code in bad)
        self.slow = sum(code >> 1 for _, code in bad)

    def failure_rate(self) -> float:
        """Return the share of failed calls, 0.0 when empty."""
        return self.failures / self.count if self.count else 0.0

    def slow_call_rate(self) -> float:
        """Return the share of slow calls, 0.0 when empty."""
        return self.slow / self.count if self.count else 0.0

    def resized(self, size: int) -> CallWindow:
        """Return this window holding at most ``size`` of its newest calls."""
        self.size = size
        self.refresh()
        return self

    def emptied(self) -> CallWindow:
        """Return this window with every call so far forgotten (on closing the circuit)."""
        self._base = self._total()
        self._bad.clear()
        self.refresh()
        return self
