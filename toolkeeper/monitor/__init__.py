"""Record every operation in about a microsecond; report exact stats, health and exports.

The lifecycle API (docs/architecture.md) is :class:`WrapperMonitoring`; its engine,
:class:`PerformanceMonitor`, offers the fast :meth:`~PerformanceMonitor.record`
path the decorator layer uses. Exporters (JSON, CSV, Prometheus, OpenTelemetry)
read the same aggregates; prometheus-client and OpenTelemetry are imported only
when an exporter runs.
"""

from __future__ import annotations

from toolkeeper.monitor.buckets import WindowStats
from toolkeeper.monitor.export import to_csv, to_json
from toolkeeper.monitor.health import HealthAssessment, HealthStatus, assess_health
from toolkeeper.monitor.monitoring import WrapperMonitoring
from toolkeeper.monitor.otlp import register_otel_instruments
from toolkeeper.monitor.performance import PerformanceMonitor
from toolkeeper.monitor.pipeline import Sink
from toolkeeper.monitor.prometheus import MonitoringCollector
from toolkeeper.monitor.records import OperationDetails, OperationStatus, WrapperOperationMetrics
from toolkeeper.monitor.reports import WrapperHealthStatus
from toolkeeper.monitor.sketch import LatencySketch

__all__ = [
    "HealthAssessment",
    "HealthStatus",
    "LatencySketch",
    "MonitoringCollector",
    "OperationDetails",
    "OperationStatus",
    "PerformanceMonitor",
    "Sink",
    "WindowStats",
    "WrapperHealthStatus",
    "WrapperMonitoring",
    "WrapperOperationMetrics",
    "assess_health",
    "register_otel_instruments",
    "to_csv",
    "to_json",
]
