"""Record what a resilient call did: success, fallback (with the original error), failure.

Shared by the decorator's sync and async paths; free of I/O. Error texts pass
through the tool's redaction before they are recorded.
"""

from __future__ import annotations

import asyncio
from typing import Any

from toolkeeper._errors import (
    BudgetExceeded,
    BulkheadFull,
    CallTimeoutError,
    CircuitOpenError,
    RateLimited,
)
from toolkeeper.monitor import OperationStatus, PerformanceMonitor
from toolkeeper.resilience import CallOutcome
from toolkeeper.wrap.debuglog import log_call
from toolkeeper.wrap.runtime import ToolRuntime

__all__ = [
    "NOTHING",
    "Measured",
    "describe",
    "error_code",
    "measure",
    "record_failure",
    "record_outcome",
    "status_of",
    "usage_of",
]

SUCCESS = OperationStatus.SUCCESS
FALLBACK = OperationStatus.FALLBACK
#: A recorded error message is cut to this length, after redaction.
MAX_ERROR_CHARS = 2000

#: (input tokens, output tokens, cost in USD, model, unpriced) of one call's value.
Measured = tuple[int, int, float, str | None, bool]
NOTHING: Measured = (0, 0, 0.0, None, False)


_ERROR_CODES: tuple[tuple[type[BaseException], str], ...] = (
    (CallTimeoutError, "TIMEOUT"),
    (TimeoutError, "TIMEOUT"),
    (CircuitOpenError, "CIRCUIT_OPEN"),
    (BudgetExceeded, "BUDGET_EXCEEDED"),
    (RateLimited, "RATE_LIMITED"),
    (BulkheadFull, "BULKHEAD_FULL"),
)


def error_code(error: BaseException) -> str:
    """Return a short code for an error: its HTTP status when it has one, else its kind."""
    status = getattr(getattr(error, "response", None), "status_code", None)
    if isinstance(status, int):
        return f"HTTP_{status}"
    for kind, code in _ERROR_CODES:
        if isinstance(error, kind):
            return code
    return type(error).__name__


def describe(error: BaseException, runtime: ToolRuntime) -> str:
    """Return ``Kind: message`` for an error: secrets removed first, then cut to a bound."""
    return runtime.redact(f"{type(error).__name__}: {error}")[:MAX_ERROR_CHARS]


def usage_of(value: Any) -> tuple[int, int, float, str | None]:
    """Return (input tokens, output tokens, cost USD, model) from an OpenAI-compatible response.

    Reads ``usage.prompt_tokens``/``completion_tokens`` (or ``input_tokens``/
    ``output_tokens``), the ``usage.cost`` some gateways add, and ``model``;
    zeros and ``None`` when the value carries none of them. Dicts (JSON bodies)
    and objects (SDK responses) alike.
    """
    if isinstance(value, dict):
        usage = value.get("usage")
        if not isinstance(usage, dict):
            return 0, 0, 0.0, None
        model = value.get("model")
        prompt = usage.get("prompt_tokens") or usage.get("input_tokens") or 0
        completion = usage.get("completion_tokens") or usage.get("output_tokens") or 0
        cost = usage.get("cost") or 0.0
    else:
        usage, model = getattr(value, "usage", None), getattr(value, "model", None)
        if usage is None:
            return 0, 0, 0.0, None
        prompt = getattr(usage, "prompt_tokens", None) or getattr(usage, "input_tokens", 0)
        completion = getattr(usage, "completion_tokens", None) or getattr(usage, "output_tokens", 0)
        cost = getattr(usage, "cost", None) or 0.0
    # JSON numbers arrive as int and float already: convert only what is not.
    if type(prompt) is not int or type(completion) is not int or type(cost) is not float:
        prompt, completion, cost = int(prompt or 0), int(completion or 0), float(cost)
    return prompt, completion, cost, model if type(model) is str else None


