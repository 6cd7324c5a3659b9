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

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from toolkeeper._clock import Clock, SystemClock
from toolkeeper._drivers import call_and_await, takes_arguments_of
from toolkeeper._errors import BulkheadFull, CircuitOpenError
from toolkeeper.resilience.bulkhead import Bulkhead, Permit
from toolkeeper.resilience.circuit import CircuitBreaker, CircuitState
from toolkeeper.resilience.classify import ErrorKind
from toolkeeper.resilience.fallback import FallbackChain, FallbackFailure, FallbackLike
from toolkeeper.resilience.outcome import CallOutcome, EventKind, ResilienceEvent, notify
from toolkeeper.resilience.policy import ResiliencePolicy
from toolkeeper.resilience.retry import retry_delay
from toolkeeper.resilience.timeout import await_with_timeout, wait_in_thread

__all__ = ["acall", "call"]

_SYSTEM_CLOCK = SystemClock()

EventCallback = Callable[[ResilienceEvent], None]


@dataclass(frozen=True, slots=True)
class _Sleep:
    """Wait this long on the clock, then report it with ``next_attempt()``."""

    seconds: float


@dataclass(frozen=True, slots=True)
class _Acquire:
    """Take a permit of ``bulkhead`` (waiting up to ``seconds``); report it with ``admitted``."""

    bulkhead: Bulkhead
    seconds: float


@dataclass(frozen=True, slots=True)
class _Attempt:
    """Call the function once, inside ``with attempts``; ``permit`` is released when it ends."""

    permit: Permit | None


#: What a driver does next; a ``FallbackChain`` to serve when the attempts are over,
#: the ``CallOutcome`` when the call is done.
_Step = _Sleep | _Acquire | _Attempt | FallbackChain | CallOutcome


