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
"""

from __future__ import annotations

from collections.abc import Callable
from time import perf_counter
from typing import TYPE_CHECKING, Any

from toolkeeper._errors import BudgetExceeded
from toolkeeper.costs.guard import Reservation
from toolkeeper.resilience import CallOutcome, acall, call
from toolkeeper.resilience.fallback import FallbackFailure, arun_fallbacks, run_fallbacks
from toolkeeper.wrap.context import current
from toolkeeper.wrap.runtime import ToolRuntime

if TYPE_CHECKING:
    from toolkeeper.wrap.decorate import ToolWrapping

__all__ = ["acall_guarded", "call_guarded"]


def call_guarded(
    wrapping: ToolWrapping,
    fn: Callable[..., Any],
    runtime: ToolRuntime,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    """Admit, call (or fall back), record and settle one sync call."""
    costs = runtime.costs
    assert costs is not None, "a guarded runtime has costs"
    _, parent, seq = wrapping.begin()
    token = current.set(seq)
    started = perf_counter()
    reservation: Reservation | None = None
    try:
        if runtime.config.enabled:
            reservation = costs.admit(
                wrapping.estimated_cost, wrapping.labels, wrapping.estimated_tokens,
                operation=wrapping.operation, request=kwargs,
            )  # fmt: skip
        if reservation is not None and reservation.fallback:
            outcome = run_fallbacks(
                wrapping.fallbacks(runtime), args, kwargs, _over_budget(wrapping.tool, reservation),
                clock=wrapping.clock, on_event=None,
            )  # fmt: skip
        else:
            target, policy, breaker, bulkhead = wrapping.target(fn, runtime)
            outcome = call(
                target, *args, policy=policy, breaker=breaker, bulkhead=bulkhead,
                fallbacks=wrapping.fallbacks(runtime), clock=wrapping.clock, tool=wrapping.tool,
                **kwargs,
            )  # fmt: skip
    except BaseException as error:
        costs.release(reservation)
        wrapping.failed(runtime, parent, seq, error, started)
        raise
    finally:
        current.reset(token)
    return wrapping.succeeded(runtime, parent, seq, outcome, started, reservation=reservation)


async def acall_guarded(
    wrapping: ToolWrapping,
    fn: Callable[..., Any],
    runtime: ToolRuntime,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    """Admit, await (or fall back), record and settle one async call.

    A rate limit that waits sleeps on the event loop; the reservation itself
    is one short ledger write made inline.
    """
    costs = runtime.costs
    assert costs is not None, "a guarded runtime has costs"
    _, parent, seq = wrapping.begin()
    token = current.set(seq)
    started = perf_counter()
    reservation: Reservation | None = None
    outcome: CallOutcome
    try:
        if runtime.config.enabled:
            reservation = await costs.aadmit(
                wrapping.estimated_cost, wrapping.labels, wrapping.estimated_tokens,
                operation=wrapping.operation, request=kwargs,
            )  # fmt: skip
        if reservation is not None and reservation.fallback:
            outcome = await arun_fallbacks(
                wrapping.fallbacks(runtime), args, kwargs, _over_budget(wrapping.tool, reservation),
                clock=wrapping.clock, on_event=None,
            )  # fmt: skip
        else:
            target, policy, breaker, bulkhead = wrapping.target(fn, runtime)
            if policy is runtime.sync_policy:
                policy = runtime.async_policy
            outcome = await acall(
                target, *args, policy=policy, breaker=breaker, bulkhead=bulkhead,
                fallbacks=wrapping.fallbacks(runtime), clock=wrapping.clock, tool=wrapping.tool,
                **kwargs,
            )  # fmt: skip
    except BaseException as error:
        costs.release(reservation)
        wrapping.failed(runtime, parent, seq, error, started)
        raise
    finally:
        current.reset(token)
    return wrapping.succeeded(runtime, parent, seq, outcome, started, reservation=reservation)


def _over_budget(tool: str, reservation: Reservation) -> FallbackFailure:
    """Return why the call goes to its fallbacks: the budget's refusal."""
    error = BudgetExceeded(reservation.refusal or "over budget", tool=tool)
    return FallbackFailure(error=error, tool=tool, attempts=0, circuit_state=None)
