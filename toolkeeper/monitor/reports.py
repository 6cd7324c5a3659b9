"""Report health per tool and for the whole system, from a monitor's public reads.

The scoring itself is :func:`toolkeeper.monitor.health.assess_health`; this module
picks the window it is judged on and gathers its inputs. Health is judged on the
last 5 minutes when they hold at least 5 operations, else on the last hour, and is
``unknown`` when the last hour is empty (see docs/health.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from toolkeeper.monitor.aggregates import TOTAL_WINDOW, WINDOWS
from toolkeeper.monitor.buckets import WindowStats
from toolkeeper.monitor.health import (
    HEALTH_FALLBACK_WINDOW,
    HEALTH_PRIMARY_MIN_OPERATIONS,
    HEALTH_PRIMARY_WINDOW,
    HealthStatus,
    assess_health,
    system_status,
)

if TYPE_CHECKING:
    from toolkeeper.monitor.performance import PerformanceMonitor

__all__ = [
    "SystemHealthReport",
    "WrapperHealthStatus",
    "WrapperStatsReport",
    "active_wrappers",
    "system_health",
    "wrapper_health",
    "wrapper_stats",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class WrapperHealthStatus:
    """Report one tool's health: its status, score, the rates behind it and why.

    Rates and latencies come from ``window`` (``None`` when there was no data);
    ``error_rate`` counts failed calls, ``provider_error_rate`` failed calls plus the
    failed attempts a fallback then served (see :class:`WindowStats`);
    latencies are milliseconds; times are timezone-aware UTC.
    """

    wrapper_name: str
    status: HealthStatus
    health_score: float | None
    success_rate: float
    error_rate: float
    fallback_rate: float
    total_operations: int
    last_error: str | None
    last_error_time: datetime | None
    p50_latency_ms: float | None
    p95_latency_ms: float | None
    p99_latency_ms: float | None
    circuit_state: str | None
    reasons: list[str] = field(default_factory=list)
    last_check: datetime
    window: str | None = None
    provider_error_rate: float = 0.0

    @property
    def is_healthy(self) -> bool:
        """Return whether the status is ``healthy``."""
        return self.status is HealthStatus.HEALTHY

    def to_dict(self) -> dict[str, Any]:
        """Return the report as plain data, times as ISO 8601 strings."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["status"] = self.status.value
        data["reasons"] = list(self.reasons)
        data["last_check"] = self.last_check.isoformat()
        data["last_error_time"] = self.last_error_time.isoformat() if self.last_error_time else None
        return data


