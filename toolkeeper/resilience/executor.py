"""Run a call through the circuit, a timeout, retries and fallbacks.

For each attempt: ask the circuit breaker (an open circuit ends the attempts),
call with the policy's timeout, record the result on the breaker; on a failure
:func:`~toolkeeper.resilience.retry.retry_delay` decides whether to sleep (on
the clock) and try again. When the attempts end in an error, the fallback chain
serves the call or the original error is raised. ``_Attempts`` is the one state machine
of these decisions (tenacity's ``BaseRetrying.iter()`` is the model); ``call`` and
``acall`` are its two thin drivers, which only call, await and sleep.

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
from dataclasses import dataclass
from typing import Any

from toolkeeper._clock import Clock, SystemClock
from toolkeeper._errors import BulkheadFull, CircuitOpenError
from toolkeeper.resilience.bulkhead import Bulkhead, Permit
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


@dataclass(frozen=True, slots=True)
class _Sleep:
    """Wait this long on the clock, then ask for the next attempt."""

    seconds: float


@dataclass(frozen=True, slots=True)
class _Acquire:
    """Take a bulkhead permit (waiting up to ``seconds``), then report it with ``admitted``."""

    seconds: float


@dataclass(frozen=True, slots=True)
class _Attempt:
    """Call the function once; ``permit`` (if any) is released when the attempt ends."""

    permit: Permit | None


@dataclass(frozen=True, slots=True)
class _GiveUp:
    """The attempts are over: serve the call from the fallbacks, or raise the error."""

    failure: FallbackFailure


_Step = _Sleep | _Acquire | _Attempt | _GiveUp


class _Attempts:
    """The one state machine of a call's attempts; :func:`call` and :func:`acall` drive it.

    Each method records what the driver saw and returns the next step, as
    tenacity's ``BaseRetrying.iter()`` does: the decisions (breaker, bulkhead,
    classification, backoff, events) live here, the drivers only call, await
    and sleep.
    """

    __slots__ = ("_attempt", "_error", "_policy", "_rng", "_started", "_ticket",
                 "_timed", "breaker", "bulkhead", "clock", "name", "on_event", "tool")  # fmt: skip

    def __init__(  # noqa: PLR0917 - the executor's own arguments, passed on once
        self,
        fn: Callable[..., Any],
        policy: ResiliencePolicy,
        breaker: CircuitBreaker | None,
        bulkhead: Bulkhead | None,
        clock: Clock,
        on_event: EventCallback | None,
        rng: random.Random | None,
        tool: str | None,
    ) -> None:
        if breaker is not None and breaker.policy is not policy:
            breaker.update_policy(policy)
        self._policy, self.breaker, self.bulkhead, self.clock = policy, breaker, bulkhead, clock
        self.on_event, self._rng, self.tool = on_event, rng, tool
        self.name = _name(tool, breaker, fn)
        # Durations matter only to a breaker that watches for slow calls; skip the clock otherwise.
        self._timed = breaker is not None and policy.circuit_slow_call_seconds is not None
        self._attempt, self._ticket = 0, 0
        self._error: BaseException | None = None
        self._started: float | None = None

    def start(self, first_failure: tuple[Exception, int, float] | None) -> _Step:
        """Return the first step; ``first_failure`` is an attempt the caller already made inline."""
        if first_failure is None:
            return self.next_attempt()
        error, self._ticket, duration = first_failure
        self._attempt, self._started = 1, self.clock.monotonic() - duration
        return self.failed(error)

    def next_attempt(self) -> _Step:
        """Ask the breaker (and the bulkhead) for one more attempt."""
        self._attempt += 1
        self._ticket = 0
        if self.breaker is not None:
            try:
                self._ticket = self.breaker.before_call()
            except CircuitOpenError as refused:
                self._error = _refused(refused, self._error, self._attempt, self.name,
                                       self.on_event)  # fmt: skip
                return self._give_up(made=self._attempt - 1)  # this attempt was never made
        if self.bulkhead is not None:
            return _Acquire(self._policy.bulkhead_wait_seconds)
        return self._attempt_step(None)

    def admitted(self, permit: Permit | None) -> _Step:
        """Go on with the bulkhead's answer: a permit, or None when it stayed full."""
        if permit is None:
            assert self.bulkhead is not None  # only asked for when there is one
            self._error = _full(self.bulkhead, self._policy, self.breaker, self._ticket,
                                self._error, self._attempt, self.on_event, self.tool)  # fmt: skip
            return self._give_up(made=self._attempt - 1)  # this attempt was never made
        return self._attempt_step(permit)

    def failed(self, error: Exception) -> _Step:
        """Record a failed attempt; return the wait before the next one, or give up."""
        self._error = error
        delay = _after_failure(
            error,
            self._attempt,
            policy=self._policy,
            breaker=self.breaker,
            ticket=self._ticket,
            started=self._started,
            clock=self.clock,
            rng=self._rng,
            on_event=self.on_event,
            tool=self.name,
        )
        if delay is None:
            return self._give_up(made=self._attempt)
        return _Sleep(delay)

    def succeeded(self, value: Any) -> CallOutcome:
        """Record a successful attempt and return the call's outcome."""
        if self.breaker is None:
            return CallOutcome(value=value, attempts=self._attempt)
        started = self._started
        self.breaker.record_success(
            self._ticket, 0.0 if started is None else self.clock.monotonic() - started
        )
        return CallOutcome(value=value, attempts=self._attempt, circuit_state=self.breaker.state)

    def abandoned(self) -> None:
        """Forget an attempt ended by a ``BaseException`` (no result to record)."""
        if self.breaker is not None:
            self.breaker.release(self._ticket)

    def _attempt_step(self, permit: Permit | None) -> _Attempt:
        self._started = self.clock.monotonic() if self._timed else None
        return _Attempt(permit)

    def _give_up(self, made: int) -> _GiveUp:
        return _GiveUp(_failure(self._error, made, self.breaker, self.name))