class _Attempts:
    """The one state machine of a call's attempts; :func:`call` and :func:`acall` drive it.

    ``step`` says what the driver does next; each method records what the driver
    saw and moves ``step`` on, as tenacity's ``BaseRetrying.iter()`` does: the
    decisions (breaker, bulkhead, classification, backoff, events, fallbacks)
    live here, the drivers only call, await and sleep. An attempt runs inside
    ``with attempts``, which records its value (``attempts.value``) or its error.
    Takes the arguments of :func:`call` (the executor's own keywords, then ``fn``'s).
    """

    __slots__ = ("_attempt", "_error", "_fallbacks", "_first_failure", "_rng", "_started",
                 "_ticket", "_timed", "args", "breaker", "bulkhead", "clock", "fn", "kwargs",
                 "name", "on_event", "policy", "step", "tool", "value")  # fmt: skip

    def __init__(
        self,
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
    ) -> None:
        if breaker is not None and breaker.policy is not policy:
            breaker.update_policy(policy)
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.policy, self.breaker, self.bulkhead, self.clock = policy, breaker, bulkhead, clock
        self._fallbacks, self.on_event, self._rng, self.tool = fallbacks, on_event, rng, tool
        self._first_failure = first_failure
        self.name = _name(tool, breaker, fn)
        # Durations matter only to a breaker that watches for slow calls; skip the clock otherwise.
        self._timed = breaker is not None and policy.circuit_slow_call_seconds is not None
        self._attempt, self._ticket = 0, 0
        self._error: BaseException | None = None
        self._started: float | None = None
        self.value: Any = None
        self.step: _Step = _Sleep(0.0)

    def begin(self) -> _Step:
        """Set the first step; a ``first_failure`` is an attempt the caller already made inline."""
        if self._first_failure is None:
            return self.next_attempt()
        error, self._ticket, duration = self._first_failure
        self._attempt, self._started = 1, self.clock.monotonic() - duration
        self.step = self._failed(error)
        return self.step

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
                self.step = self._give_up(made=self._attempt - 1)  # this attempt was never made
                return self.step
        if self.bulkhead is not None:
            self.step = _Acquire(self.bulkhead, self.policy.bulkhead_wait_seconds)
            return self.step
        self.step = self._attempt_step(None)
        return self.step

    def admitted(self, permit: Permit | None) -> None:
        """Go on with the bulkhead's answer: a permit, or None when it stayed full."""
        if permit is None:
            assert self.bulkhead is not None  # only asked for when there is one
            self._error = _full(self.bulkhead, self.policy, self.breaker, self._ticket,
                                self._error, self._attempt, self.on_event, self.tool)  # fmt: skip
            self.step = self._give_up(made=self._attempt - 1)  # this attempt was never made
        else:
            self.step = self._attempt_step(permit)

    def __enter__(self) -> None:
        """Start an attempt (the driver calls the function inside)."""

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _: object
    ) -> bool:
        """Record the attempt: its value, or its ``Exception`` (retried or given up on).

        Any other ``BaseException`` (``KeyboardInterrupt``, ``CancelledError``) leaves
        the call with no result to record.
        """
        if error is None:
            self.step = self._succeeded()
            return False
        if isinstance(error, Exception):
            self.step = self._failed(error)
            return True
        if self.breaker is not None:
            self.breaker.release(self._ticket)
        return False

    def _failed(self, error: Exception) -> _Step:
        """Record a failed attempt; return the wait before the next one, or give up."""
        self._error = error
        delay = _after_failure(
            error,
            self._attempt,
            policy=self.policy,
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

    def _succeeded(self) -> CallOutcome:
        """Record a successful attempt and return the call's outcome."""
        value, self.value = self.value, None
        if self.breaker is None:
            return CallOutcome(value=value, attempts=self._attempt)
        started = self._started
        self.breaker.record_success(
            self._ticket, 0.0 if started is None else self.clock.monotonic() - started
        )
        return CallOutcome(value=value, attempts=self._attempt, circuit_state=self.breaker.state)

    def _attempt_step(self, permit: Permit | None) -> _Attempt:
        self._started = self.clock.monotonic() if self._timed else None
        return _Attempt(permit)

    def _give_up(self, made: int) -> FallbackChain:
        failure = _failure(self._error, made, self.breaker, self.name)
        return FallbackChain(self._fallbacks, self.args, self.kwargs, failure, clock=self.clock,
                             on_event=self.on_event)  # fmt: skip


@takes_arguments_of(_Attempts)
def call(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> CallOutcome:
    """Call ``fn(*args, **kwargs)`` under ``policy`` and return how it went.

    Raises the original error when the attempts fail and no fallback serves the
    call. ``BaseException``s that are not ``Exception`` (``KeyboardInterrupt``)
    pass straight through. A ``breaker`` given a different policy adopts it.

    ``first_failure`` continues a call whose first attempt the caller already
    made inline and saw fail: (its error, its breaker ticket, its duration in
    seconds). The failure is recorded, then retries and fallbacks go on as usual.
    """
    attempts = _Attempts(fn, *args, **kwargs)
    step = attempts.begin()
    while not isinstance(step, CallOutcome):
        if isinstance(step, _Sleep):
            attempts.clock.sleep(step.seconds)
            attempts.next_attempt()
        elif isinstance(step, _Acquire):
            attempts.admitted(step.bulkhead.acquire(step.seconds))
        elif isinstance(step, FallbackChain):
            return step.serve()
        else:
            with attempts:
                attempts.value = _attempt(attempts, step.permit)
        step = attempts.step
    return step


@takes_arguments_of(_Attempts)
async def acall(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> CallOutcome:
    """Await ``fn(*args, **kwargs)`` under ``policy`` and return how it went.

    The async driver of the same state machine as :func:`call` (``first_failure``
    included). A sync ``fn`` or fallback is called inline on the event loop, where
    no timeout can interrupt it.
    """
    attempts = _Attempts(fn, *args, **kwargs)
    step = attempts.begin()
    while not isinstance(step, CallOutcome):
        if isinstance(step, _Sleep):
            await attempts.clock.asleep(step.seconds)
            attempts.next_attempt()
        elif isinstance(step, _Acquire):
            attempts.admitted(await step.bulkhead.aacquire(step.seconds))
        elif isinstance(step, FallbackChain):
            return await step.aserve()
        else:
            with attempts:
                attempts.value = await _aattempt(attempts, step.permit)
        step = attempts.step
    return step


def _attempt(attempts: _Attempts, permit: Permit | None) -> Any:
    """Make one sync attempt: inline, or on a worker thread under the policy's timeout."""
    fn, args, kwargs = attempts.fn, attempts.args, attempts.kwargs
    timeout = attempts.policy.timeout_seconds
    if timeout is not None:  # the permit is given back when the worker ends, not when we stop
        done = None if permit is None else permit.release
        return wait_in_thread(fn, args, kwargs, timeout, attempts.name, done)
    try:
        return fn(*args, **kwargs)
    finally:
        if permit is not None:
            permit.release()


async def _aattempt(attempts: _Attempts, permit: Permit | None) -> Any:
    """Make one async attempt, cancelled at the policy's timeout."""
    timeout = attempts.policy.timeout_seconds
    try:
        if timeout is None:
            return await call_and_await(attempts.fn, attempts.args, attempts.kwargs)
        return await await_with_timeout(
            attempts.fn, attempts.args, attempts.kwargs, timeout, attempts.name
        )
    finally:
        if permit is not None:  # a timed-out coroutine was cancelled: it runs no more
            permit.release()


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
    assert error is not None  # given up on only after recording an error
    state = None if breaker is None else breaker.state
    return FallbackFailure(error=error, tool=tool, attempts=attempt, circuit_state=state)
