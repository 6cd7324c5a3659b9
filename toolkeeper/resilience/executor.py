"""Run a call through the circuit, a timeout, retries and fallbacks.

For each attempt: ask the circuit breaker (an open circuit ends the attempts),
call with the policy's timeout, record the result on the breaker; on a failure
:func:`~toolkeeper.resilience.retry.retry_delay` decides whether to sleep (on
the clock) and try again. When the attempts end in an error, the fallback chain
serves the call or the original error is raised. ``call`` and ``acall`` are the
two thin loops over these shared decisions.

With a ``bulkhead``, each attempt holds one of its permits while it runs
(waiting up to ``policy.bulkhead_wait_seconds`` for one); a full bulkhead ends
the attempts with :class:`~toolkeeper.BulkheadFull`, which fallbacks may serve.

Timeouts are in :mod:`~toolkeeper.resilience.timeout`: a sync call that times
out keeps running in its worker thread, but the caller gets its
:class:`~toolkeeper.CallTimeoutError` promptly. Without a timeout, ``call`` runs
the function inline. Bind keyword arguments named like the executor's own
(``policy``, ``clock``, ...) with :func:`functools.partial`.
"""

from __future__ import annotations

import inspect
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from toolkeeper._clock import Clock, SystemClock
from toolkeeper._errors import BulkheadFull, CircuitOpenError
from toolkeeper.resilience.bulkhead import Bulkhead
from toolkeeper.resilience.circuit import CircuitBreaker, CircuitState
from toolkeeper.resilience.classify import ErrorKind
from toolkeeper.resilience.fallback import (
    FallbackFailure,
    FallbackLike,
    arun_fallbacks,
    run_fallbacks,
)
from toolkeeper.resilience.outcome import CallOutcome, EventKind, ResilienceEvent, notify
from toolkeeper.resilience.policy import ResiliencePolicy
from toolkeeper.resilience.retry import retry_delay
from toolkeeper.resilience.timeout import await_with_timeout, wait_in_thread

__all__ = ["acall", "call"]

_SYSTEM_CLOCK = SystemClock()

EventCallback = Callable[[ResilienceEvent], None]


def call(  # noqa: PLR0912, PLR0915 - one loop; its decisions live in the helpers below
    fn: Callable[..., Any],
    /,
    *args: Any,
    policy: ResiliencePolicy,
    breaker: CircuitBreaker | None = None,
    bulkhead: Bulkhead | None = None,
    fallbacks: Sequence[FallbackLike] = (),
    clock: Clock = _SYSTEM_CLOCK,
    on_event: EventCallback | None = None,
    rng: random.Random | None = None,
    tool: str | None = None,
    first_failure: tuple[Exception, int, float] | None = None,
    **kwargs: Any,
) -> CallOutcome:
    """Call ``fn(*args, **kwargs)`` under ``policy`` and return how it went.

    Raises the original error when the attempts fail and no fallback serves the
    call. ``BaseException``s that are not ``Exception`` (``KeyboardInterrupt``)
    pass straight through. A ``breaker`` given a different policy adopts it.

    ``first_failure`` continues a call whose first attempt the caller already
    made inline and saw fail: (its error, its breaker ticket, its duration in
    seconds). The failure is recorded, then retries and fallbacks go on as usual.
    """
    if breaker is not None and breaker.policy is not policy:
        breaker.update_policy(policy)
    timeout = policy.timeout_seconds
    # Durations matter only to a breaker that watches for slow calls; skip the clock otherwise.
    timed = breaker is not None and policy.circuit_slow_call_seconds is not None
    attempt = 0
    error: BaseException | None = None
    if first_failure is not None:
        attempt, error = 1, first_failure[0]
        delay = _after_first_failure(first_failure, policy, breaker, clock, rng, on_event,
                                     _name(tool, breaker, fn))  # fmt: skip
        if delay is None:
            failure = _failure(error, attempt, breaker, _name(tool, breaker, fn))
            return run_fallbacks(fallbacks, args, kwargs, failure, clock=clock, on_event=on_event)
        clock.sleep(delay)
    while True:
        attempt += 1
        ticket = 0
        if breaker is not None:
            try:
                ticket = breaker.before_call()
            except CircuitOpenError as refused:
                error = _refused(refused, error, attempt, _name(tool, breaker, fn), on_event)
                attempt -= 1  # this attempt was never made
                break
        permit = None
        if bulkhead is not None:
            permit = bulkhead.acquire(policy.bulkhead_wait_seconds)
            if permit is None:
                error = _full(bulkhead, policy, breaker, ticket, error, attempt, on_event, tool)
                attempt -= 1  # this attempt was never made
                break
        started = clock.monotonic() if timed else None
        try:
            if timeout is None:
                value = fn(*args, **kwargs)
            else:  # the permit is given back when the worker ends, not when we stop waiting
                done = None if permit is None else permit.release
                value = wait_in_thread(fn, args, kwargs, timeout, _name(tool, breaker, fn), done)
        except Exception as failed:  # noqa: BLE001 - recorded, then retried or sent to fallbacks
            error = failed
            delay = _after_failure(
                failed,
                attempt,
                policy=policy,
                breaker=breaker,
                ticket=ticket,
                started=started,
                clock=clock,
                rng=rng,
                on_event=on_event,
                tool=_name(tool, breaker, fn),
            )
            if delay is None:
                break
            clock.sleep(delay)
            continue
        except BaseException:
            if breaker is not None:
                breaker.release(ticket)
            raise
        finally:
            if permit is not None and timeout is None:
                permit.release()
        if breaker is None:
            return CallOutcome(value=value, attempts=attempt)
        breaker.record_success(ticket, 0.0 if started is None else clock.monotonic() - started)
        return CallOutcome(value=value, attempts=attempt, circuit_state=breaker.state)
    failure = _failure(error, attempt, breaker, _name(tool, breaker, fn))
    return run_fallbacks(fallbacks, args, kwargs, failure, clock=clock, on_event=on_event)


