"""Wrapped calls of a tool under a budget or a rate limit: admit before, settle after.

Only a runtime with ``guarded`` set comes here (see
:class:`~toolkeeper.wrap.runtime.ToolRuntime`). Before the call: the rate
limit, then the budget reservation of the call's estimate; a refusal
(:class:`~toolkeeper.RateLimited`, :class:`~toolkeeper.BudgetExceeded`)
reaches the caller and is recorded as an error. A reservation that a
``fallback`` budget could not afford sends the call straight to the fallback
chain, recorded with ``fallback_reason = "budget"`` (with no fallback, the
caller gets ``BudgetExceeded``). After the call, the value's cost settles the
reservation (an unpriced one, whose cost is unknown, is charged its estimate);
a call that raised releases it. A disabled tool is neither
limited nor charged: it never reaches the tool.

The fast path: when the runtime allows it (``guarded_fast``,
``guarded_async_fast``: monitored, usage tracked, no bulkhead; for a sync call,
no timeout thread) and the circuit is closed, the first attempt runs inline
between the admission and the settle, as an unguarded call's does in
:mod:`toolkeeper.wrap.decorate`. A value that carries its cost (or is no
response) is recorded as an unguarded call's is, and its cost settles the
reservation, which a shared ledger writes off this thread; a response to price
or a stream takes the general tail. A first attempt that raises goes on
through the resilience state machine (retries, fallbacks) as the same operation.

The decorator's own fast paths (:mod:`toolkeeper.wrap.decorate`, sync and async, and
the sync one's C kernel) admit a guarded call themselves when its budgets admit it at once
(:meth:`~toolkeeper.costs.calls.CallCosts.admit_at_once`), and settles it; a first
attempt of such a call that raises comes here with its reservation, to go on
as the same operation (``begun``).

One engine, :class:`_GuardedCall`, decides every step; :func:`call_guarded` and
:func:`acall_guarded` are its thin sync and async drivers.
"""

from __future__ import annotations

import math
from asyncio import current_task
from collections.abc import Callable
from time import perf_counter
from typing import TYPE_CHECKING, Any, NamedTuple

from toolkeeper._errors import BudgetExceeded, CallTimeoutError
from toolkeeper.costs.guard import Reservation
from toolkeeper.monitor.ids import next_seq
from toolkeeper.resilience import CallOutcome, acall, call
from toolkeeper.resilience.deadlines import Deadline, deadlines_of
from toolkeeper.resilience.fallback import FallbackFailure, arun_fallbacks, run_fallbacks
from toolkeeper.wrap.calls import usage_of
from toolkeeper.wrap.context import current
from toolkeeper.wrap.runtime import ToolRuntime

if TYPE_CHECKING:
    from contextvars import Token

    from toolkeeper.wrap.decorate import ToolWrapping

__all__ = ["Resumed", "acall_guarded", "call_guarded"]

#: A wrapped call's positional and keyword arguments, as the wrapper received them.
Args = tuple[Any, ...]
Kwargs = dict[str, Any]


class Resumed(NamedTuple):
    """A call the decorator's fast path admitted and began, whose first attempt raised.

    It goes on through the state machine as the same operation, with its reservation.
    """

    #: (parent, seq, token, started), as the fast path began the call.
    begun: tuple[int | None, int, Token[int | None], float]
    first_failure: tuple[Exception, int, float]
    reservation: Reservation | None


def call_guarded(
    wrapping: ToolWrapping, fn: Callable[..., Any], runtime: ToolRuntime, args: Args,
    kwargs: Kwargs, *, resumed: Resumed | None = None,
) -> Any:  # fmt: skip
    """Admit, call (or fall back), record and settle one sync call (or go on with ``resumed``)."""
    with _GuardedCall(wrapping, runtime, asynchronous=False, resumed=resumed) as step:
        if step.admitting:
            step.admitted(step.admit(step.costs.admit, kwargs))
        if step.inline:
            try:
                value = fn(*args, **kwargs)
            except Exception as error:  # noqa: BLE001 - retried or sent to fallbacks below
                step.first_failed(error, None)
            else:
                return step.returned(value)
        outcome = step.resume(fn, args, kwargs, call, run_fallbacks)
    return step.succeeded(outcome)


