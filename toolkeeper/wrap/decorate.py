"""``@keeper.tool(...)``: run a function through its tool's resilience and record every call.

A call of a tool that needs nothing but monitoring, with its circuit closed, runs
its first attempt inline and hands its record to the monitor's
:class:`~toolkeeper.monitor.recorder.Recorder` (the fast path; for sync calls in C
when the extension was built: :mod:`toolkeeper._speedups`). Any other call,
and any call that fails, goes through :func:`toolkeeper.resilience.call` (``acall``
for coroutine functions) and is recorded by the same recorder; neither waits on
I/O. A disabled tool goes straight to its fallbacks, or raises ``ToolCallError``.
A tool under a budget or a rate limit (``runtime.guarded``) takes the path in
:mod:`toolkeeper.wrap.guarded`. The sync and async wrappers share everything but
the call itself (``fn(...)`` or ``await fn(...)`` under the loop's deadline).
"""

from __future__ import annotations

import functools
import inspect
import math
import os
from asyncio import current_task
from collections.abc import Callable, Sequence
from contextvars import Token
from decimal import Decimal
from time import perf_counter
from types import TracebackType
from typing import Any, TypeVar

from toolkeeper._clock import Clock
from toolkeeper._errors import CallTimeoutError, ToolCallError
from toolkeeper.costs.guard import Reservation
from toolkeeper.costs.responses import is_stream
from toolkeeper.monitor import PerformanceMonitor, ids
from toolkeeper.monitor.ids import next_seq, operation_id
from toolkeeper.monitor.recorder import Measured, Recorder
from toolkeeper.resilience import CallOutcome, Fallback, ResiliencePolicy, acall, call
from toolkeeper.resilience.deadlines import deadlines_of
from toolkeeper.wrap.calls import (
    NOTHING,
    STREAM,
    measure,
    measure_reading,
    measure_unread,
    record_failure,
    record_outcome,
    record_stream,
    stream_ending,
    usage_of,
)
from toolkeeper.wrap.context import current
from toolkeeper.wrap.guarded import Resumed, acall_guarded, call_guarded
from toolkeeper.wrap.runtime import Runtimes, ToolRuntime
from toolkeeper.wrap.streams import StreamEnd, StreamEnding, meter

__all__ = ["FallbackSpec", "ToolWrapping"]

FastWrapper: Any
try:
    from toolkeeper._speedups import FastWrapper
except ImportError:  # built without a C compiler: the Python fast path does the same steps
    FastWrapper = None
if os.environ.get("TOOLKEEPER_PURE_PYTHON"):
    FastWrapper = None

F = TypeVar("F", bound=Callable[..., Any])
FallbackSpec = Callable[..., Any] | str | Sequence[Callable[..., Any] | str] | None
_ONE_ATTEMPT = ResiliencePolicy(max_retry_attempts=0)