@dataclass(frozen=True, slots=True, kw_only=True)
class SystemHealthReport:
    """Report health and totals over every known tool (the keys of docs/health.md).

    Operation counts are since the monitor was created, plus the other writers it
    shows (their all-time totals, see ``PerformanceMonitor.show_others``), as are
    ``dropped_events`` and ``refused_rows`` (raw rows shed or refused);
    ``operations_per_minute`` is the last 5 minutes' count divided by 5;
    ``error_count`` counts failed calls, ``failed_attempt_count`` the fallbacks
    served after the primary's attempt failed; ``overall_health_score`` is the
    mean score of tools whose status is known (``None`` when none is).
    ``wrappers`` is each tool's status by name.

    The REST API sends this type as it is (``GET /api/v1/health``, the SSE tick):
    pydantic reads its fields and, from the docstrings under some of them, their
    descriptions in the OpenAPI schema.
    """

    # Read by pydantic when the server builds its schema; a plain dict, so the
    # monitor does not import pydantic.
    __pydantic_config__: ClassVar[dict[str, object]] = {"use_attribute_docstrings": True}

    overall_health_score: float | None
    system_status: HealthStatus
    total_wrappers: int
    active_wrappers: int
    healthy_wrappers: int
    degraded_wrappers: int
    unhealthy_wrappers: int
    critical_wrappers: int
    unknown_wrappers: int
    health_percentage: float | None
    total_operations: int
    completed_operations: int
    active_operations: int
    overall_success_rate: float | None
    error_count: int
    """Failed calls (errors and timeouts)."""
    failed_attempt_count: int
    """Calls a fallback served after the primary was called and failed."""
    operations_per_minute: float
    dropped_events: int
    refused_rows: int
    wrappers: dict[str, HealthStatus]
    last_health_check: datetime

    def to_dict(self) -> dict[str, Any]:
        """Return the report as plain data: statuses as strings, the time in ISO 8601."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["system_status"] = self.system_status.value
        data["wrappers"] = {name: status.value for name, status in self.wrappers.items()}
        data["last_health_check"] = self.last_health_check.isoformat()
        return data


def _judged_window(monitor: PerformanceMonitor, name: str) -> tuple[str, WindowStats] | None:
    for window, needed in (
        (HEALTH_PRIMARY_WINDOW, HEALTH_PRIMARY_MIN_OPERATIONS),
        (HEALTH_FALLBACK_WINDOW, 1),
    ):
        stats = monitor.get_window_stats(name, window)
        if stats is not None and stats.total_operations >= needed:
            return window, stats
    return None


def wrapper_health(monitor: PerformanceMonitor, name: str) -> WrapperHealthStatus:
    """Return one tool's health, judged on the 5-minute or the 1-hour window.

    A tool never seen is reported ``unknown`` (or by its circuit, if its breaker is
    already open); it is not created, and only the circuit provider, which makes
    nothing, is asked about it.
    """
    now = monitor.clock.now()
    known = monitor.knows(name)
    judged = _judged_window(monitor, name) if known else None
    last = monitor.last_error(name) if known else None
    # Asked even before the first record: a breaker already made has a state to show.
    circuit = monitor.circuit_state_provider(name)
    stats = judged[1] if judged else None
    p95_ms = stats.p95_latency_ms if stats else None
    assessment = assess_health(
        operations=stats.total_operations if stats else 0,
        failures=stats.error_count if stats else 0,
        fallbacks=stats.fallback_count if stats else 0,
        seconds_since_last_error=(now - last[0]).total_seconds() if last else None,
        p95_latency_s=p95_ms / 1000.0 if p95_ms is not None else None,
        latency_objective_s=monitor.latency_objective_provider(name) if stats else None,
        circuit_state=circuit,
        budget_burn=monitor.budget_burn_provider(name) if stats else None,
    )
    reasons = list(assessment.reasons)
    if stats is not None and judged is not None:
        reasons.insert(0, f"judged on {stats.total_operations} operations in the last {judged[0]}")
    return WrapperHealthStatus(
        wrapper_name=name,
        status=assessment.status,
        health_score=assessment.score,
        success_rate=stats.success_rate if stats else 0.0,
        error_rate=stats.error_rate if stats else 0.0,
        fallback_rate=stats.fallback_rate if stats else 0.0,
        total_operations=stats.total_operations if stats else 0,
        last_error=last[1] if last else None,
        last_error_time=last[0] if last else None,
        p50_latency_ms=stats.p50_latency_ms if stats else None,
        p95_latency_ms=p95_ms,
        p99_latency_ms=stats.p99_latency_ms if stats else None,
        circuit_state=circuit,
        reasons=reasons,
        last_check=now,
        window=judged[0] if judged else None,
        provider_error_rate=stats.provider_error_rate if stats else 0.0,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class WrapperStatsReport:
    """Report one tool's totals since the monitor was created and each rolling window.

    ``total`` is ``None`` before the tool's first finished operation; ``windows``
    holds only the windows that saw an operation; ``last_error`` and
    ``last_error_time`` describe its latest failure (``None`` if it never failed).
    """

    wrapper_name: str
    total: WindowStats | None
    active_operations: int
    last_error: str | None
    last_error_time: datetime | None
    windows: dict[str, WindowStats]

    @property
    def total_operations(self) -> int:
        """Return the operations finished since the monitor was created."""
        return self.total.total_operations if self.total else 0

    def to_dict(self) -> dict[str, Any]:
        """Return the report as plain data (``get_wrapper_stats()``), totals' keys at top level."""
        data: dict[str, Any] = {"wrapper_name": self.wrapper_name}
        data.update(self.total.to_dict() if self.total else {"total_operations": 0})
        data["active_operations"] = self.active_operations
        data["last_error"] = self.last_error
        data["last_error_time"] = self.last_error_time.isoformat() if self.last_error_time else None
        data["windows"] = {window: stats.to_dict() for window, stats in self.windows.items()}
        return data


