"""Track operations step by step with the lifecycle API (docs/architecture.md): start, outcome, end.

An operation is *in flight* from :meth:`WrapperMonitoring.start_operation` to
:meth:`WrapperMonitoring.end_operation`; only then is it counted, through the same
path as :meth:`PerformanceMonitor.record`. Outcomes combine like this::

    record_success                      -> success
    record_error                        -> error
    record_error, record_fallback       -> fallback (served; original_error kept)
    record_fallback, record_success     -> fallback (the fallback succeeded)
    record_fallback, record_error       -> error (the fallback failed too)
    no outcome before end_operation     -> cancelled
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from toolkeeper._errors import DuplicateOperationError, MonitoringError, UnknownOperationError
from toolkeeper._text import map_texts
from toolkeeper.monitor.performance import PerformanceMonitor
from toolkeeper.monitor.records import (
    FAILURE_STATUSES,
    OperationStatus,
    WrapperOperationMetrics,
)

__all__ = ["WrapperMonitoring"]

_RESULT_FIELDS = {
    "cost_estimate": "cost_estimate",
    "cost": "cost_estimate",
    "input_tokens": "input_tokens",
    "output_tokens": "output_tokens",
    "quality_score": "quality_score",
}


#: The texts of a lifecycle record that :func:`_redact_record` rewrites; the tool and
#: operation names are identities, left as they are.
_TEXT_FIELDS = (
    "operation_id", "error_message", "error_code", "fallback_reason", "fallback_name",
    "original_error", "user_id", "session_id", "request_id", "parent_id",
)  # fmt: skip


def _redact_record(record: WrapperOperationMetrics, redact: Callable[[str], str]) -> None:
    """Rewrite every text of a finished record (its labels and custom metrics too) redacted."""
    for name in _TEXT_FIELDS:
        value = getattr(record, name)
        if value:
            setattr(record, name, redact(value))
    if record.labels:
        record.labels = map_texts(record.labels, redact)
    if record.custom_metrics:
        record.custom_metrics = map_texts(record.custom_metrics, redact)


def _unchanged(text: str) -> str:
    return text


class _InFlight:
    __slots__ = ("fallback_started", "record", "started")

    def __init__(self, record: WrapperOperationMetrics, started: float) -> None:
        self.record = record
        self.started = started
        self.fallback_started: float | None = None


class WrapperMonitoring(PerformanceMonitor):
    """Add the operation lifecycle to :class:`PerformanceMonitor`.

    Thread-safe; each call takes one short lock. Operation ids must be unique
    among operations in flight; at most ``max_active_operations`` may be in flight,
    so an application that forgets ``end_operation`` gets an error, not a leak.
    ``redact`` removes secrets from every text of a record before it is recorded
    (a keeper passes its :class:`SecretRedactor`'s), as :meth:`record` does.
    Other keyword options are those of :class:`PerformanceMonitor`.
    """

    def __init__(
        self,
        *,
        max_active_operations: int = 100_000,
        redact: Callable[[str], str] | None = None,
        **options: Any,
    ) -> None:
        super().__init__(redact=redact, **options)
        self._redact_text = redact if redact is not None else _unchanged
        if max_active_operations < 1:
            raise ValueError(
                f"max_active_operations must be at least 1, got {max_active_operations!r}"
            )
        self.max_active_operations = max_active_operations
        self._in_flight: dict[str, _InFlight] = {}
        self._in_flight_per_tool: dict[str, int] = {}
        self._lifecycle_lock = threading.Lock()

    def start_operation(
        self, operation_id: str, wrapper_name: str, operation_type: str = "default"
    ) -> str:
        """Start tracking an operation and return its id.

        Raises :class:`DuplicateOperationError` if ``operation_id`` is in flight.
        """
        record = WrapperOperationMetrics(
            operation_id=operation_id,
            wrapper_name=wrapper_name,
            operation_type=operation_type,
            start_time=self.clock.now(),
        )
        started = self.clock.monotonic()
        with self._lifecycle_lock:
            existing = self._in_flight.get(operation_id)
            if existing is not None:
                raise DuplicateOperationError(
                    f"operation id {operation_id!r} is already in flight for tool "
                    f"{existing.record.wrapper_name!r}; end it before reusing the id"
                )
            if len(self._in_flight) >= self.max_active_operations:
                raise MonitoringError(
                    f"cannot start operation {operation_id!r}: {len(self._in_flight)} operations "
                    f"are in flight, the limit (max_active_operations); is end_operation called?"
                )
            self._in_flight[operation_id] = _InFlight(record, started)
            per_tool = self._in_flight_per_tool
            per_tool[wrapper_name] = per_tool.get(wrapper_name, 0) + 1
        return operation_id

    def _entry(self, operation_id: str) -> _InFlight:
        entry = self._in_flight.get(operation_id)
        if entry is None:
            raise UnknownOperationError(
                f"operation id {operation_id!r} is not in flight: it was never started "
                f"or has already ended"
            )
        return entry

    def record_success(
        self,
        operation_id: str,
        result: Any = None,
        custom_metrics: Mapping[str, Any] | None = None,
    ) -> None:
        """Mark the operation successful.

        When ``result`` is a mapping, its ``cost_estimate`` (or ``cost``, USD),
        ``input_tokens``, ``output_tokens`` and ``quality_score`` are recorded;
        the result itself is not kept.
        """
        with self._lifecycle_lock:
            record = self._entry(operation_id).record
            fallback = record.fallback_used and record.status is OperationStatus.FALLBACK
            record.status = OperationStatus.FALLBACK if fallback else OperationStatus.SUCCESS
            if isinstance(result, Mapping):
                for key, attribute in _RESULT_FIELDS.items():
                    if key in result and result[key] is not None:
                        setattr(record, attribute, result[key])
            if custom_metrics:
                record.custom_metrics.update(custom_metrics)

    def record_error(
        self,
        operation_id: str,
        error_message: str,
        error_code: str | None = None,
        custom_metrics: Mapping[str, Any] | None = None,
    ) -> None:
        """Mark the operation failed; after a fallback, it means the fallback failed too."""
        with self._lifecycle_lock:
            record = self._entry(operation_id).record
            record.status = OperationStatus.ERROR
            record.error_message = self._redact_text(error_message)
            record.error_code = error_code
            if custom_metrics:
                record.custom_metrics.update(custom_metrics)

    def record_fallback(
        self, operation_id: str, reason: str, fallback_name: str | None = None
    ) -> None:
        """Mark the operation as served by a fallback, keeping any earlier error as original."""
        started = self.clock.monotonic()
        with self._lifecycle_lock:
            entry = self._entry(operation_id)
            record = entry.record
            if record.status in FAILURE_STATUSES and record.original_error is None:
                record.original_error = record.error_message
            record.status = OperationStatus.FALLBACK
            record.fallback_used = True
            record.fallback_reason = self._redact_text(reason)
            record.fallback_name = fallback_name
            entry.fallback_started = started

    def end_operation(self, operation_id: str) -> WrapperOperationMetrics:
        """Finish the operation, count it, and return its record.

        Its duration runs from ``start_operation`` on the clock's monotonic time;
        ``fallback_duration_ms`` from ``record_fallback``.
        """
        ended = self.clock.monotonic()
        end_time = self.clock.now()
        with self._lifecycle_lock:
            entry = self._entry(operation_id)
            del self._in_flight[operation_id]
            tool = entry.record.wrapper_name
            remaining = self._in_flight_per_tool[tool] - 1
            if remaining:
                self._in_flight_per_tool[tool] = remaining
            else:
                del self._in_flight_per_tool[tool]
        record = entry.record
        record.end_time = end_time
        record.duration_ms = max(ended - entry.started, 0.0) * 1000.0
        if entry.fallback_started is not None:
            record.fallback_duration_ms = max(ended - entry.fallback_started, 0.0) * 1000.0
        if record.status is OperationStatus.STARTED:
            record.status = OperationStatus.CANCELLED
        if self._redact is not None:
            _redact_record(record, self._redact)
        self.recorder.finished(record)
        return record

    def active_operation_counts(self) -> dict[str, int]:
        """Return operations in flight per tool."""
        with self._lifecycle_lock:
            return dict(self._in_flight_per_tool)

    @property
    def active_operations(self) -> int:
        """Return how many operations are in flight."""
        with self._lifecycle_lock:
            return len(self._in_flight)
