"""``@keeper.tool(...)``: run a function through its tool's resilience and record every call.

A sync call of a tool that needs nothing but monitoring, with its circuit closed,
runs inline and queues its record directly (the fast path, in C when the extension
was built: :mod:`toolkeeper.wrap._fastpath`). Any other call, and any call that
fails, goes through :func:`toolkeeper.resilience.call` (``acall`` for coroutine
functions) and is recorded with :meth:`PerformanceMonitor.record`; neither waits
on I/O. A disabled tool goes straight to its fallbacks, or raises
``ToolCallError``. A tool under a budget or a rate limit (``runtime.guarded``)
takes the path in :mod:`toolkeeper.wrap.guarded`.
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
from typing import Any, TypeVar

from toolkeeper._clock import Clock
from toolkeeper._errors import CallTimeoutError, ToolCallError
from toolkeeper.costs.guard import Reservation
from toolkeeper.costs.responses import is_stream
from toolkeeper.monitor import PerformanceMonitor, ids
from toolkeeper.monitor.ids import next_seq, operation_id
from toolkeeper.resilience import CallOutcome, Fallback, ResiliencePolicy, acall, call
from toolkeeper.resilience.deadlines import deadlines_of
from toolkeeper.wrap.calls import (
    NOTHING,
    STREAM,
    defer_stream,
    measure,
    measure_reading,
    read_unread,
    record_failure,
    record_outcome,
    record_stream,
    usage_of,
)
from toolkeeper.wrap.context import current
from toolkeeper.wrap.guarded import acall_guarded, call_guarded
from toolkeeper.wrap.runtime import Runtimes, ToolRuntime
from toolkeeper.wrap.streams import StreamEnd, meter_stream

__all__ = ["FallbackSpec", "ToolWrapping"]

FastWrapper: Any
try:
    from toolkeeper.wrap._fastpath import FastWrapper
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
            return meter_stream(
                outcome.value, started,
                self._stream_ended(runtime, parent, seq, outcome, reservation),
            )  # fmt: skip
        else:
            measured = measure(runtime, outcome.value)
        if runtime.config.monitoring_enabled:
            record_outcome(
                self.monitor, runtime, self.operation, outcome, duration, measured=measured,
                seq=seq, parent_id=None if parent is None else operation_id(parent),
                labels=self.labels,
            )  # fmt: skip
        if reservation is not None and runtime.costs is not None:
            runtime.costs.settle(reservation, measured[2], unpriced=measured[4])
        return outcome.value

    def _stream_ended(
        self,
        runtime: ToolRuntime,
        parent: int | None,
        seq: int,
        outcome: CallOutcome,
        reservation: Reservation | None,
    ) -> Callable[[StreamEnd], None]:
        """Return what records a returned stream's operation, and settles it, when it ends."""

        def ended(end: StreamEnd) -> None:
            parent_id = None if parent is None else operation_id(parent)
            if reservation is None and runtime.config.monitoring_enabled and not runtime.debug:
                # Nothing waits for its cost: the pipeline prices it, off this thread.
                defer_stream(
                    self.monitor, runtime, self.operation, outcome, end, self.monitor.now_s(),
                    seq=seq, parent_id=parent_id, labels=self.labels,
                )  # fmt: skip
                return
            measured = measure_reading(runtime, end.reading)
            if runtime.config.monitoring_enabled:
                record_stream(
                    self.monitor, runtime, self.operation, outcome, end, measured=measured,
                    seq=seq, parent_id=None if parent is None else operation_id(parent),
                    labels=self.labels,
                )  # fmt: skip
            if reservation is not None and runtime.costs is not None:
                runtime.costs.settle(reservation, measured[2], unpriced=measured[4])

        return ended

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
                self.monitor, runtime, self.operation, error, perf_counter() - started,
                seq=seq, parent_id=None if parent is None else operation_id(parent),
                labels=self.labels,
            )  # fmt: skip

    def wrap(self, fn: F) -> F:  # noqa: PLR0915 - the hot path is inlined on purpose
        """Return ``fn`` wrapped; coroutine functions get an async wrapper."""
        if inspect.iscoroutinefunction(fn):
            return self._wrap_async(fn)
        # The sync wrapper is the hot path. For a tool whose runtime is `fast` (monitored,
        # no timeout thread, no budget or rate limit) and whose circuit is closed, the first
        # attempt runs inline and a success is recorded right here: the breaker's lock-free
        # count, then one tuple queued the way PerformanceMonitor.record queues it (see
        # HotPath); a response to read or price is queued unread with its value, and the
        # pipeline reads and prices it off this thread (read_unread). Everything else takes
        # `general`; a failure continues in `recover`, a stream in `priced`. The same fast
        # path exists in C (_fastpath.c, used when built), calling these same functions for
        # everything but the fast path itself.
        tool, operation, labels, clock = self.tool, self.operation, self.labels, self.clock
        runtimes_get = self.runtimes.get
        hot = self.monitor.hot_path(functools.partial(read_unread, self.monitor))
        append, pending, threshold, relieve, now_s = hot[:5]
        defer, unread, unread_threshold, relieve_unread = hot[5:]
        get_current, set_current, reset_current = current.get, current.set, current.reset
        # Never changed after this: every record of this function shares it.
        shared_details: dict[str, Any] | None = {"labels": labels} if labels else None

        def resume(
            runtime: ToolRuntime,
            args: Any,
            kwargs: Any,
            first_failure: tuple[Exception, int, float] | None,
        ) -> CallOutcome:
            target, policy, breaker, bulkhead = self.target(fn, runtime)
            return call(
                target, *args, policy=policy, breaker=breaker, bulkhead=bulkhead,
                fallbacks=self.fallbacks(runtime), clock=clock, tool=tool,
                first_failure=first_failure, **kwargs,
            )  # fmt: skip

        def general(runtime: ToolRuntime, args: Any, kwargs: Any) -> Any:
            if runtime.guarded:
                return call_guarded(self, fn, runtime, args, kwargs)
            parent, seq = get_current(), next_seq()
            token = set_current(seq)
            started = perf_counter()
            try:
                outcome = resume(runtime, args, kwargs, None)
            except BaseException as error:
                self.failed(runtime, parent, seq, error, started)
                raise
            finally:
                reset_current(token)
            return self.succeeded(runtime, parent, seq, outcome, started)

        def recover(  # noqa: PLR0917 - the fast path's state, handed over whole
            runtime: ToolRuntime, args: Any, kwargs: Any, parent: int | None, seq: int,
            token: Token[int | None], ticket: int, started: float, error: BaseException,
        ) -> Any:  # fmt: skip
            # The first attempt raised: retries and fallbacks run as the same operation.
            if not isinstance(error, Exception):  # cancelled or interrupted: recorded, not retried
                reset_current(token)
                self.failed(runtime, parent, seq, error, started)
                raise error
            try:
                outcome = resume(runtime, args, kwargs, (error, ticket, perf_counter() - started))
            except BaseException as final:
                self.failed(runtime, parent, seq, final, started)
                raise
            finally:
                reset_current(token)
            return self.succeeded(runtime, parent, seq, outcome, started)

        def priced(
            runtime: ToolRuntime, parent: int | None, seq: int, value: Any, started: float
        ) -> Any:
            outcome = CallOutcome(value=value, attempts=1)
            return self.succeeded(runtime, parent, seq, outcome, started)

        if FastWrapper is not None:
            fast = FastWrapper(
                fn=fn, tool=tool, operation=operation, runtimes=self.runtimes.built,
                get_runtime=runtimes_get, general=general, recover=recover, priced=priced,
                current=current, sequence=ids.sequence, perf_counter=perf_counter,
                append=append, pending=pending, threshold=threshold, relieve=relieve,
                now_s=now_s, shared_details=shared_details, labels=labels, usage_of=usage_of,
                operation_id=operation_id, defer=defer, unread=unread,
                unread_threshold=unread_threshold, relieve_unread=relieve_unread, stream=STREAM,
            )  # fmt: skip
            return functools.update_wrapper(fast, fn)  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            runtime = runtimes_get(tool)
            breaker = runtime.breaker
            ticket = breaker.closed_epoch
            if ticket < 0 or not runtime.fast:
                return general(runtime, args, kwargs)
            parent = get_current()
            seq = next_seq()
            token = set_current(seq)
            started = perf_counter()
            try:
                value = fn(*args, **kwargs)
            except BaseException as error:  # noqa: BLE001 - recover() re-raises what it cannot handle
                return recover(runtime, args, kwargs, parent, seq, token, ticket, started, error)
            reset_current(token)
            duration = perf_counter() - started
            if duration <= runtime.slow_call_seconds and breaker.closed_epoch == ticket:
                breaker.count_success()
            else:
                breaker.record_success(ticket, duration)
            if value is not None:
                input_tokens, output_tokens, cost, model = usage_of(value)
            else:
                input_tokens = output_tokens = 0
                cost, model = 0.0, None
            if not cost and model is not None:
                if model is STREAM:  # a stream to meter as it is read: off this fast path
                    return priced(runtime, parent, seq, value, started)
                # A response to read or price: queued unread, the pipeline reads it.
                defer((
                    seq, now_s(), tool, operation, "success", duration, value, 0, 0, None, None,
                    shared_details if parent is None
                    else {"parent_id": operation_id(parent), "labels": labels},
                    runtime,
                ))  # fmt: skip
                if len(unread) >= unread_threshold:
                    relieve_unread()
                return value
            append((
                seq, now_s(), tool, operation, "success", duration, cost, input_tokens,
                output_tokens, None, None,
                shared_details if parent is None
                else {"parent_id": operation_id(parent), "labels": labels},
                model,
            ))  # fmt: skip
            if len(pending) >= threshold:
                relieve()
            return value

        return wrapper  # type: ignore[return-value]

    def _wrap_async(self, fn: F) -> F:  # noqa: PLR0915 - the hot path is inlined on purpose
        # The async twin of the sync fast path: for a tool whose runtime is `async_fast` and
        # whose circuit is closed, the first attempt is awaited right here under its loop's
        # deadline (one timer per loop, not one per call) and a success is queued as the sync
        # fast path queues it. Anything else takes `general`; a failure continues in `recover`
        # (retries and fallbacks as the same operation); a stream, in `succeeded`; a response
        # to read or price is queued unread, as the sync fast path queues it.
        tool, operation, labels, clock = self.tool, self.operation, self.labels, self.clock
        runtimes_get = self.runtimes.get
        hot = self.monitor.hot_path(functools.partial(read_unread, self.monitor))
        append, pending, threshold, relieve, now_s = hot[:5]
        defer, unread, unread_threshold, relieve_unread = hot[5:]
        get_current, set_current, reset_current = current.get, current.set, current.reset
        shared_details: dict[str, Any] | None = {"labels": labels} if labels else None

        async def general(runtime: ToolRuntime, args: Any, kwargs: Any) -> Any:
            parent, seq = get_current(), next_seq()
            if runtime.guarded:
                return await acall_guarded(self, fn, runtime, args, kwargs)
            target, policy, breaker, bulkhead = self.target(fn, runtime)
            if policy is runtime.sync_policy:
                policy = runtime.async_policy
            token = set_current(seq)
            started = perf_counter()
            try:
                outcome = await acall(
                    target, *args, policy=policy, breaker=breaker, bulkhead=bulkhead,
                    fallbacks=self.fallbacks(runtime), clock=clock, tool=tool, **kwargs,
                )  # fmt: skip
            except BaseException as error:
                self.failed(runtime, parent, seq, error, started)
                raise
            finally:
                reset_current(token)
            return self.succeeded(runtime, parent, seq, outcome, started)

        async def recover(  # noqa: PLR0917 - the fast path's state, handed over whole
            runtime: ToolRuntime, args: Any, kwargs: Any, parent: int | None, seq: int,
            token: Token[int | None], attempt: tuple[int, float], started: float,
            error: BaseException,
        ) -> Any:  # fmt: skip
            # The first attempt raised: retries and fallbacks run as the same operation.
            # `attempt` is its breaker ticket and its duration on the keeper's clock.
            if not isinstance(error, Exception):  # cancelled or interrupted: recorded, not retried
                reset_current(token)
                self.failed(runtime, parent, seq, error, started)
                raise error
            try:
                outcome = await acall(
                    fn, *args, policy=runtime.async_policy, breaker=runtime.breaker,
                    fallbacks=self.fallbacks(runtime), clock=clock, tool=tool,
                    first_failure=(error, *attempt), **kwargs,
                )  # fmt: skip
            except BaseException as final:
                self.failed(runtime, parent, seq, final, started)
                raise
            finally:
                reset_current(token)
            return self.succeeded(runtime, parent, seq, outcome, started)

        @functools.wraps(fn)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:  # noqa: PLR0912 - inlined on purpose
            runtime = runtimes_get(tool)
            breaker = runtime.breaker
            ticket = breaker.closed_epoch
            timeout = runtime.async_policy.timeout_seconds
            task = current_task() if timeout is not None else None
            if ticket < 0 or not runtime.async_fast or (timeout is not None and task is None):
                return await general(runtime, args, kwargs)
            parent = get_current()
            seq = next_seq()
            token = set_current(seq)
            deadline = None
            if task is not None and timeout is not None:
                deadline = deadlines_of(task.get_loop()).start(task, timeout)
            # The breaker times async calls on the keeper's clock, as acall() does.
            timed = runtime.slow_call_seconds != math.inf
            clock_started = clock.monotonic() if timed else 0.0
            started = perf_counter()
            try:
                value = await fn(*args, **kwargs)
            except BaseException as error:  # noqa: BLE001 - recover() re-raises what it cannot handle
                if deadline is not None and deadline.raised(error) and timeout is not None:
                    error = CallTimeoutError(tool=tool, timeout_seconds=timeout)
                    error.__cause__ = None  # as `raise … from None`: not the cancellation's
                elapsed = clock.monotonic() - clock_started if timed else 0.0
                return await recover(
                    runtime, args, kwargs, parent, seq, token, (ticket, elapsed), started, error
                )
            if deadline is not None:
                deadline.returned()
            reset_current(token)
            duration = perf_counter() - started
            timed_s = clock.monotonic() - clock_started if timed else 0.0
            if timed_s <= runtime.slow_call_seconds and breaker.closed_epoch == ticket:
                breaker.count_success()
            else:
                breaker.record_success(ticket, timed_s)
            if value is not None:
                input_tokens, output_tokens, cost, model = usage_of(value)
            else:
                input_tokens = output_tokens = 0
                cost, model = 0.0, None
            if not cost and model is not None:
                if model is STREAM:  # a stream to meter as it is read: off this fast path
                    outcome = CallOutcome(value=value, attempts=1)
                    return self.succeeded(runtime, parent, seq, outcome, started)
                # A response to read or price: queued unread, the pipeline reads it.
                defer((
                    seq, now_s(), tool, operation, "success", duration, value, 0, 0, None, None,
                    shared_details if parent is None
                    else {"parent_id": operation_id(parent), "labels": labels},
                    runtime,
                ))  # fmt: skip
                if len(unread) >= unread_threshold:
                    relieve_unread()
                return value
            append((
                seq, now_s(), tool, operation, "success", duration, cost, input_tokens,
                output_tokens, None, None,
                shared_details if parent is None
                else {"parent_id": operation_id(parent), "labels": labels},
                model,
            ))  # fmt: skip
            if len(pending) >= threshold:
                relieve()
            return value

        return wrapper  # type: ignore[return-value]