def call(
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
    attempts = _Attempts(fn, policy, breaker, bulkhead, clock, on_event, rng, tool)
    timeout = policy.timeout_seconds
    step = attempts.start(first_failure)
    while True:
        if isinstance(step, _Sleep):
            clock.sleep(step.seconds)
            step = attempts.next_attempt()
        elif isinstance(step, _Acquire):
            assert bulkhead is not None  # asked for only when there is one
            step = attempts.admitted(bulkhead.acquire(step.seconds))
        elif isinstance(step, _GiveUp):
            return run_fallbacks(fallbacks, args, kwargs, step.failure, clock=clock,
                                 on_event=on_event)  # fmt: skip
        else:
            permit = step.permit
            try:
                if timeout is None:
                    value = fn(*args, **kwargs)
                else:  # the permit is given back when the worker ends, not when we stop waiting
                    done = None if permit is None else permit.release
                    value = wait_in_thread(fn, args, kwargs, timeout, attempts.name, done)
            except Exception as failed:  # noqa: BLE001 - recorded, then retried or sent to fallbacks
                step = attempts.failed(failed)
                continue
            except BaseException:
                attempts.abandoned()
                raise
            finally:
                if permit is not None and timeout is None:
                    permit.release()
            return attempts.succeeded(value)


async def acall(
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

    The async driver of the same state machine as :func:`call` (``first_failure``
    included). A sync ``fn`` or fallback is called inline on the event loop, where
    no timeout can interrupt it.
    """
    attempts = _Attempts(fn, policy, breaker, bulkhead, clock, on_event, rng, tool)
    timeout = policy.timeout_seconds
    step = attempts.start(first_failure)
    while True:
        if isinstance(step, _Sleep):
            await clock.asleep(step.seconds)
            step = attempts.next_attempt()
        elif isinstance(step, _Acquire):
            assert bulkhead is not None  # asked for only when there is one
            step = attempts.admitted(await bulkhead.aacquire(step.seconds))
        elif isinstance(step, _GiveUp):
            return await arun_fallbacks(fallbacks, args, kwargs, step.failure, clock=clock,
                                        on_event=on_event)  # fmt: skip
        else:
            permit = step.permit
            try:
                if timeout is None:
                    value = fn(*args, **kwargs)
                    if inspect.isawaitable(value):
                        value = await value
                else:
                    value = await await_with_timeout(fn, args, kwargs, timeout, attempts.name)
            except Exception as failed:  # noqa: BLE001 - recorded, then retried or sent to fallbacks
                step = attempts.failed(failed)
                continue
            except BaseException:  # CancelledError: the call has no result to record
                attempts.abandoned()
                raise
            finally:
                if permit is not None:  # a timed-out coroutine was cancelled: it runs no more
                    permit.release()
            return attempts.succeeded(value)


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
