"""``@keeper.tool(...)``: run a function through its tool's resilience and record every call.

The wrapper reads the tool's runtime (one dict lookup), runs the call through
:func:`toolkeeper.resilience.call` (``acall`` for coroutine functions) and
records the outcome with :meth:`PerformanceMonitor.record`, which never waits on I/O.
A disabled tool goes straight to its fallbacks, or raises ``ToolCallError``. A
tool under a budget or a rate limit (``runtime.guarded``) takes the path in
:mod:`toolkeeper.wrap.guarded`; the others pay one flag test for it.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from decimal import Decimal
from time import perf_counter
from typing import Any, TypeVar

from toolkeeper._clock import Clock
from toolkeeper._errors import CircuitOpenError, ToolCallError
from toolkeeper.costs.guard import Reservation
from toolkeeper.monitor import OperationStatus, PerformanceMonitor
from toolkeeper.resilience import CallOutcome, Fallback, ResiliencePolicy, acall, call
from toolkeeper.wrap.calls import measure, record_failure, record_outcome, usage_of
from toolkeeper.wrap.context import Frame, current
from toolkeeper.wrap.guarded import acall_guarded, call_guarded
from toolkeeper.wrap.runtime import Runtimes, ToolRuntime

__all__ = ["FallbackSpec", "ToolWrapping"]

F = TypeVar("F", bound=Callable[..., Any])
FallbackSpec = Callable[..., Any] | str | Sequence[Callable[..., Any] | str] | None
_ONE_ATTEMPT = ResiliencePolicy(max_attempts=1)
SUCCESS = OperationStatus.SUCCESS


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
        estimated_cost: Decimal = Decimal(0),
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

    def begin(self) -> tuple[ToolRuntime, Frame | None, Frame]:
        """Read the runtime and the parent operation; return them with this call's frame."""
        return self.runtimes.get(self.tool), current.get(), Frame(self.tool, self.operation)

    def target(self, fn: Callable[..., Any], runtime: ToolRuntime) -> tuple[Any, ...]:
        """Return (function, policy, breaker) for this call; a disabled tool skips the primary."""
        if runtime.config.enabled:
            return fn, runtime.sync_policy, runtime.breaker
        error = ToolCallError(
            f"tool {self.tool!r} is disabled in its configuration", tool=self.tool
        )

        def refuse(*_args: Any, **_kwargs: Any) -> Any:
            raise error

        return refuse, _ONE_ATTEMPT, None

    def succeeded(
        self,
        runtime: ToolRuntime,
        parent: Frame | None,
        frame: Frame,
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
            measured = measure(runtime, None)
            if runtime.track_usage and outcome.value is not None:
                input_tokens, output_tokens, _, model = usage_of(outcome.value)
                measured = (input_tokens, output_tokens, 0.0, model, False)
        else:
            measured = measure(runtime, outcome.value)
        if runtime.config.monitoring_enabled:
            record_outcome(
                self.monitor, runtime, self.operation, outcome, duration, measured=measured,
                parent_id=parent.id if parent else None, operation_id=frame.id_if_made,
                labels=self.labels,
            )  # fmt: skip
        if reservation is not None and runtime.costs is not None:
            runtime.costs.settle(reservation, measured[2], unpriced=measured[4])
        return outcome.value

    def failed(
        self,
        runtime: ToolRuntime,
        parent: Frame | None,
        frame: Frame,
        error: BaseException,
        started: float,
    ) -> None:
        """Record a call that raised."""
        if runtime.config.monitoring_enabled:
            record_failure(
                self.monitor, runtime, self.operation, error, perf_counter() - started,
                parent_id=parent.id if parent else None, operation_id=frame.id_if_made,
                labels=self.labels,
            )  # fmt: skip

    def wrap(self, fn: F) -> F:  # noqa: PLR0915 - the hot path is inlined on purpose
        """Return ``fn`` wrapped; coroutine functions get an async wrapper."""
        if inspect.iscoroutinefunction(fn):
            return self._wrap_async(fn)
        # The sync wrapper is the hot path. With no timeout to enforce, the first
        # attempt runs inline under the breaker (lock-free while it is closed); the
        # executor takes over only for a refusal, a failure, or a disabled tool.
        tool, operation, labels, clock = self.tool, self.operation, self.labels, self.clock
        runtimes_get, record = self.runtimes.get, self.monitor.record
        get_current, set_current, reset_current = current.get, current.set, current.reset

        def slow_path(runtime: ToolRuntime, args: Any, kwargs: Any,
                      first_failure: tuple[Exception, int, float] | None) -> CallOutcome:
            target, policy, breaker = self.target(fn, runtime)
            return call(
                target, *args, policy=policy, breaker=breaker,
                fallbacks=self.fallbacks(runtime), clock=clock, tool=tool,
                first_failure=first_failure, **kwargs,
            )  # fmt: skip

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:  # noqa: PLR0912 - inlined hot path
            runtime = runtimes_get(tool)
            if runtime.guarded:
                return call_guarded(self, fn, runtime, args, kwargs)
            parent = get_current()
            outcome: CallOutcome | None
            frame = Frame(tool, operation)
            token = set_current(frame)
            started = perf_counter()
            try:
                if runtime.inline:
                    breaker = runtime.breaker
                    try:
                        ticket = breaker.before_call()
                    except CircuitOpenError:
                        outcome = slow_path(runtime, args, kwargs, None)
                    else:
                        try:
                            value = fn(*args, **kwargs)
                        except Exception as first:  # noqa: BLE001 - handed to retries and fallbacks
                            failure = (first, ticket, perf_counter() - started)
                            outcome = slow_path(runtime, args, kwargs, failure)
                        else:
                            breaker.record_success(ticket, perf_counter() - started)
                            outcome = None
                else:
                    outcome = slow_path(runtime, args, kwargs, None)
            except BaseException as error:
                self.failed(runtime, parent, frame, error, started)
                raise
            finally:
                reset_current(token)
            if outcome is not None:
                return self.succeeded(runtime, parent, frame, outcome, started)
            if not runtime.monitoring_enabled:
                return value
            if parent is not None or frame.id_if_made is not None:
                return self.succeeded(
                    runtime, parent, frame, CallOutcome(value=value, attempts=1), started
                )
            duration = perf_counter() - started
            if runtime.track_usage and value is not None:
                input_tokens, output_tokens, cost, model = usage_of(value)
                if not cost and model is not None and runtime.costs is not None:
                    # Usage without a cost: price it from the catalog, off this fast path.
                    outcome = CallOutcome(value=value, attempts=1)
                    return self.succeeded(runtime, parent, frame, outcome, started)
                if labels is None:
                    record(tool, operation, SUCCESS, duration, cost=cost,
                           input_tokens=input_tokens, output_tokens=output_tokens, model=model)
                else:
                    record(tool, operation, SUCCESS, duration, cost=cost,
                           input_tokens=input_tokens, output_tokens=output_tokens, model=model,
                           labels=labels)  # fmt: skip
            elif labels is None:
                record(tool, operation, SUCCESS, duration)
            else:
                record(tool, operation, SUCCESS, duration, labels=labels)
            return value

        return wrapper  # type: ignore[return-value]

    def _wrap_async(self, fn: F) -> F:
        tool = self.tool

        @functools.wraps(fn)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            runtime, parent, frame = self.begin()
            if runtime.guarded:
                return await acall_guarded(self, fn, runtime, args, kwargs)
            target, policy, breaker = self.target(fn, runtime)
            if policy is runtime.sync_policy:
                policy = runtime.async_policy
            token = current.set(frame)
            started = perf_counter()
            try:
                outcome = await acall(
                    target, *args, policy=policy, breaker=breaker,
                    fallbacks=self.fallbacks(runtime), clock=self.clock, tool=tool, **kwargs,
                )  # fmt: skip
            except BaseException as error:
                self.failed(runtime, parent, frame, error, started)
                raise
            finally:
                current.reset(token)
            return self.succeeded(runtime, parent, frame, outcome, started)

        return wrapper  # type: ignore[return-value]
