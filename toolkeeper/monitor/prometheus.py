"""Expose the aggregates to Prometheus through prometheus-client's custom-collector interface.

Nothing is instrumented per call: each scrape reads the monitor's aggregates and
builds metric families from them. Names, labels and the cardinality cap are listed
in docs/metrics.md. ``prometheus_client`` is imported when a scrape runs, not when
this module is imported.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from toolkeeper.monitor.buckets import TOKEN_TYPES
from toolkeeper.monitor.export import operation_rows
from toolkeeper.monitor.health import HealthStatus

if TYPE_CHECKING:
    from prometheus_client.core import GaugeMetricFamily, Metric

    from toolkeeper.monitor.performance import PerformanceMonitor

__all__ = ["DEFAULT_LATENCY_BUCKETS", "DEFAULT_MAX_OPERATION_LABELS", "MonitoringCollector"]

DEFAULT_LATENCY_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip
"""Upper bounds (seconds) of the latency histogram; +Inf is added."""

DEFAULT_MAX_OPERATION_LABELS = 20
"""Distinct ``operation`` label values per tool; the rest are exported as ``other``."""


class MonitoringCollector:
    """Collect toolkeeper's metrics for a prometheus-client registry.

    ``registry.register(MonitoringCollector(monitor))``, then ``generate_latest``
    or any prometheus-client exposition. Thread-safe: a scrape only reads.
    ``fleet=False`` (an application's own /metrics) counts this process's
    operations since it started; ``fleet=True`` (``toolkeeper serve``) counts every
    writer of the store once, from their all-time totals (docs/metrics.md).
    Both only grow.
    """

    def __init__(
        self,
        monitor: PerformanceMonitor,
        *,
        max_operation_labels: int = DEFAULT_MAX_OPERATION_LABELS,
        latency_buckets: Sequence[float] = DEFAULT_LATENCY_BUCKETS,
        fleet: bool = False,
    ) -> None:
        if max_operation_labels < 1:
            raise ValueError(
                f"max_operation_labels must be at least 1, got {max_operation_labels!r}"
            )
        bounds = tuple(latency_buckets)
        if list(bounds) != sorted(set(bounds)) or any(b <= 0 for b in bounds):
            raise ValueError(f"latency_buckets must be positive and increasing, got {bounds!r}")
        self.monitor = monitor
        self.max_operation_labels = max_operation_labels
        self.latency_buckets = bounds
        self.fleet = fleet

    def collect(self) -> Iterator[Metric]:
        """Yield every metric family from the current aggregates."""
        # Deferred: prometheus-client loads only when metrics are collected for /metrics or an
        # export.
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        series = ["tool", "operation"]
        operations = CounterMetricFamily(
            "toolkeeper_operations_total",
            "Finished operations since the process started, by status.",
            labels=[*series, "status"],
        )
        latency = HistogramMetricFamily(
            "toolkeeper_operation_latency_seconds",
            "Operation latency since the process started (bucket bounds within 1.6%).",
            labels=series,
        )
        cost = CounterMetricFamily(
            "toolkeeper_cost_usd_total", "Estimated cost in US dollars.", labels=series
        )
        tokens = CounterMetricFamily(
            "toolkeeper_tokens_total",
            "Tokens by type: input and output, and the cache_read, cache_creation and "
            "reasoning tokens counted within them.",
            labels=[*series, "token_type"],
        )
        fleet = self.fleet
        for row in operation_rows(self.monitor, self.max_operation_labels, fleet=fleet):
            labels = [row.tool, row.operation]
            for status, count in row.total.counts.items():
                operations.add_metric([*labels, status], count)
            sketch = self.monitor.get_latency_sketch(
                row.tool, operations=row.operations, others=fleet
            )
            if sketch is not None:
                buckets = [(repr(b), sketch.cumulative_count(b)) for b in self.latency_buckets]
                buckets.append(("+Inf", row.total.total_operations))
                mean_ms = row.total.mean_latency_ms or 0.0
                latency.add_metric(labels, buckets, mean_ms * row.total.total_operations / 1000.0)
            cost.add_metric(labels, row.total.cost_usd)
            for token_type, field in TOKEN_TYPES:
                tokens.add_metric([*labels, token_type], getattr(row.total, field))
        yield from (operations, latency, cost, tokens)
        yield from self._tool_families(GaugeMetricFamily)
        dropped = self.monitor.dropped_events
        refused = 0
        if fleet:
            dropped += self.monitor.others_dropped_rows
            refused = self.monitor.others_refused_rows
        yield CounterMetricFamily(
            "toolkeeper_dropped_events",
            "Raw operation rows shed before reaching the store (counts and rollups keep them).",
            value=dropped,
        )
        yield CounterMetricFamily(
            "toolkeeper_refused_rows",
            "Raw operation rows the store refused (the rest of their batch was stored).",
            value=refused + self.monitor.refused_rows,
        )

    def _tool_families(self, gauge: type[GaugeMetricFamily]) -> Iterator[Metric]:
        score = gauge(
            "toolkeeper_health_score", "Health score 0-100 (docs/health.md).", labels=["tool"]
        )
        status = gauge(
            "toolkeeper_health_status",
            "1 for the tool's current health status, 0 for the others.",
            labels=["tool", "status"],
        )
        active = gauge("toolkeeper_active_operations", "Operations in flight.", labels=["tool"])
        in_flight = self.monitor.active_operation_counts()
        for tool in self.monitor.tools():
            health = self.monitor.get_wrapper_health(tool)
            if health.health_score is not None:
                score.add_metric([tool], health.health_score)
            for value in HealthStatus:
                status.add_metric([tool, value.value], 1.0 if health.status is value else 0.0)
            active.add_metric([tool], in_flight.get(tool, 0))
        yield from (score, status, active)
