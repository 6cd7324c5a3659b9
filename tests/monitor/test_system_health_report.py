"""The system's health is a typed report; ``get_system_health`` is its plain-data form."""

from __future__ import annotations

from datetime import datetime

from toolkeeper._clock import FakeClock
from toolkeeper.monitor import OperationStatus, WrapperMonitoring
from toolkeeper.monitor.health import HealthStatus
from toolkeeper.monitor.reports import SystemHealthReport


def test_the_report_is_typed_and_its_dict_is_get_system_health(
    monitor: WrapperMonitoring, clock: FakeClock
) -> None:
    """Statuses are HealthStatus, the time a datetime, and to_dict() is get_system_health()."""
    for _ in range(8):
        monitor.record("good", "op", OperationStatus.SUCCESS, 0.1)
    for _ in range(5):
        monitor.record("bad", "op", OperationStatus.ERROR, 0.1, error_message="down")
    report = monitor.system_health_report()
    assert isinstance(report, SystemHealthReport)
    assert report.system_status is HealthStatus.UNHEALTHY
    assert report.wrappers == {"good": HealthStatus.HEALTHY, "bad": HealthStatus.CRITICAL}
    assert isinstance(report.last_health_check, datetime)
    assert (report.total_wrappers, report.error_count) == (2, 5)
    assert report.to_dict() == monitor.get_system_health()