def wrapper_stats(monitor: PerformanceMonitor, name: str) -> WrapperStatsReport | None:
    """Return a tool's totals since creation plus each rolling window; ``None`` if unknown."""
    if not monitor.knows(name):
        return None
    last = monitor.last_error(name)
    windows = {window: monitor.get_window_stats(name, window) for window in WINDOWS}
    return WrapperStatsReport(
        wrapper_name=name,
        total=monitor.get_window_stats(name, TOTAL_WINDOW),
        active_operations=monitor.active_operation_counts().get(name, 0),
        last_error=last[1] if last else None,
        last_error_time=last[0] if last else None,
        windows={window: stats for window, stats in windows.items() if stats is not None},
    )


def active_wrappers(monitor: PerformanceMonitor) -> list[str]:
    """Return tools with an operation in flight or finished in the last hour, sorted."""
    active = {name for name, count in monitor.active_operation_counts().items() if count}
    for name in monitor.tools():
        stats = monitor.get_window_stats(name, "1h", latency=False)
        if stats is not None and stats.total_operations:
            active.add(name)
    return sorted(active)


def system_health(
    monitor: PerformanceMonitor, judged: Mapping[str, WrapperHealthStatus] | None = None
) -> SystemHealthReport:
    """Return health and totals over every known tool (:class:`SystemHealthReport`).

    ``judged`` holds tools' health already judged for the same view (the shared
    summary judges every tool for its cards), so it is not judged twice.
    """
    now = monitor.clock.now()
    in_flight = monitor.active_operation_counts()
    names = monitor.tools()
    judged = judged or {}
    healths = [judged.get(name) or wrapper_health(monitor, name) for name in names]
    scores = [h.health_score for h in healths if h.health_score is not None]
    overall = round(sum(scores) / len(scores), 1) if scores else None
    by_status = {status: sum(1 for h in healths if h.status is status) for status in HealthStatus}
    known = len(healths) - by_status[HealthStatus.UNKNOWN]
    completed = success = errors = failed_attempts = recent = 0
    for name in names:
        total = monitor.get_window_stats(name, TOTAL_WINDOW, latency=False)
        window = monitor.get_window_stats(name, "5m", latency=False)
        if total is not None and window is not None:
            completed += total.total_operations
            success += total.success_count
            errors += total.error_count
            failed_attempts += total.failed_attempt_count
            recent += window.total_operations
    active_operations = sum(in_flight.values())
    healthy = by_status[HealthStatus.HEALTHY]
    return SystemHealthReport(
        overall_health_score=overall,
        system_status=system_status([h.status for h in healths], overall),
        total_wrappers=len(healths),
        active_wrappers=len(active_wrappers(monitor)),
        healthy_wrappers=healthy,
        degraded_wrappers=by_status[HealthStatus.DEGRADED],
        unhealthy_wrappers=by_status[HealthStatus.UNHEALTHY] + by_status[HealthStatus.CRITICAL],
        critical_wrappers=by_status[HealthStatus.CRITICAL],
        unknown_wrappers=by_status[HealthStatus.UNKNOWN],
        health_percentage=round(100.0 * healthy / known, 1) if known else None,
        total_operations=completed + active_operations,
        completed_operations=completed,
        active_operations=active_operations,
        overall_success_rate=success / completed if completed else None,
        error_count=errors,
        failed_attempt_count=failed_attempts,
        operations_per_minute=recent / 5.0,
        dropped_events=monitor.dropped_events + monitor.others_dropped_rows,
        refused_rows=monitor.refused_rows + monitor.others_refused_rows,
        wrappers={h.wrapper_name: h.status for h in healths},
        last_health_check=now,
    )
