"""``with keeper.operation(tool, op) as op:``: record a block of code as one operation.

The block runs under the tool's circuit breaker (an open circuit refuses it
with ``CircuitOpenError``); it cannot be retried or timed out from outside,
since a ``with`` block cannot be re-run. Works with ``with`` and ``async with``;
nested operations record their parent's id.

Under a budget or a rate limit (``runtime.guarded``), entering the block passes
the rate limit and reserves ``estimated_cost``; a refusal raises before the
block runs. When a ``fallback`` budget cannot afford it, the block runs with
:attr:`OperationScope.budget_fallback` set (take the cheaper path) and is
recorded as a fallback for reason ``budget``. On exit the operation's cost,
given by :meth:`~OperationScope.cost`, reported by the responses handed to
:meth:`~OperationScope.response`, or priced from their usage and
:meth:`~OperationScope.usage`, settles the reservation.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from time import perf_counter
from types import TracebackType
from typing import Any, Self, TypeVar

from toolkeeper._errors import CircuitOpenError
from toolkeeper.costs.guard import Reservation
from toolkeeper.costs.money import usd
from toolkeeper.costs.responses import Reading, is_stream, read_response
from toolkeeper.costs.usage import Usage
from toolkeeper.monitor import OperationStatus, PerformanceMonitor
from toolkeeper.monitor.ids import next_seq, operation_id
from toolkeeper.resilience.classify import ErrorKind
from toolkeeper.wrap.calls import describe, error_code, status_of
from toolkeeper.wrap.context import current
from toolkeeper.wrap.debuglog import log_call
from toolkeeper.wrap.runtime import Runtimes, ToolRuntime
from toolkeeper.wrap.streams import StreamEnd, meter_stream

__all__ = ["OperationScope"]

T = TypeVar("T")
#: The token kinds a block records beside its input and output tokens (record fields).
_KINDS = ("cached_tokens", "cache_write_tokens", "reasoning_tokens")


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
        estimated_cost: Decimal | None = None,
        estimated_tokens: int = 0,
    ) -> None:
        self.tool = tool
        self.operation = operation
        self.labels: dict[str, str] = dict(labels or {})
        self.custom_metrics: dict[str, Any] = {}
        self.input_tokens = 0
        self.output_tokens = 0
        self.cached_tokens = 0
        self.cache_write_tokens = 0
        self.reasoning_tokens = 0
        self.model: str | None = None
        self.budget_refusal: str | None = None
        self._estimate, self._tokens = estimated_cost, estimated_tokens
        self._direct_cost: Decimal | None = None
        self._reported_cost: Decimal | None = None
        self._unmetered: list[str | None] = []
        self._usages: list[Usage] = []
        self._reservation: Reservation | None = None
        self.quality_score: float | None = None
        self._ids = (user_id, session_id, request_id)
        self._fallback: tuple[str, str | None] | None = None
        self._runtimes = runtimes
        self._monitor = monitor
        self._seq = next_seq()
        self._parent: int | None = None
        self._runtime: ToolRuntime | None = None
        self._ticket = 0
        self._token: Any = None
        self._started = 0.0

    @property
    def id(self) -> str:
        """Return the operation's id (made on first use)."""
        return operation_id(self._seq)

    @property
    def parent_id(self) -> str | None:
        """Return the id of the operation this one runs inside, if any."""
        return operation_id(self._parent) if self._parent is not None else None

    def usage(
        self,
        *,
        model: str | None = None,
        input_tokens: int = 0,
        output_tokens: int = 0,
        **extra: int,
    ) -> None:
        """Add token usage (and the model that used them); other extra counts become metrics.

        ``cached_tokens`` and ``cache_write_tokens`` (parts of ``input_tokens``) and
        ``reasoning_tokens`` (part of ``output_tokens``) are recorded as such. Usage
        with a model is priced when the block ends, with them and ``characters``.
        """
        cached, written, reasoning = (extra.pop(name, 0) for name in _KINDS)
        if model is not None or cached or written or reasoning:
            # Usage checks the counts: the parts must fit in the input and output tokens.
            usage = Usage(
                model=model, input_tokens=input_tokens, output_tokens=output_tokens,
                cached_tokens=cached, cache_write_tokens=written, reasoning_tokens=reasoning,
                characters=extra.get("characters", 0),
            )  # fmt: skip
            if model is not None:
                self.model = model
                self.labels["model"] = model
                self._usages.append(usage)
        self.input_tokens += input_tokens
        self.output_tokens += output_tokens
        self._add_kinds(cached, written, reasoning)
        for name, value in extra.items():
            self.custom_metrics[name] = self.custom_metrics.get(name, 0) + value

    def response(self, value: T) -> T:
        """Add what a provider's response billed to this operation, and return the response.

        Reads every shape :func:`~toolkeeper.costs.responses.read_response` reads
        (SDK objects and dicts, ``httpx`` and raw responses): its tokens, model
        and reported cost (``usage.cost``, $0 included); without a reported cost
        the usage is priced when the block ends. A response whose usage cannot
        be read makes the operation unpriced (cost unknown). A stream comes back
        wrapped and adds its usage when read to its end: read it inside the block.
        """
        if is_stream(value):
            return meter_stream(value, perf_counter(), self._stream_ended)  # type: ignore[return-value]
        reading = read_response(value)
        if reading is not None:
            self._add_reading(reading)
        return value

    def _stream_ended(self, end: StreamEnd) -> None:
        self.custom_metrics["stream_chunks"] = end.chunks
        if end.first_chunk_s is not None:
            self.custom_metrics["time_to_first_token_ms"] = end.first_chunk_s * 1000
        self._add_reading(end.reading)

    def _add_reading(self, reading: Reading) -> None:
        usage = reading.usage
        model = (usage.model if usage is not None else None) or reading.model
        if model is not None:
            self.model = model
            self.labels["model"] = model
        if usage is None:
            if reading.cost is None:
                self._unmetered.append(model)
            else:
                self._reported_cost = (self._reported_cost or Decimal(0)) + usd(reading.cost)
            return
        self.input_tokens += usage.input_tokens
        self.output_tokens += usage.output_tokens
        self._add_kinds(usage.cached_tokens, usage.cache_write_tokens, usage.reasoning_tokens)
        if reading.cost is not None:
            self._reported_cost = (self._reported_cost or Decimal(0)) + usd(reading.cost)
        elif usage.model is None and model is not None:
            self._usages.append(replace(usage, model=model))
        else:
            self._usages.append(usage)

    def _add_kinds(self, cached: int, written: int, reasoning: int) -> None:
        self.cached_tokens += cached
        self.cache_write_tokens += written
        self.reasoning_tokens += reasoning

    def cost(self, usd_amount: float | Decimal) -> None:
        """Add a cost given directly, in US dollars; it replaces pricing the usage."""
        self._direct_cost = (self._direct_cost or Decimal(0)) + usd(usd_amount)

    @property
    def cost_usd(self) -> float:
        """Return the costs given directly so far, in US dollars."""
        return float(self._direct_cost or 0)

    @property
    def budget_fallback(self) -> bool:
        """Return whether a budget could not afford this block: take the cheaper path."""
        return self.budget_refusal is not None

    def route(
        self,
        *,
        router: str,
        chosen_model: str,
        strong_model: str,
        weak_model: str,
        threshold: float | None = None,
        score: float | None = None,
    ) -> None:
        """Record a router's decision, so ``toolkeeper costs`` can price what routing saved.

        The models become labels (``router``, ``routed_model``, ``strong_model``,
        ``weak_model``), the score and threshold metrics; give the usage of the
        chosen model with :meth:`usage` in the same block.
        """
        self.labels.update(
            router=router, routed_model=chosen_model, strong_model=strong_model,
            weak_model=weak_model,
        )  # fmt: skip
        if threshold is not None:
            self.custom_metrics["route_threshold"] = threshold
        if score is not None:
            self.custom_metrics["route_score"] = score

    def metric(self, name: str, value: float) -> None:
        """Record a custom metric (``quality_score`` also sets the operation's quality)."""
        self.custom_metrics[name] = value
        if name == "quality_score":
            self.quality_score = value

    def fallback(self, reason: str, name: str | None = None) -> None:
        """Say that a fallback served this operation, and why."""
        self._fallback = (reason, name)

    def __enter__(self) -> Self:
        runtime = self._open()
        costs = runtime.costs if runtime.guarded and runtime.config.enabled else None
        if costs is not None:
            try:
                self._reserved(
                    costs.admit(self._estimate, self.labels, self._tokens, operation=self.operation)
                )
            except BaseException as refused:  # a refusal, or a ledger that failed
                self._refused(runtime, refused)
                raise
        return self._start()

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
            if runtime.sync_policy.classify(exc) is ErrorKind.IGNORED:
                breaker.release(self._ticket)  # e.g. a 401: not the tool's health
            else:
                breaker.record_failure(self._ticket, duration)
        cost, unpriced = self._final_cost(runtime)
        if runtime.config.monitoring_enabled:
            self._record(runtime, exc, duration, cost, unpriced=unpriced)
        if self._reservation is not None and runtime.costs is not None:
            runtime.costs.settle(self._reservation, cost, unpriced=unpriced)

    async def __aenter__(self) -> Self:
        runtime = self._open()
        costs = runtime.costs if runtime.guarded and runtime.config.enabled else None
        if costs is not None:
            try:
                self._reserved(
                    await costs.aadmit(
                        self._estimate, self.labels, self._tokens, operation=self.operation
                    )
                )
            except BaseException as refused:  # a refusal, or a ledger that failed
                self._refused(runtime, refused)
                raise
        return self._start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, traceback)

    def _open(self) -> ToolRuntime:
        """Read the runtime and pass the circuit breaker (an open circuit is recorded, raised)."""
        runtime = self._runtimes.get(self.tool)
        self._runtime = runtime
        self._parent = current.get()
        if runtime.config.enabled:
            try:
                self._ticket = runtime.breaker.before_call()
            except CircuitOpenError as refused:
                if runtime.config.monitoring_enabled:
                    self._record(runtime, refused, 0.0, Decimal(0))
                raise
        return runtime

    def _refused(self, runtime: ToolRuntime, refused: BaseException) -> None:
        """Record a block that was refused (rate limit, budget) before it ran."""
        runtime.breaker.release(self._ticket)
        if runtime.config.monitoring_enabled:
            self._record(runtime, refused, 0.0, Decimal(0))

    def _reserved(self, reservation: Reservation | None) -> None:
        """Keep the reservation; one a budget could not afford makes this block a fallback."""
        self._reservation = reservation
        if reservation is not None and reservation.fallback:
            self.budget_refusal = reservation.refusal
            self._fallback = ("budget", None)

    def _start(self) -> Self:
        self._token = current.set(self._seq)
        self._started = perf_counter()
        return self

    def _final_cost(self, runtime: ToolRuntime) -> tuple[Decimal, bool]:
        """Return the block's cost (given directly, else its usage priced) and if it is unpriced."""
        if self._direct_cost is not None:
            return self._direct_cost, False
        total, unpriced = self._reported_cost or Decimal(0), bool(self._unmetered)
        if runtime.costs is None or not runtime.track_usage:
            return total, unpriced
        for model in self._unmetered:
            runtime.costs.count_unmetered(model)
        for usage in self._usages:
            priced = runtime.costs.price(usage)
            if priced.cost is None:
                unpriced = True
            else:
                total += priced.cost
        return total, unpriced

    def _record(
        self,
        runtime: ToolRuntime,
        exc: BaseException | None,
        duration: float,
        cost: Decimal,
        *,
        unpriced: bool = False,
    ) -> None:
        fields: dict[str, Any] = {}
        message = None
        if exc is not None:
            status = status_of(exc)
            message = describe(exc, runtime)
            fields = {"error_message": message, "error_code": error_code(exc)}
        elif self._fallback is not None:
            status = OperationStatus.FALLBACK
            reason, name = self._fallback
            fields = {"fallback_reason": reason, "fallback_name": name}
        else:
            status = OperationStatus.SUCCESS
        user_id, session_id, request_id = self._ids
        kinds = (self.cached_tokens, self.cache_write_tokens, self.reasoning_tokens)
        if any(kinds):
            fields.update(zip(_KINDS, kinds, strict=True))
        self._monitor.record(
            self.tool, self.operation, status, duration, cost=float(cost),
            input_tokens=self.input_tokens, output_tokens=self.output_tokens,
            custom_metrics=self.custom_metrics or None, quality_score=self.quality_score,
            user_id=user_id, session_id=session_id, request_id=request_id,
            parent_id=self.parent_id, seq=self._seq,
            labels=self.labels or None, unpriced=unpriced or None, model=self.model,
            **fields,
        )  # fmt: skip
        if runtime.debug:
            log_call(
                runtime, self.operation, str(status), duration, input_tokens=self.input_tokens,
                output_tokens=self.output_tokens, cost=float(cost), model=self.model,
                error=message,
            )  # fmt: skip