def measure(runtime: ToolRuntime, value: Any) -> Measured:
    """Return the usage and cost of a call's value, priced from the catalog if it has no cost.

    A value whose model has no price costs 0.0 and is marked unpriced.
    """
    if not runtime.track_usage or value is None:
        return NOTHING
    input_tokens, output_tokens, cost, model = usage_of(value)
    if cost or model is None or runtime.costs is None:
        return input_tokens, output_tokens, cost, model, False
    priced, known = runtime.costs.cost_of(value)
    return input_tokens, output_tokens, priced, model, not known


def status_of(error: BaseException) -> OperationStatus:
    """Return the status an error gives an operation."""
    if isinstance(error, asyncio.CancelledError | KeyboardInterrupt | GeneratorExit):
        return OperationStatus.CANCELLED
    if isinstance(error, CallTimeoutError | TimeoutError):
        return OperationStatus.TIMEOUT
    return OperationStatus.ERROR


def record_outcome(
    monitor: PerformanceMonitor,
    runtime: ToolRuntime,
    operation: str,
    outcome: CallOutcome,
    duration_s: float,
    *,
    measured: Measured,
    seq: int,
    parent_id: str | None,
    labels: dict[str, str] | None,
) -> None:
    """Record a call that returned a value, from the primary or from a fallback.

    ``measured`` is the value's usage and cost (see :func:`measure`); ``seq``
    the sequence number the call took when it started; attempts beyond the
    first are recorded as the ``retries`` metric.
    """
    input_tokens, output_tokens, cost, model, unpriced = measured
    retries = {"retries": outcome.attempts - 1} if outcome.attempts > 1 else None
    if not outcome.fallback_used:
        monitor.record(
            runtime.name, operation, SUCCESS, duration_s, cost=cost, input_tokens=input_tokens,
            output_tokens=output_tokens, model=model, parent_id=parent_id, custom_metrics=retries,
            seq=seq, labels=labels, unpriced=unpriced or None,
        )  # fmt: skip
        if runtime.debug:
            log_call(
                runtime, operation, "success", duration_s, input_tokens=input_tokens,
                output_tokens=output_tokens, cost=cost, model=model,
            )  # fmt: skip
        return
    error = outcome.error
    original = None if error is None else describe(error, runtime)
    monitor.record(
        runtime.name, operation, FALLBACK, duration_s, cost=cost, input_tokens=input_tokens,
        output_tokens=output_tokens, model=model, fallback_name=outcome.fallback_name,
        fallback_reason=_fallback_reason(error), custom_metrics=retries,
        original_error=original,
        error_code=None if error is None else error_code(error),
        parent_id=parent_id, seq=seq, labels=labels, unpriced=unpriced or None,
    )  # fmt: skip
    if runtime.debug:
        log_call(
            runtime, operation, "fallback", duration_s, input_tokens=input_tokens,
            output_tokens=output_tokens, cost=cost, model=model, error=original,
        )  # fmt: skip


def _fallback_reason(error: BaseException | None) -> str:
    if isinstance(error, CircuitOpenError):
        return "circuit_open"
    if isinstance(error, BudgetExceeded):
        return "budget"
    if isinstance(error, BulkheadFull):
        return "bulkhead_full"
    return "primary_failed"


def record_failure(
    monitor: PerformanceMonitor,
    runtime: ToolRuntime,
    operation: str,
    error: BaseException,
    duration_s: float,
    *,
    seq: int,
    parent_id: str | None,
    labels: dict[str, str] | None,
) -> None:
    """Record a call that raised: cancelled, timed out, or failed."""
    status, message = status_of(error), describe(error, runtime)
    monitor.record(
        runtime.name, operation, status, duration_s,
        error_message=message, error_code=error_code(error),
        parent_id=parent_id, seq=seq, labels=labels,
    )  # fmt: skip
    if runtime.debug:
        log_call(runtime, operation, str(status), duration_s, error=message)