class ToolWrapping:
    """Everything a wrapped function shares with its tool: runtime, monitor, fallbacks."""

    def __init__(
        self,
        *,
        tool: str,
        operation: str,
        fallback: FallbackSpec,
        runtimes: Runtimes,
        monitor: PerformanceMonitor,
        clock: Clock,
        tool_function: Callable[[str], Callable[..., Any]],
        labels: dict[str, str] | None = None,
        estimated_cost: Decimal | None = None,
        estimated_tokens: int = 0,
    ) -> None:
        self.tool = tool
        self.operation = operation
        self.runtimes = runtimes
        self.monitor = monitor
        self.recorder: Recorder = monitor.recorder
        monitor.recorder.measure_with(measure_unread)
        #: What a metered stream read to its end is handed to: the pipeline records it.
        self._later = functools.partial(self.recorder.later, _StreamCall.told_later)
        self.clock = clock
        self.labels = labels or None
        self.estimated_cost = estimated_cost
        self.estimated_tokens = estimated_tokens
        if fallback is None:
            self._specs: list[Callable[..., Any] | str] = []
        elif callable(fallback) or isinstance(fallback, str):
            self._specs = [fallback]
        else:
            self._specs = list(fallback)
        self._tool_fallbacks = frozenset(spec for spec in self._specs if isinstance(spec, str))
        self._tool_function = tool_function
        self._fallbacks: list[Fallback] | None = None

    def fallbacks(self, runtime: ToolRuntime) -> Sequence[Fallback]:
        """Return the fallback chain, naming other tools' wrapped functions lazily."""
        if not runtime.config.fallback_enabled or not self._specs:
            return ()
        if self._fallbacks is None:
            self._fallbacks = [
                Fallback(fn=self._tool_function(spec), name=spec)
                if isinstance(spec, str)
                else Fallback.of(spec)
                for spec in self._specs
            ]
        return self._fallbacks

    def begin(self) -> tuple[ToolRuntime, int | None, int]:
        """Return the runtime, the parent operation's and this call's sequence numbers."""
        return self.runtimes.get(self.tool), current.get(), next_seq()

    def target(self, fn: Callable[..., Any], runtime: ToolRuntime) -> tuple[Any, ...]:
        """Return (function, policy, breaker, bulkhead); a disabled tool skips the primary."""
        if runtime.config.enabled:
            return fn, runtime.sync_policy, runtime.breaker, runtime.bulkhead
        error = ToolCallError(
            f"tool {self.tool!r} is disabled in its configuration", tool=self.tool
        )

        def refuse(*_args: Any, **_kwargs: Any) -> Any:
            raise error

        return refuse, _ONE_ATTEMPT, None, None

    def options(
        self, fn: Callable[..., Any], runtime: ToolRuntime, *, sync: bool
    ) -> tuple[Callable[..., Any], dict[str, Any]]:
        """Return the function to call and the keywords of ``call``/``acall`` for ``runtime``."""
        target, policy, breaker, bulkhead = self.target(fn, runtime)
        if not sync and policy is runtime.sync_policy:
            policy = runtime.async_policy
        return target, {
            "policy": policy, "breaker": breaker, "bulkhead": bulkhead,
            "fallbacks": self.fallbacks(runtime), "clock": self.clock, "tool": self.tool,
        }  # fmt: skip

    def begin_general(
        self,
        fn: Callable[..., Any],
        runtime: ToolRuntime,
        *,
        sync: bool,
        begun: tuple[int | None, int, Token[int | None], float] | None = None,
    ) -> _Open:
        """Return the operation a call runs as through ``call``/``acall``.

        ``begun`` is (parent, seq, token, started) of a fast-path call whose first
        attempt raised: its retries and fallbacks run as the same operation.
        """
        target, options = self.options(fn, runtime, sync=sync)
        if begun is None:
            parent, seq = current.get(), next_seq()
            begun = parent, seq, current.set(seq), perf_counter()
        return _Open(self, runtime, target, options, *begun)

    def returned_tail(self) -> Callable[..., Any]:
        """Return what ends a fast-path call whose first attempt returned, sync or async.

        ``returned(runtime, ticket, parent, seq, value, started, duration, timed,
        reservation)``: counts the success on the breaker (``timed`` is the time it
        judges, on its clock), then hands the record to the recorder: read inline, or
        unread (a response to read and price, which the pipeline reads off this
        thread), or, for a stream, metered as it is read (:meth:`priced`). A
        guarded call's ``reservation`` is settled first at the cost its value
        carries; one whose value must be priced (or metered) takes :meth:`priced`,
        which prices it now: its settle waits for the cost.
        """
        tool, operation, labels = self.tool, self.operation, self.labels
        success, unread, priced = self.recorder.success, self.recorder.unread, self.priced

        def returned(  # noqa: PLR0917 - the fast path's state, handed over whole
            runtime: ToolRuntime, ticket: int, parent: int | None, seq: int, value: Any,
            started: float, duration: float, timed: float, reservation: Reservation | None = None,
        ) -> Any:  # fmt: skip
            breaker = runtime.breaker
            if timed <= runtime.slow_call_seconds and breaker.epoch_cell[0] == ticket:
                breaker.count_success()
            else:
                breaker.record_success(ticket, timed)
            if value is None:
                input_tokens = output_tokens = 0
                cost, model = 0.0, None
            else:
                input_tokens, output_tokens, cost, model = usage_of(value)
            if cost or model is None:
                if reservation is not None:
                    runtime.costs.settle(reservation, cost)  # type: ignore[union-attr]  # guarded
                success(
                    seq, parent, tool, operation, duration, cost, input_tokens, output_tokens,
                    model, labels,
                )  # fmt: skip
            elif model is STREAM or reservation is not None:
                # A stream to meter as it is read, or a response to price before its settle.
                return priced(runtime, parent, seq, value, started, reservation)
            else:  # a response to read or price: queued unread, the pipeline reads it
                unread(seq, parent, tool, operation, duration, value, runtime, labels)
            return value

        return returned

    def priced(  # noqa: PLR0917 - the fast path's state, handed over whole
        self, runtime: ToolRuntime, parent: int | None, seq: int, value: Any, started: float,
        reservation: Reservation | None,
    ) -> Any:  # fmt: skip
        """End a fast-path call whose first attempt returned a stream or a guarded call's response.

        The fast paths send nothing else here: without a reservation the value is a stream,
        metered at once; the rest takes :meth:`succeeded`, which prices the response (or
        meters the stream) before the reservation is settled.
        """
        if reservation is None and runtime.track_usage:
            return self.metered(runtime, parent, seq, value, started, None, 1, False)
        outcome = CallOutcome(value=value, attempts=1)
        return self.succeeded(runtime, parent, seq, outcome, started, reservation=reservation)

    def interrupted(  # noqa: PLR0917 - the fast path's state, handed over whole
        self, runtime: ToolRuntime, parent: int | None, seq: int, token: Token[int | None],
        started: float, error: BaseException, reservation: Reservation | None = None,
    ) -> None:  # fmt: skip
        """Record a first attempt that was cancelled or interrupted (never retried), if it was.

        Its ``reservation``, if any, is released: the call spent nothing it can be charged.
        """
        if not isinstance(error, Exception):
            if reservation is not None and runtime.costs is not None:
                runtime.costs.release(reservation)
            current.reset(token)
            self.failed(runtime, parent, seq, error, started)
            raise error

    def succeeded(
        self,
        runtime: ToolRuntime,
        parent: int | None,
        seq: int,
        outcome: CallOutcome,
        started: float,
        *,
        reservation: Reservation | None = None,
    ) -> Any:
        """Record a call that returned, settle its reservation, and give back its value.

        A value served by another wrapped tool (a fallback named by its tool
        name) was recorded and charged by that tool: it costs this one nothing.
        """
        duration = perf_counter() - started
        if outcome.fallback_used and outcome.fallback_name in self._tool_fallbacks:
            measured = NOTHING
            if runtime.track_usage and outcome.value is not None and not is_stream(outcome.value):
                input_tokens, output_tokens, _, model, _, kinds = measure(runtime, outcome.value)
                measured = (input_tokens, output_tokens, 0.0, model, False, kinds)
        elif runtime.track_usage and is_stream(outcome.value):
            return self.metered(
                runtime, parent, seq, outcome.value, started, reservation,
                outcome.attempts, outcome.fallback_used,
            )  # fmt: skip
        else:
            measured = measure(runtime, outcome.value)
        if runtime.config.monitoring_enabled:
            record_outcome(
                self.recorder, runtime, self.operation, outcome, duration, measured=measured,
                seq=seq, parent_id=None if parent is None else operation_id(parent),
                labels=self.labels,
            )  # fmt: skip
        _settle(runtime, reservation, measured)
        return outcome.value

    def metered(  # noqa: PLR0917 - the call's state, handed over whole
        self, runtime: ToolRuntime, parent: int | None, seq: int, stream: Any, started: float,
        reservation: Reservation | None, attempts: int, fallback_used: bool,
    ) -> Any:  # fmt: skip
        """Return the stream a call returned, metered: when it ends, its operation is recorded
        and its reservation settled (see wrap/streams.py).

        When nothing waits for its cost (no reservation, no debug log), a stream read to
        its end is recorded by the pipeline, off the reader's thread (``later``).
        """
        ending = _StreamCall(stream, started, self, runtime, parent, seq, reservation, attempts,
                             fallback_used)  # fmt: skip
        return meter(stream, ending, self._later if ending.unwaited else None)

    def failed(
        self,
        runtime: ToolRuntime,
        parent: int | None,
        seq: int,
        error: BaseException,
        started: float,
    ) -> None:
        """Record a call that raised."""
        if runtime.config.monitoring_enabled:
            record_failure(
                self.recorder, runtime, self.operation, error, perf_counter() - started,
                seq=seq, parent_id=None if parent is None else operation_id(parent),
                labels=self.labels,
            )  # fmt: skip

    def wrap(self, fn: F) -> F:
        """Return ``fn`` wrapped; coroutine functions get an async wrapper.

        For a tool whose runtime is ``fast`` (monitored, no timeout thread, no budget
        or rate limit, no bulkhead) and whose circuit is closed, the first attempt runs
        inline and a success ends in :meth:`returned_tail`. Everything else takes
        ``general``; a failure continues in ``recover``. The C kernel (used when built)
        does the sync fast path itself and hands everything else to these same functions.
        """
        if inspect.iscoroutinefunction(fn):
            return self._wrap_async(fn)
        tool, runtimes_get, returned = self.tool, self.runtimes.get, self.returned_tail()
        get_current, set_current, reset_current = current.get, current.set, current.reset

        def general(  # noqa: PLR0917 - the fast path's state, handed over whole
            runtime: ToolRuntime, args: Any, kwargs: Any,
            begun: Any = None, first_failure: tuple[Exception, int, float] | None = None,
            reservation: Reservation | None = None,
        ) -> Any:  # fmt: skip
            if runtime.guarded:
                resumed = _resumed(begun, first_failure, reservation)
                return call_guarded(self, fn, runtime, args, kwargs, resumed=resumed)
            with self.begin_general(fn, runtime, sync=True, begun=begun) as op:
                op.outcome = call(
                    op.target, *args, first_failure=first_failure, **op.options, **kwargs
                )
            return op.succeeded()

        def recover(  # noqa: PLR0917 - the fast path's state, handed over whole
            runtime: ToolRuntime, args: Any, kwargs: Any, parent: int | None, seq: int,
            token: Token[int | None], ticket: int, started: float, error: BaseException,
            reservation: Reservation | None,
        ) -> Any:  # fmt: skip
            self.interrupted(runtime, parent, seq, token, started, error, reservation)
            failure = (error, ticket, perf_counter() - started)
            begun = (parent, seq, token, started)
            return general(runtime, args, kwargs, begun, failure, reservation)  # type: ignore[arg-type]

        if FastWrapper is not None:
            fast = FastWrapper(
                fn=fn, tool=tool, operation=self.operation, labels=self.labels,
                estimate=self.estimated_cost,
                published=self.runtimes.published, get_runtime=runtimes_get, general=general,
                recover=recover, priced=self.priced, current=current, sequence=ids.sequence,
                perf_counter=perf_counter, success=self.recorder.success,
                unread=self.recorder.unread, usage_of=usage_of, stream=STREAM,
            )  # fmt: skip
            return functools.update_wrapper(fast, fn)  # type: ignore[return-value]

        operation, labels, estimate = self.operation, self.labels, self.estimated_cost

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            runtime = runtimes_get(tool)
            ticket = runtime.breaker.epoch_cell[0]
            if ticket < 0 or not (runtime.fast or runtime.guarded_fast):
                return general(runtime, args, kwargs)
            reservation = None
            if runtime.guarded_fast:
                admit = runtime.costs.admit_at_once  # type: ignore[union-attr]  # guarded
                reservation = admit(estimate, labels, operation, kwargs or None)
                if reservation is None:
                    return general(runtime, args, kwargs)
            parent = get_current()
            seq = next_seq()
            token = set_current(seq)
            started = perf_counter()
            try:
                value = fn(*args, **kwargs)
            except BaseException as error:  # noqa: BLE001 - recover() re-raises what it cannot handle
                return recover(
                    runtime, args, kwargs, parent, seq, token, ticket, started, error, reservation
                )
            reset_current(token)
            duration = perf_counter() - started
            return returned(
                runtime, ticket, parent, seq, value, started, duration, duration, reservation
            )

        return wrapper  # type: ignore[return-value]

    def _wrap_async(self, fn: F) -> F:
        # The sync wrapper's steps, with the first attempt awaited under its loop's deadline
        # (one timer per loop, not one per call) when the runtime is `async_fast` (or
        # `guarded_async_fast`: admitted at once, as the sync wrapper does); the breaker times
        # async calls on the keeper's clock, as acall() does.
        tool, clock, runtimes_get, returned = (
            self.tool,
            self.clock,
            self.runtimes.get,
            self.returned_tail(),
        )
        get_current, set_current, reset_current = current.get, current.set, current.reset
        operation, labels, estimate = self.operation, self.labels, self.estimated_cost

        async def general(  # noqa: PLR0917 - the fast path's state, handed over whole
            runtime: ToolRuntime, args: Any, kwargs: Any,
            begun: Any = None, first_failure: tuple[Exception, int, float] | None = None,
            reservation: Reservation | None = None,
        ) -> Any:  # fmt: skip
            if runtime.guarded:
                resumed = _resumed(begun, first_failure, reservation)
                return await acall_guarded(self, fn, runtime, args, kwargs, resumed=resumed)
            with self.begin_general(fn, runtime, sync=False, begun=begun) as op:
                op.outcome = await acall(
                    op.target, *args, first_failure=first_failure, **op.options, **kwargs
                )
            return op.succeeded()

        @functools.wraps(fn)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            runtime = runtimes_get(tool)
            ticket = runtime.breaker.epoch_cell[0]
            timeout = runtime.async_policy.timeout_seconds
            task = current_task() if timeout is not None else None
            if (
                ticket < 0 or not (runtime.async_fast or runtime.guarded_async_fast)
                or (timeout is not None and task is None)
            ):  # fmt: skip
                return await general(runtime, args, kwargs)
            reservation = None
            if runtime.guarded_async_fast:
                admit = runtime.costs.admit_at_once  # type: ignore[union-attr]  # guarded
                reservation = admit(estimate, labels, operation, kwargs or None)
                if reservation is None:
                    return await general(runtime, args, kwargs)
            parent = get_current()
            seq = next_seq()
            token = set_current(seq)
            deadline = None
            if task is not None and timeout is not None:
                deadline = deadlines_of(task.get_loop()).start(task, timeout)
            timed = runtime.slow_call_seconds != math.inf
            clock_started = clock.monotonic() if timed else 0.0
            started = perf_counter()
            try:
                value = await fn(*args, **kwargs)
            except BaseException as error:  # noqa: BLE001 - recovered below, or re-raised
                if deadline is not None and deadline.raised(error) and timeout is not None:
                    error = CallTimeoutError(tool=tool, timeout_seconds=timeout)
                    error.__cause__ = None  # as `raise … from None`: not the cancellation's
                self.interrupted(runtime, parent, seq, token, started, error, reservation)
                # Retries and fallbacks run as the same operation.
                failure = (error, ticket, clock.monotonic() - clock_started if timed else 0.0)
                begun = (parent, seq, token, started)
                return await general(runtime, args, kwargs, begun, failure, reservation)  # type: ignore[arg-type]
            if deadline is not None:
                deadline.returned()
            reset_current(token)
            duration = perf_counter() - started
            timed_s = clock.monotonic() - clock_started if timed else 0.0
            return returned(
                runtime, ticket, parent, seq, value, started, duration, timed_s, reservation
            )

        return wrapper  # type: ignore[return-value]