async def acall(  # noqa: PLR0912, PLR0915 - one loop; its decisions live in the helpers below
    fn: Callable[..., Awaitable[Any] | Any],
    /,
    *args: Any,
    policy: ResiliencePolicy,
    breaker: CircuitBreaker | None = None,
    bulkhead: Bulkhead | None = None,
    fallbacks: Sequence[FallbackLike] = (),
    clock: Clock = _SYSTEM_CLOCK,
    on_event: EventCallback | None = None,
    rng: random.Random | None = None,
    tool: str | None = None,
    first_failure: tuple[Exception, int, float] | None = None,
    **kwargs: Any,
) -> CallOutcome:
    """Await ``fn(*args, **kwargs)`` under ``policy`` and return how it went.

    The async twin of :func:`call` (``first_failure`` included). A sync ``fn`` or
    fallback is called inline on the event loop, where no timeout can interrupt it.
    """
    if breaker is not None and breaker.policy is not policy:
        breaker.update_policy(policy)
    timeout = policy.timeout_seconds
    # Durations matter only to a breaker that watches for slow calls; skip the clock otherwise.
    timed = breaker is not None and policy.circuit_slow_call_seconds is not None
    attempt = 0
    error: BaseException | None = None
    if first_failure is not None:
        attempt, error = 1, first_failure[0]
        delay = _after_first_failure(first_failure, policy, breaker, clock, rng, on_event,
                                     _name(tool, breaker, fn))  # fmt: skip
        if delay is None:
            failure = _failure(error, attempt, breaker, _name(tool, breaker, fn))
            return await arun_fallbacks(
                fallbacks, args, kwargs, failure, clock=clock, on_event=on_event
            )
        await clock.asleep(delay)
    while True:
        attempt += 1
        ticket = 0
        if breaker is not None:
            try:
                ticket = breaker.before_call()
            except CircuitOpenError as refused:
                error = _refused(refused, error, attempt, _name(tool, breaker, fn), on_event)
                attempt -= 1  # this attempt was never made
                break
        permit = None
        if bulkhead is not None:
            permit = await bulkhead.aacquire(policy.bulkhead_wait_seconds)
            if permit is None:
                error = _full(bulkhead, policy, breaker, ticket, error, attempt, on_event, tool)
                attempt -= 1  # this attempt was never made
                break
        started = clock.monotonic() if timed else None
        try:
            if timeout is None:
                value = fn(*args, **kwargs)
                if inspect.isawaitable(value):
                    value = await value
            else:
                value = await await_with_timeout(
                    fn, args, kwargs, timeout, _name(tool, breaker, fn)
                )
        except Exception as failed:  # noqa: BLE001 - recorded, then retried or sent to fallbacks
            error = failed
            delay = _after_failure(
                failed,
                attempt,
                policy=policy,
                breaker=breaker,
                ticket=ticket,
                started=started,
                clock=clock,
                rng=rng,
                on_event=on_event,
                tool=_name(tool, breaker, fn),
            )
            if delay is None:
                break
            await clock.asleep(delay)
            continue
        except BaseException:  # CancelledError: the call has no result to record
            if breaker is not None:
                breaker.release(ticket)
            raise
        finally:
            if permit is not None:  # a timed-out coroutine was cancelled: it runs no more
                permit.release()
        if breaker is None:
            return CallOutcome(value=value, attempts=attempt)
        breaker.record_success(ticket, 0.0 if started is None else clock.monotonic() - started)
        return CallOutcome(value=value, attempts=attempt, circuit_state=breaker.state)
    failure = _failure(error, attempt, breaker, _name(tool, breaker, fn))
    return await arun_fallbacks(fallbacks, args, kwargs, failure, clock=clock, on_event=on_event)


