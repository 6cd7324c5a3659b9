"""Publish the aggregates as OpenTelemetry metrics, for OTLP or any other metric reader.

:func:`register_otel_instruments` creates observable instruments on a given
``MeterProvider``; their callbacks read the monitor's aggregates whenever the
provider's readers collect. Nothing runs per call. OpenTelemetry is imported by
that function, not by this module; without it, :class:`MissingDependencyError`
names the extra to install.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from toolkeeper._errors import MissingDependencyError
from toolkeeper.monitor.buckets import TOKEN_TYPES
from toolkeeper.monitor.export import operation_rows
from toolkeeper.monitor.prometheus import DEFAULT_MAX_OPERATION_LABELS

if TYPE_CHECKING:
    from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation

    from toolkeeper.monitor.export import OperationRow
    from toolkeeper.monitor.performance import PerformanceMonitor

__all__ = ["register_otel_instruments"]

_QUANTILES = (("0.5", "p50_latency_ms"), ("0.95", "p95_latency_ms"), ("0.99", "p99_latency_ms"))


def register_otel_instruments(
    monitor: PerformanceMonitor,
    meter_provider: MeterProvider,
    *,
    max_operation_labels: int = DEFAULT_MAX_OPERATION_LABELS,
    meter_name: str = "toolkeeper",
) -> list[Any]:
    """Create toolkeeper's observable instruments on ``meter_provider`` and return them.

    Instruments (attributes ``tool`` and ``operation``, capped as in
    docs/metrics.md): ``toolkeeper.operations`` (counter, also ``status``),
    ``toolkeeper.cost`` (counter, USD), ``toolkeeper.tokens`` (counter, also
    ``gen_ai.token.type``: input, output, cache_read, cache_creation, reasoning),
    ``toolkeeper.operation.latency`` (gauge, seconds, also ``quantile``, last 5
    minutes), ``toolkeeper.health.score`` (gauge, ``tool`` only) and
    ``toolkeeper.dropped_events`` (counter, no attributes).
    """
    try:
        # Deferred: the OpenTelemetry SDK is optional (toolkeeper[otel]); only an OTLP export or
        # span needs it.
        from opentelemetry.metrics import Observation
    except ImportError as error:  # pragma: no cover - exercised without the extra
        raise MissingDependencyError("OTLP export", "otel") from error

    def rows_callback(
        emit: Callable[[OperationRow], Iterable[tuple[float, dict[str, str]]]],
    ) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def callback(_: CallbackOptions) -> Iterable[Observation]:
            return [
                Observation(value, {"tool": row.tool, "operation": row.operation, **extra})
                for row in operation_rows(monitor, max_operation_labels)
                for value, extra in emit(row)
            ]

        return callback

    def counts(row: OperationRow) -> Iterable[tuple[float, dict[str, str]]]:
        return [(count, {"status": status}) for status, count in row.total.counts.items()]

    def costs(row: OperationRow) -> Iterable[tuple[float, dict[str, str]]]:
        return [(row.total.cost_usd, {})]

    def tokens(row: OperationRow) -> Iterable[tuple[float, dict[str, str]]]:
        return [
            (getattr(row.total, field), {"gen_ai.token.type": token_type})
            for token_type, field in TOKEN_TYPES
        ]

    def latencies(row: OperationRow) -> Iterable[tuple[float, dict[str, str]]]:
        values = ((q, getattr(row.recent, attribute)) for q, attribute in _QUANTILES)
        return [(ms / 1000.0, {"quantile": q}) for q, ms in values if ms is not None]

    def health(_: CallbackOptions) -> Iterable[Observation]:
        reports = (monitor.get_wrapper_health(tool) for tool in monitor.tools())
        return [
            Observation(report.health_score, {"tool": report.wrapper_name})
            for report in reports
            if report.health_score is not None
        ]

    def dropped(_: CallbackOptions) -> Iterable[Observation]:
        return [Observation(monitor.dropped_events)]

    meter = meter_provider.get_meter(meter_name)
    return [
        meter.create_observable_counter(
            "toolkeeper.operations", [rows_callback(counts)], "{operation}", "Finished operations."
        ),
        meter.create_observable_counter(
            "toolkeeper.cost", [rows_callback(costs)], "USD", "Estimated cost."
        ),
        meter.create_observable_counter(
            "toolkeeper.tokens", [rows_callback(tokens)], "{token}", "Tokens by type."
        ),
        meter.create_observable_gauge(
            "toolkeeper.operation.latency",
            [rows_callback(latencies)],
            "s",
            "Latency quantiles over the last 5 minutes, within 1%.",
        ),
        meter.create_observable_gauge(
            "toolkeeper.health.score", [health], "{score}", "Health score 0-100 (docs/health.md)."
        ),
        meter.create_observable_counter(
            "toolkeeper.dropped_events",
            [dropped],
            "{event}",
            "Finished records that never reached the store.",
        ),
    ]
