"""``@keeper.tool(...)``: run a function through its tool's resilience and record every call.

The wrapper reads the tool's runtime (one dict lookup), runs the call through
:func:`toolkeeper.resilience.call` (``acall`` for coroutine functions) and
records the outcome with :meth:`PerformanceMonitor.record`, which never waits on I/O.
A disabled tool goes straight to its fallbacks, or raises ``ToolCallError``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from time import perf_counter
from typing import Any, TypeVar

from toolkeeper._clock import Clock
from toolkeeper._errors import ToolCallError
from toolkeeper.monitor import PerformanceMonitor
from toolkeeper.resilience import CallOutcome, Fallback, ResiliencePolicy, acall, call
from toolkeeper.wrap.calls import record_failure, record_outcome
from toolkeeper.wrap.context import Frame, current
from toolkeeper.wrap.runtime import Runtimes, ToolRuntime

__all__ = ["FallbackSpec", "ToolWrapping"]

F = TypeVar("F", bound=Callable[..., Any])
FallbackSpec = Callable[..., Any] | str | Sequence[Callable[..., Any] | str] | None
_ONE_ATTEMPT = ResiliencePolicy(max_attempts=1)


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
    ) -> None:
        self.tool = tool
        self.operation = operation
        self.runtimes = runtimes
        self.monitor = monitor
        self.clock = clock
        self.labels = labels or None
        if fallback is None:
            self._specs: list[Callable[..., Any] | str] = []
        elif callable(fallback) or isinstance(fallback, str):
            self._specs = [fallback]
        else:
            self._specs = list(fallback)
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
    ) -> Any:
        """Record a call that returned and give back its value."""
        if runtime.config.monitoring_enabled:
            record_outcome(
                self.monitor, runtime, self.operation, outcome, perf_counter() - started,
                parent_id=parent.id if parent else None, operation_id=frame.id_if_made,
                labels=self.labels,
            )  # fmt: skip
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

    def wrap(self, fn: F) -> F:
        """Return ``fn`` wrapped; coroutine functions get an async wrapper."""
        if inspect.iscoroutinefunction(fn):
            return self._wrap_async(fn)
        tool = self.tool

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            runtime, parent, frame = self.begin()
            target, policy, breaker = self.target(fn, runtime)
            token = current.set(frame)
            started = perf_counter()
            try:
                outcome = call(
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

    def _wrap_async(self, fn: F) -> F:
        tool = self.tool

        @functools.wraps(fn)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            runtime, parent, frame = self.begin()
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