def _name(tool: str | None, breaker: CircuitBreaker | None, fn: Callable[..., Any]) -> str:
    named = tool or (breaker.name if breaker is not None else None)
    return named or getattr(fn, "__qualname__", None) or repr(fn)


def _after_failure(
    error: Exception,
    attempt: int,
    *,
    policy: ResiliencePolicy,
    breaker: CircuitBreaker | None,
    ticket: int,
    started: float | None,
    clock: Clock,
    rng: random.Random | None,
    on_event: EventCallback | None,
    tool: str,
) -> float | None:
    """Record a failed attempt; return the wait before the next one, or None to stop.

    The error's kind (:meth:`ResiliencePolicy.classify`) decides: an ignored one
    is not counted by the breaker (its probe slot is freed) and not retried; a
    failure is counted, not retried; a transient one is counted and retried.
    """
    kind = policy.classify(error)
    if breaker is not None:
        if kind is ErrorKind.IGNORED:
            breaker.release(ticket)
        else:
            breaker.record_failure(ticket, 0.0 if started is None else clock.monotonic() - started)
            if breaker.state is CircuitState.OPEN:
                return None  # this failure tripped it: another attempt would be refused
    if kind is not ErrorKind.TRANSIENT:
        return None
    delay = retry_delay(policy, attempt, error, clock=clock, rng=rng)
    if delay is not None:
        notify(
            on_event,
            ResilienceEvent(
                kind=EventKind.RETRY, tool=tool, attempt=attempt, error=error, delay_s=delay
            ),
        )
    return delay


def _after_first_failure(  # noqa: PLR0917 - a private step of both loops
    first_failure: tuple[Exception, int, float],
    policy: ResiliencePolicy,
    breaker: CircuitBreaker | None,
    clock: Clock,
    rng: random.Random | None,
    on_event: EventCallback | None,
    tool: str,
) -> float | None:
    """Record an attempt the caller made inline; return the wait before the next, or None."""
    error, ticket, duration = first_failure
    return _after_failure(
        error, 1, policy=policy, breaker=breaker, ticket=ticket,
        started=clock.monotonic() - duration, clock=clock, rng=rng, on_event=on_event, tool=tool,
    )  # fmt: skip


def _refused(
    refused: CircuitOpenError,
    previous: BaseException | None,
    attempt: int,
    tool: str,
    on_event: EventCallback | None,
) -> BaseException:
    """Report a refusal; return the call's original error (the last real one, if any)."""
    notify(
        on_event,
        ResilienceEvent(kind=EventKind.CIRCUIT_REFUSED, tool=tool, attempt=attempt, error=refused),
    )
    if previous is None:
        return refused
    previous.add_note(f"no attempt {attempt}: {refused}")
    return previous


def _full(  # noqa: PLR0917 - a private step of both loops
    bulkhead: Bulkhead,
    policy: ResiliencePolicy,
    breaker: CircuitBreaker | None,
    ticket: int,
    previous: BaseException | None,
    attempt: int,
    on_event: EventCallback | None,
    tool: str | None,
) -> BaseException:
    """Report a full bulkhead; return the call's original error (the last real one, if any)."""
    if breaker is not None:
        breaker.release(ticket)  # admitted, never made: frees a half-open probe slot
    full = BulkheadFull(
        tool=tool or bulkhead.name,
        max_concurrent_calls=bulkhead.limit,
        waited_seconds=policy.bulkhead_wait_seconds,
    )
    notify(
        on_event,
        ResilienceEvent(kind=EventKind.BULKHEAD_FULL, tool=full.tool, attempt=attempt, error=full),
    )
    if previous is None:
        return full
    previous.add_note(f"no attempt {attempt}: {full}")
    return previous


def _failure(
    error: BaseException | None, attempt: int, breaker: CircuitBreaker | None, tool: str
) -> FallbackFailure:
    assert error is not None  # the loops leave only after recording an error
    state = None if breaker is None else breaker.state
    return FallbackFailure(error=error, tool=tool, attempts=attempt, circuit_state=state)
