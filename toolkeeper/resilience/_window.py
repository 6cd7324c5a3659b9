"""A count-based sliding window over the outcomes of a tool's last N calls.

Not thread-safe: the circuit breaker holds its lock around every use.
"""

from __future__ import annotations

__all__ = ["FAILED", "SLOW", "CallWindow"]

FAILED = 1
SLOW = 2


class CallWindow:
    """Keep the last ``size`` outcomes, each a code of ``FAILED | SLOW`` bits, with running sums.

    Pushing is O(1) and allocates nothing; ``failures`` and ``slow`` count the
    failed and the slow calls among the ``count`` held.
    """

    __slots__ = ("_codes", "_next", "count", "failures", "slow")

    def __init__(self, size: int) -> None:
        self._codes = bytearray(size)
        self._next = 0
        self.count = self.failures = self.slow = 0

    @property
    def size(self) -> int:
        """Return how many calls the window holds at most."""
        return len(self._codes)

    def push(self, code: int) -> None:
        """Add the newest outcome, evicting the oldest from a full window."""
        codes, position = self._codes, self._next
        size = len(codes)
        if self.count == size:
            evicted = codes[position]
            if evicted:  # most calls succeed: skip the arithmetic for them
                self.failures -= evicted & FAILED
                self.slow -= evicted >> 1
        else:
            self.count += 1
        codes[position] = code
        if code:
            self.failures += code & FAILED
            self.slow += code >> 1
        position += 1
        self._next = 0 if position == size else position

    def failure_rate(self) -> float:
        """Return the share of failed calls, 0.0 when empty."""
        return self.failures / self.count if self.count else 0.0

    def slow_call_rate(self) -> float:
        """Return the share of slow calls, 0.0 when empty."""
        return self.slow / self.count if self.count else 0.0

    def resized(self, size: int) -> CallWindow:
        """Return a window of ``size`` holding the newest of these outcomes, oldest first."""
        window = CallWindow(size)
        old_size = len(self._codes)
        for back in range(min(self.count, size), 0, -1):
            window.push(self._codes[(self._next - back) % old_size])
        return window
