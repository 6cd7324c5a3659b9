"""One timer per event loop for the deadlines of every async call in flight on it.

``asyncio.timeout`` schedules a timer per call and cancels it when the call
returns: a heap push, a handle, and a cancelled entry left in the loop's heap,
about as long as the rest of a tracked call. Calls of one tool share one
timeout, so their deadlines come in the order the calls start: a
:class:`LoopDeadlines` keeps them in an insertion-ordered dict per timeout (a
call that returns removes its entry, O(1), leaving nothing behind) and one timer
at the earliest deadline of all. When it fires, it cancels each overdue call's
task and sets itself at the next earliest deadline.

Cancellation follows ``asyncio.timeout`` exactly: an overdue task is cancelled;
when the call ends with that ``CancelledError`` and no other cancellation was
requested meanwhile (``Task.uncancel()``), it becomes a timeout.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

__all__ = ["Deadline", "LoopDeadlines", "deadlines_of"]


class Deadline:
    """One call's deadline: its task, the loop time it is due, and whether it expired."""

    __slots__ = ("cancelling", "due", "expired", "queue", "task")

    def __init__(self, task: asyncio.Task[Any], due: float, queue: dict[Deadline, None]) -> None:
        self.task = task
        self.due = due
        self.queue = queue
        self.expired = False
        self.cancelling = task.cancelling()

    def returned(self) -> None:
        """End the deadline of a call that returned; expired meanwhile, withdraw its cancel."""
        self.queue.pop(self, None)
        if self.expired:
            self.task.uncancel()

    def raised(self, error: BaseException) -> bool:
        """End the deadline of a call that raised ``error``; return whether it is the timeout."""
        self.queue.pop(self, None)
        return self.expired and self.timed_out(error)

    def timed_out(self, error: BaseException) -> bool:
        """Return whether ``error``, ending the call, is this deadline's cancellation.

        Call once, as the call ends with an exception, and only when :attr:`expired`:
        it withdraws the cancellation the deadline requested, as ``asyncio.timeout`` does.
        """
        return self.task.uncancel() <= self.cancelling and isinstance(error, asyncio.CancelledError)


class LoopDeadlines:
    """The deadlines of one event loop's calls in flight; used only from that loop's thread."""

    __slots__ = ("__weakref__", "_by_timeout", "_loop", "_timer", "_timer_due")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._by_timeout: dict[float, dict[Deadline, None]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._timer_due = float("inf")

    def start(self, task: asyncio.Task[Any], timeout: float) -> Deadline:
        """Return the deadline of a call of ``task`` starting now, due in ``timeout`` seconds."""
        queue = self._by_timeout.get(timeout)
        if queue is None:
            queue = self._by_timeout[timeout] = {}
        deadline = Deadline(task, self._loop.time() + timeout, queue)
        queue[deadline] = None
        if deadline.due < self._timer_due:
            self._schedule(deadline.due)
        return deadline

    def _schedule(self, due: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop.call_at(due, self._fire)
        self._timer_due = due

    def _fire(self) -> None:
        """Cancel every overdue call, then wait for the next earliest deadline."""
        self._timer, self._timer_due = None, float("inf")
        now = self._loop.time()
        earliest = float("inf")
        for timeout, queue in list(self._by_timeout.items()):
            while queue:
                deadline = next(iter(queue))
                if deadline.due > now:
                    earliest = min(earliest, deadline.due)
                    break
                del queue[deadline]
                deadline.expired = True
                deadline.task.cancel()
            if not queue:
                del self._by_timeout[timeout]
        if earliest != float("inf"):
            self._schedule(earliest)

    def __len__(self) -> int:
        return sum(len(queue) for queue in self._by_timeout.values())


#: Loops whose class takes no attributes (uvloop's): their deadlines, by loop, kept weakly.
_LOOPS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopDeadlines] = (
    weakref.WeakKeyDictionary()
)
_ATTRIBUTE = "_toolkeeper_deadlines"


def deadlines_of(loop: asyncio.AbstractEventLoop) -> LoopDeadlines:
    """Return the deadlines of ``loop`` (created on first use, gone with the loop).

    Kept on the loop itself, so that they and the loop are collected together (they
    refer to the loop, which a weak mapping keyed by the loop would keep alive).
    """
    found: LoopDeadlines | None = getattr(loop, _ATTRIBUTE, None)
    if found is not None:
        return found
    found = _LOOPS.get(loop)
    if found is None:
        found = LoopDeadlines(loop)
        try:
            setattr(loop, _ATTRIBUTE, found)
        except AttributeError:
            _LOOPS[loop] = found
    return found
