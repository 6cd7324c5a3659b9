"""Reports: the system-health keys of the public contract, and the typed reports' plain forms."""

from __future__ import annotations

from toolkeeper._clock import FakeClock
from toolkeeper.monitor import OperationStatus, WrapperMonitoring

SEED_KEYS = {
    "overall_health_score", "system_status", "total_wrappers", "active_wrappers",
    "healthy_wrappers", "unhealthy_wrappers", "health_percentage", "total_operations",
    "completed_operations", "active_operations", "overall_success_rate", "error_count",
    "operations_per_minute", "last_health_check",
}  # fmt: skip


def test_system_health_has_every_seed_key(monitor: WrapperMonitoring, clock: FakeClock) -> None:
    """``get_system_health`` has the public contract's keys, with consistent values."""
    for _ in range(8):
        monitor.record("good", "op", OperationStatus.SUCCESS, 0.1)
    for _ in range(5):
        monitor.record("bad", "op", OperationStatus.ERROR, 0.1, error_message="down")
    health = monitor.get_system_health()
    assert health.keys() >= SEED_KEYS
    assert health["total_wrappers"] == 2
    assert health["healthy_wrappers"] == 1
    assert health["unhealthy_wrappers"] == 1
    assert health["critical_wrappers"] == 1
    assert health["health_percentage"] == 50.0
    assert health["overall_health_score"] == 50.0
    assert health["system_status"] == "unhealthy"
    assert health["error_count"] == 5
    assert health["operations_per_minute"] == 13 / 5
    assert health["last_health_check"] == clock.now().isoformat()


def test_an_empty_monitor_reports_unknown(monitor: WrapperMonitoring) -> None:
    """With no tools, the system is unknown and has no score."""
    health = monitor.get_system_health()
    assert health["system_status"] == "unknown"
    assert health["overall_health_score"] is None
    assert health["overall_success_rate"] is None
    assert health["total_wrappers"] == 0


def test_health_report_plain_form(monitor: WrapperMonitoring, clock: FakeClock) -> None:
    """A health report converts to plain data with ISO times and its reasons."""
    monitor.record("t", "op", OperationStatus.ERROR, 0.2, error_message="boom")
    report = monitor.get_wrapper_health("t")
    data = report.to_dict()
    assert data["status"] == report.status.value
    assert data["last_error"] == "boom"
    assert data["last_error_time"] == clock.now().isoformat()
    assert data["reasons"][0] == "judged on 1 operations in the last 1h"
    assert not report.is_healthy
    assert data["p95_latency_ms"] is not None


def test_wrapper_stats_report_is_typed_and_its_plain_form_is_get_wrapper_stats(
    monitor: WrapperMonitoring, clock: FakeClock
) -> None:
    """The typed stats report holds WindowStats and datetimes; to_dict() is get_wrapper_stats()."""
    for _ in range(3):
        monitor.record("t", "op", OperationStatus.SUCCESS, 0.1)
    monitor.record("t", "op", OperationStatus.ERROR, 0.2, error_message="boom")
    report = monitor.wrapper_stats_report("t")
    assert report is not None
    assert report.wrapper_name == "t"
    assert report.total is not None
    assert report.total.counts == {"success": 3, "error": 1}
    assert report.total_operations == 4
    assert report.last_error == "boom"
    assert report.last_error_time == clock.now()
    assert report.windows["1m"].total_operations == 4
    data = report.to_dict()
    assert data == monitor.get_wrapper_stats("t")
    assert data["last_error_time"] == clock.now().isoformat()
    assert data["total_operations"] == 4
    assert data["windows"]["1m"] == report.windows["1m"].to_dict()


def test_an_unknown_tool_has_no_stats_report(monitor: WrapperMonitoring) -> None:
    """A tool never seen has no typed report, as it has no plain stats."""
    assert monitor.wrapper_stats_report("ghost") is None
    assert monitor.get_wrapper_stats("ghost") is None