async def acall_guarded(
    wrapping: ToolWrapping, fn: Callable[..., Any], runtime: ToolRuntime, args: Args,
    kwargs: Kwargs, *, resumed: Resumed | None = None,
) -> Any:  # fmt: skip
    """Admit, await (or fall back), record and settle one async call (or go on with ``resumed``).

    A rate limit that waits sleeps on the event loop; the reservation itself
    is one short ledger write made inline. An inline first attempt keeps its
    timeout with its event loop's deadlines, as an unguarded call's does.
    """
    with _GuardedCall(wrapping, runtime, asynchronous=True, resumed=resumed) as step:
        if step.admitting:
            step.admitted(await step.admit(step.costs.aadmit, kwargs))
        if step.inline:
            deadline = step.deadline()
            try:
                value = await fn(*args, **kwargs)
            except BaseException as error:  # noqa: BLE001 - first_failed re-raises what it must
                step.first_failed(error, deadline)
            else:
                if deadline is not None:
                    deadline.returned()
                return step.returned(value)
        outcome = await step.resume(fn, args, kwargs, acall, arun_fallbacks)
    return step.succeeded(outcome)


class _GuardedCall:
    """One guarded call's state and every decision about it; the drivers only call and await.

    Created when the call starts (it takes the call's sequence number and
    becomes the current operation until the ``with`` block ends; a call that
    raises out of the block releases its reservation and is recorded as failed);
    then :meth:`admitted` with the reservation, and either :meth:`returned` (an
    inline first attempt's value) or :meth:`succeeded` (an outcome of the state
    machine or the fallbacks, after the block).
    """

    __slots__ = (
        "admitting", "asynchronous", "clock_started", "costs", "first_failure", "inline",
        "over_budget", "parent", "reservation", "runtime", "seq", "started", "ticket", "token",
        "wrapping",
    )  # fmt: skip

    def __init__(
        self,
        wrapping: ToolWrapping,
        runtime: ToolRuntime,
        *,
        asynchronous: bool,
        resumed: Resumed | None = None,
    ) -> None:
        costs = runtime.costs
        assert costs is not None, "a guarded runtime has costs"
        self.wrapping = wrapping
        self.runtime = runtime
        self.costs = costs
        self.asynchronous = asynchronous
        self.token: Token[int | None]
        if resumed is None:
            self.parent = current.get()
            self.seq = seq = next_seq()
            self.token = current.set(seq)
        else:
            self.parent, self.seq, self.token, _ = resumed.begun
        #: Whether to admit the call: a disabled tool is neither limited nor charged, and a
        #: resumed call was admitted already.
        self.admitting = resumed is None and runtime.config.enabled
        self.reservation = None if resumed is None else resumed.reservation
        self.over_budget: FallbackFailure | None = None
        self.first_failure = None if resumed is None else resumed.first_failure
        self.ticket = ticket = runtime.breaker.epoch_cell[0]  # closed_epoch, without the property
        if asynchronous:
            # An inline attempt keeps its timeout with its task's event loop: it needs a task.
            self.inline = (
                ticket >= 0
                and runtime.guarded_async_fast
                and (runtime.async_policy.timeout_seconds is None or current_task() is not None)
            )
        else:
            self.inline = ticket >= 0 and runtime.guarded_fast
        if resumed is not None:
            self.inline = False
        self.clock_started = 0.0
        self.started = perf_counter() if resumed is None else resumed.begun[3]

    def admitted(self, reservation: Reservation | None) -> None:
        """Keep the call's reservation; one that a ``fallback`` budget refused skips the primary."""
        self.reservation = reservation
        if reservation is not None and reservation.fallback:
            self.inline = False
            error = BudgetExceeded(reservation.refusal or "over budget", tool=self.wrapping.tool)
            self.over_budget = FallbackFailure(
                error=error, tool=self.wrapping.tool, attempts=0, circuit_state=None
            )

    def deadline(self) -> Deadline | None:
        """Start an inline async attempt: its timeout's deadline on its event loop, if any."""
        runtime = self.runtime
        if runtime.slow_call_seconds != math.inf:  # the breaker times async calls on this clock
            self.clock_started = self.wrapping.clock.monotonic()
        timeout = runtime.async_policy.timeout_seconds
        task = current_task() if timeout is not None else None
        if task is None or timeout is None:
            return None
        return deadlines_of(task.get_loop()).start(task, timeout)

    def first_failed(self, error: BaseException, deadline: Deadline | None) -> None:
        """Keep an inline first attempt's failure for the state machine; re-raise any other.

        A deadline that expired turns the cancellation into :class:`CallTimeoutError`;
        a cancellation or an interruption is recorded, never retried.
        """
        timeout = self.runtime.async_policy.timeout_seconds
        if deadline is not None and deadline.raised(error) and timeout is not None:
            timed_out = CallTimeoutError(tool=self.wrapping.tool, timeout_seconds=timeout)
            timed_out.__cause__ = None  # as `raise … from None`: not the cancellation's
            error = timed_out
        if not isinstance(error, Exception):
            raise error
        self.first_failure = (error, self.ticket, self._elapsed(perf_counter() - self.started))

    def admit(self, admit: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        """Return ``admit(...)`` (``CallCosts.admit``, or ``aadmit``'s awaitable) for this call."""
        wrapping = self.wrapping
        return admit(
            wrapping.estimated_cost, wrapping.labels, wrapping.estimated_tokens,
            operation=wrapping.operation, request=kwargs,
        )  # fmt: skip

    def resume(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        call: Callable[..., Any],
        run_fallbacks: Callable[..., Any],
    ) -> Any:
        """Go on through the state machine (``call``), or to the fallbacks over budget.

        Returns their outcome, or the awaitable of it from the async engines.
        """
        wrapping = self.wrapping
        if self.over_budget is not None:
            return run_fallbacks(
                wrapping.fallbacks(self.runtime), args, kwargs, self.over_budget,
                clock=wrapping.clock, on_event=None,
            )  # fmt: skip
        target, options = wrapping.options(fn, self.runtime, sync=not self.asynchronous)
        return call(target, *args, first_failure=self.first_failure, **options, **kwargs)

    def returned(self, value: Any) -> Any:
        """Finish an inline first attempt that returned: breaker, record, settle; give ``value``."""
        runtime = self.runtime
        breaker = runtime.breaker
        wrapping = self.wrapping
        duration = perf_counter() - self.started
        timed = self._elapsed(duration)
        if timed <= runtime.slow_call_seconds and breaker.epoch_cell[0] == self.ticket:
            breaker.count_success()
        else:
            breaker.record_success(self.ticket, timed)
        if value is not None:
            input_tokens, output_tokens, cost, model = usage_of(value)
        else:
            input_tokens = output_tokens = 0
            cost, model = 0.0, None
        if not cost and model is not None:  # a response to price, or a stream to meter
            return self.succeeded(CallOutcome(value=value, attempts=1))
        self.costs.settle(self.reservation, cost)
        wrapping.recorder.success(
            self.seq, self.parent, wrapping.tool, wrapping.operation, duration, cost,
            input_tokens, output_tokens, model, wrapping.labels,
        )  # fmt: skip
        return value

    def succeeded(self, outcome: CallOutcome) -> Any:
        """Record and settle a call that returned through the state machine or the fallbacks."""
        return self.wrapping.succeeded(
            self.runtime, self.parent, self.seq, outcome, self.started,
            reservation=self.reservation,
        )  # fmt: skip

    def __enter__(self) -> _GuardedCall:
        return self

    def __exit__(self, kind: object, error: BaseException | None, traceback: object) -> None:
        """End the call's time as the current operation; one that raised is failed, not hidden."""
        if error is not None:
            self.costs.release(self.reservation)
            self.wrapping.failed(self.runtime, self.parent, self.seq, error, self.started)
        current.reset(self.token)

    def _elapsed(self, duration: float) -> float:
        """Return an attempt's duration as the breaker times it (async: on the keeper's clock)."""
        if not self.asynchronous:
            return duration
        if self.runtime.slow_call_seconds == math.inf:
            return 0.0
        return self.wrapping.clock.monotonic() - self.clock_started
