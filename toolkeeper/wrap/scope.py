"""``with keeper.operation(tool, op) as op:``: record a block of code as one operation.

The block runs under the tool's circuit breaker (an open circuit refuses it
with ``CircuitOpenError``); it cannot be retried or timed out from outside,
since a ``with`` block cannot be re-run. Works with ``with`` and ``async with``;
nested operations record their parent's id.
"""

from __future__ import annotations

from time import perf_counter
from types import TracebackType
from typing import Any, Self

from toolkeeper._errors import CircuitOpenError
from toolkeeper.monitor import OperationStatus, PerformanceMonitor
from toolkeeper.wrap.calls import describe, error_code, status_of
from toolkeeper.wrap.context import Frame, current
from toolkeeper.wrap.runtime import Runtimes, ToolRuntime

__all__ = ["OperationScope"]


class OperationScope:
    """One operation recorded around a block; add usage, cost and metrics as it runs.

    Not thread-safe: an operation belongs to the code running its block.
    """

    def __init__(
        self,
        tool: str,
        operation: str,
        *,
        runtimes: Runtimes,
        monitor: PerformanceMonitor,
        labels: dict[str, str] | None = None,
        user_id: str | None = None,
        session_id: str | None = None,
        request_id: str | None = None,
    ) -> None:
        self.tool = tool
        self.operation = operation
        self.labels: dict[str, str] = dict(labels or {})
        self.custom_metrics: dict[str, Any] = {}
        self.input_tokens = 0
        self.output_tokens = 0
        self.cost_usd = 0.0
        self.model: str | None = None
        self.quality_score: float | None = None
        self._ids = (user_id, session_id, request_id)
        self._fallback: tuple[str, str | None] | None = None
        self._runtimes = runtimes
        self._monitor = monitor
        self._frame = Frame(tool, operation)
        self._parent: Frame | None = None
        self._runtime: ToolRuntime | None = None
        self._ticket = 0
        self._token: Any = None
        self._started = 0.0

    @property
    def id(self) -> str:
        """Return the operation's id (made on first use)."""
        return self._frame.id

    @property
    def parent_id(self) -> str | None:
        """Return the id of the operation this one runs inside, if any."""
        return self._parent.id if self._parent is not None else None

    def usage(
        self,
        *,
        model: str | None = None,
        input_tokens: int = 0,
        output_tokens: int = 0,
        **extra: int,
    ) -> None:
        """Add token usage (and the model that used them); extra counts become metrics."""
        if model is not None:
            self.model = model
            self.labels["model"] = model
        self.input_tokens += input_tokens
        self.output_tokens += output_tokens
        for name, value in extra.items():
            self.custom_metrics[name] = self.custom_metrics.get(name, 0) + value

    def cost(self, usd: float) -> None:
        """Add a cost given directly, in US dollars."""
        self.cost_usd += usd

    def metric(self, name: str, value: float) -> None:
        """Record a custom metric (``quality_score`` also sets the operation's quality)."""
        self.custom_metrics[name] = value
        if name == "quality_score":
            self.quality_score = value

    def fallback(self, reason: str, name: str | None = None) -> None:
        """Say that a fallback served this operation, and why."""
        self._fallback = (reason, name)

    def __enter__(self) -> Self:
        runtime = self._runtimes.get(self.tool)
        self._runtime = runtime
        self._parent = current.get()
        if runtime.config.enabled:
            try:
                self._ticket = runtime.breaker.before_call()
            except CircuitOpenError as refused:
                if runtime.config.monitoring_enabled:
                    self._record(runtime, refused, 0.0)
                raise
        self._token = current.set(self._frame)
        self._started = perf_counter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        duration = perf_counter() - self._started
        current.reset(self._token)
        runtime = self._runtime
        assert runtime is not None, "an operation is used as a context manager"
        breaker = runtime.breaker if runtime.config.enabled else None
        if exc is None:
            if breaker is not None:
                breaker.record_success(self._ticket, duration)
        elif status_of(exc) is OperationStatus.CANCELLED:
            if breaker is not None:
                breaker.release(self._ticket)
        elif breaker is not None and not isinstance(exc, CircuitOpenError):
            breaker.record_failure(self._ticket, duration)
        if runtime.config.monitoring_enabled:
            self._record(runtime, exc, duration)

    async def __aenter__(self) -> Self:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, traceback)

    def _record(self, runtime: ToolRuntime, exc: BaseException | None, duration: float) -> None:
        fields: dict[str, Any] = {}
        if exc is not None:
            status = status_of(exc)
            fields = {"error_message": describe(exc, runtime), "error_code": error_code(exc)}
        elif self._fallback is not None:
            status = OperationStatus.FALLBACK
            reason, name = self._fallback
            fields = {"fallback_reason": reason, "fallback_name": name}
        else:
            status = OperationStatus.SUCCESS
        user_id, session_id, request_id = self._ids
        self._monitor.record(
            self.tool, self.operation, status, duration, cost=self.cost_usd,
            input_tokens=self.input_tokens, output_tokens=self.output_tokens,
            custom_metrics=self.custom_metrics or None, quality_score=self.quality_score,
            user_id=user_id, session_id=session_id, request_id=request_id,
            parent_id=self.parent_id, operation_id=self._frame.id_if_made,
            labels=self.labels or None, **fields,
        )  # fmt: skip