def _resumed(
    begun: Any, first_failure: tuple[Exception, int, float] | None, reservation: Reservation | None
) -> Resumed | None:
    """Return what a guarded call the fast path began goes on with (``None``: it did not)."""
    if begun is None or first_failure is None:
        return None
    return Resumed(begun, first_failure, reservation)


class _StreamCall(StreamEnding):
    """The call a metered stream came from: what its end is recorded and settled with."""

    __slots__ = (
        "attempts", "fallback_used", "parent", "reservation", "runtime", "seq", "wrapping",
    )  # fmt: skip

    def __init__(  # noqa: PLR0917 - the call's state, handed over whole
        self, stream: Any, started: float, wrapping: ToolWrapping, runtime: ToolRuntime,
        parent: int | None, seq: int, reservation: Reservation | None, attempts: int,
        fallback_used: bool,
    ) -> None:  # fmt: skip
        super().__init__(stream, started)
        self.wrapping, self.runtime, self.parent, self.seq = wrapping, runtime, parent, seq
        self.reservation, self.attempts, self.fallback_used = reservation, attempts, fallback_used

    @property
    def unwaited(self) -> bool:
        """Whether nothing waits for the stream's cost: no reservation to settle, no debug log.

        Its operation is then priced by the pipeline, off the reader's thread.
        """
        runtime = self.runtime
        return self.reservation is None and runtime.monitoring_enabled and not runtime.debug

    def ended(self, end: StreamEnd) -> None:
        """Record the stream's operation and settle its reservation, on the reader's thread."""
        runtime, reservation, wrapping = self.runtime, self.reservation, self.wrapping
        if self.unwaited:  # the pipeline prices it
            wrapping.recorder.defer(self.recorded(end, wrapping.monitor.now_s()))
            return
        measured = measure_reading(runtime, end.reading)
        if runtime.monitoring_enabled:
            record_stream(
                wrapping.recorder, runtime, wrapping.operation, self.attempts,
                self.fallback_used, end, measured=measured, seq=self.seq,
                parent_id=None if self.parent is None else operation_id(self.parent),
                labels=wrapping.labels,
            )  # fmt: skip
        _settle(runtime, reservation, measured)

    @staticmethod
    def told_later(chunks: Any, end_s: float) -> Any:
        """Return the unread record of a stream read to its end that was handed to ``later``.

        The builder :meth:`Recorder.later <toolkeeper.monitor.recorder.Recorder.later>`
        calls where the pipeline reads: ``chunks.on_stop`` is the stream's call, and
        ``end_s`` when the stream ended.
        """
        call: _StreamCall = chunks.on_stop
        return call.recorded(call.end_of(chunks, "completed", None), end_s)

    def recorded(self, end: StreamEnd, end_s: float) -> Any:
        """Return the unread record of the stream's operation, which ended at ``end_s``."""
        runtime, wrapping, parent = self.runtime, self.wrapping, self.parent
        status, metrics, message, code = stream_ending(
            runtime, self.attempts, self.fallback_used, end
        )
        return wrapping.recorder.unread_record(
            runtime.name, wrapping.operation, status, end.duration_s, end, runtime, self.seq,
            end_s, metrics, message, None if parent is None else operation_id(parent),
            wrapping.labels, code,
        )  # fmt: skip


