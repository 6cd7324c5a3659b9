"""Record what a resilient call did: success, fallback (with the original error), failure.

Shared by the decorator's sync and async paths; free of I/O. Error texts pass
through the tool's redaction before they are recorded.
"""

from __future__ import annotations

import asyncio
from typing import Any

from toolkeeper._errors import CallTimeoutError, CircuitOpenError
from toolkeeper.monitor import OperationStatus, PerformanceMonitor
from toolkeeper.resilience import CallOutcome
from toolkeeper.wrap.runtime import ToolRuntime

__all__ = [
    "describe",
    "error_code",
    "record_failure",
    "record_outcome",
    "status_of",
    "usage_of",
]

SUCCESS = OperationStatus.SUCCESS
FALLBACK = OperationStatus.FALLBACK


def error_code(error: BaseException) -> str:
    """Return a short code for an error: its HTTP status when it has one, else its kind."""
    status = getattr(getattr(error, "response", None), "status_code", None)
    if isinstance(status, int):
        return f"HTTP_{status}"
    if isinstance(error, CallTimeoutError | TimeoutError):
        return "TIMEOUT"
    if isinstance(error, CircuitOpenError):
        return "CIRCUIT_OPEN"
    return type(error).__name__


def describe(error: BaseException, runtime: ToolRuntime) -> str:
    """Return ``Kind: message`` for an error, with the tool's secrets masked."""
    return runtime.redact(f"{type(error).__name__}: {error}")


def usage_of(value: Any) -> tuple[int, int, float, str | None]:
    """Return (input tokens, output tokens, cost USD, model) from an OpenAI-compatible response.

    Reads ``usage.prompt_tokens``/``completion_tokens`` (or ``input_tokens``/
    ``output_tokens``), the ``usage.cost`` some gateways add, and ``model``;
    zeros and ``None`` when the value carries none of them.
    """
    if isinstance(value, dict):
        usage, model = value.get("usage"), value.get("model")
        if not isinstance(usage, dict):
            return 0, 0, 0.0, None
        prompt = usage.get("prompt_tokens") or usage.get("input_tokens") or 0
        completion = usage.get("completion_tokens") or usage.get("output_tokens") or 0
        cost = usage.get("cost") or 0.0
    else:
        usage, model = getattr(value, "usage", None), getattr(value, "model", None)
        if usage is None:
            return 0, 0, 0.0, None
        prompt = getattr(usage, "prompt_tokens", None) or getattr(usage, "input_tokens", 0)
        completion = getattr(usage, "completion_tokens", None) or getattr(
            usage, "output_tokens", 0
        )
        cost = getattr(usage, "cost", None) or 0.0
    model = model if isinstance(model, str) else None
    return int(prompt or 0), int(completion or 0), float(cost), model


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
    parent_id: str | None,
    operation_id: str | None,
    labels: dict[str, str] | None,
) -> None:
    """Record a call that returned a value, from the primary or from a fallback."""
    input_tokens = output_tokens = 0
    cost = 0.0
    model = None
    if runtime.track_usage and outcome.value is not None:
        input_tokens, output_tokens, cost, model = usage_of(outcome.value)
    if not outcome.fallback_used:
        monitor.record(
            runtime.name, operation, SUCCESS, duration_s, cost=cost, input_tokens=input_tokens,
            output_tokens=output_tokens, model=model, parent_id=parent_id,
            operation_id=operation_id, labels=labels,
        )  # fmt: skip
        return
    error = outcome.error
    refused = isinstance(error, CircuitOpenError)
    monitor.record(
        runtime.name, operation, FALLBACK, duration_s, cost=cost, input_tokens=input_tokens,
        output_tokens=output_tokens, model=model, fallback_name=outcome.fallback_name,
        fallback_reason="circuit_open" if refused else "primary_failed",
        original_error=None if error is None else describe(error, runtime),
        error_code=None if error is None else error_code(error),
        parent_id=parent_id, operation_id=operation_id, labels=labels,
    )  # fmt: skip


def record_failure(
    monitor: PerformanceMonitor,
    runtime: ToolRuntime,
    operation: str,
    error: BaseException,
    duration_s: float,
    *,
    parent_id: str | None,
    operation_id: str | None,
    labels: dict[str, str] | None,
) -> None:
    """Record a call that raised: cancelled, timed out, or failed."""
    monitor.record(
        runtime.name, operation, status_of(error), duration_s,
        error_message=describe(error, runtime), error_code=error_code(error),
        parent_id=parent_id, operation_id=operation_id, labels=labels,
    )  # fmt: skip