def _settle(runtime: ToolRuntime, reservation: Reservation | None, measured: Measured) -> None:
    """Settle a call's reservation, if it has one, at what the call cost."""
    if reservation is not None and runtime.costs is not None:
        runtime.costs.settle(reservation, measured[2], unpriced=measured[4])


class _Open:
    """A call's operation through ``call``/``acall``: a failure recorded, the running one put back.

    Used as ``with wrapping.begin_general(...) as op: op.outcome = call(...)``, then
    ``op.succeeded()``: the same steps for sync and async calls.
    """

    __slots__ = (
        "options", "outcome", "parent", "runtime", "seq", "started", "target", "token", "wrapping",
    )  # fmt: skip

    def __init__(  # noqa: PLR0917 - begin_general's state, handed over whole
        self,
        wrapping: ToolWrapping,
        runtime: ToolRuntime,
        target: Callable[..., Any],
        options: dict[str, Any],
        parent: int | None,
        seq: int,
        token: Token[int | None],
        started: float,
    ) -> None:
        self.wrapping, self.runtime, self.target, self.options = wrapping, runtime, target, options
        self.parent, self.seq, self.token, self.started = parent, seq, token, started
        self.outcome: CallOutcome | None = None

    def __enter__(self) -> _Open:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        current.reset(self.token)
        if error is not None:
            self.wrapping.failed(self.runtime, self.parent, self.seq, error, self.started)

    def succeeded(self) -> Any:
        """Record the call that returned and give back its value (``ToolWrapping.succeeded``)."""
        assert self.outcome is not None
        return self.wrapping.succeeded(
            self.runtime, self.parent, self.seq, self.outcome, self.started
        )
