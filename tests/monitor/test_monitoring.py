"""WrapperMonitoring's lifecycle API (docs/architecture.md): scenarios, fallbacks, id errors."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from toolkeeper._clock import FakeClock
from toolkeeper._errors import DuplicateOperationError, MonitoringError, UnknownOperationError
from toolkeeper.monitor import OperationStatus, WrapperMonitoring


def run(monitor: WrapperMonitoring, op_id: str, tool: str, outcome: str, clock: FakeClock) -> None:
    """Start, finish with ``outcome`` after 100 ms, and end one operation."""
    monitor.start_operation(op_id, tool, "chat")
    clock.advance(0.1)
    if outcome == "success":
        monitor.record_success(op_id, result={"cost_estimate": 0.01}, custom_metrics={"q": 1})
    elif outcome == "error":
        monitor.record_error(op_id, "upstream timeout", error_code="TIMEOUT")
    else:
        monitor.record_error(op_id, "upstream down")
        monitor.record_fallback(op_id, reason="primary_failed", fallback_name="local")
    monitor.end_operation(op_id)


def test_seven_successes_two_errors_one_fallback(
    monitor: WrapperMonitoring, clock: FakeClock
) -> None:
    """The public contract's scenario (docs/architecture.md): total 10 and rates 0.7 / 0.2 / 0.1."""
    outcomes = ["success"] * 7 + ["error"] * 2 + ["fallback"]
    for n, outcome in enumerate(outcomes):
        run(monitor, f"op-{n}", "openai", outcome, clock)
    stats = monitor.get_wrapper_stats("openai")
    assert stats is not None
    assert stats["total_operations"] == 10
    assert (stats["success_rate"], stats["error_rate"], stats["fallback_rate"]) == (0.7, 0.2, 0.1)
    assert stats["cost_usd"] == pytest.approx(0.07)
    assert stats["last_error"] == "upstream timeout"
    health = monitor.get_wrapper_health("openai")
    assert health.total_operations == 10
    assert (health.success_rate, health.error_rate, health.fallback_rate) == (0.7, 0.2, 0.1)


def test_export_filters_by_wrapper_and_time(monitor: WrapperMonitoring, clock: FakeClock) -> None:
    """Export by wrapper and time window returns the right operations and fields."""
    begin = clock.now()
    run(monitor, "a-1", "alpha", "success", clock)
    clock.advance(60)
    middle = clock.now()
    run(monitor, "a-2", "alpha", "success", clock)
    run(monitor, "b-1", "beta", "success", clock)
    clock.advance(60)
    run(monitor, "a-3", "alpha", "error", clock)

    rows = monitor.export_metrics(
        wrapper_name="alpha", start_time=middle, end_time=middle + timedelta(seconds=30)
    )
    assert [row["operation_id"] for row in rows] == ["a-2"]
    row = rows[0]
    assert row["wrapper_name"] == "alpha"
    assert row["start_time"] == middle.isoformat()
    assert row["status"] == "success"
    assert row["custom_metrics"] == {"q": 1}
    assert row["cost_estimate"] == 0.01
    assert [r["operation_id"] for r in monitor.export_metrics("alpha")] == ["a-1", "a-2", "a-3"]
    assert len(monitor.export_metrics(start_time=begin)) == 4
    assert monitor.export_metrics(start_time=clock.now() + timedelta(seconds=1)) == []


def test_system_health_over_three_tools(monitor: WrapperMonitoring, clock: FakeClock) -> None:
    """Three tools of five successes: 3 tools, 15 completed operations, success rate 1.0."""
    for tool in ("a", "b", "c"):
        for n in range(5):
            run(monitor, f"{tool}-{n}", tool, "success", clock)
    health = monitor.get_system_health()
    assert health["total_wrappers"] == 3
    assert health["active_wrappers"] == 3
    assert health["healthy_wrappers"] == 3
    assert health["completed_operations"] == 15
    assert health["total_operations"] == 15
    assert health["overall_success_rate"] == 1.0
    assert health["system_status"] == "healthy"


def test_a_served_fallback_keeps_the_original_error(
    monitor: WrapperMonitoring, clock: FakeClock
) -> None:
    """Error then fallback: status fallback, the primary's error kept as original."""
    run(monitor, "op", "t", "fallback", clock)
    [record] = monitor.recent_operations()
    assert record.status is OperationStatus.FALLBACK
    assert record.fallback_used
    assert record.original_error == "upstream down"
    assert (record.fallback_reason, record.fallback_name) == ("primary_failed", "local")
    assert record.fallback_duration_ms == 0.0
    assert record.duration_ms == pytest.approx(100.0)


def test_outcomes_combine_in_order(monitor: WrapperMonitoring, clock: FakeClock) -> None:
    """A fallback that succeeds stays a fallback; one that fails is an error; none is cancelled."""
    monitor.start_operation("ok", "t")
    monitor.record_fallback("ok", reason="circuit_open")
    clock.advance(0.5)
    monitor.record_success("ok", result={"input_tokens": 3, "output_tokens": 4})
    assert monitor.end_operation("ok").status is OperationStatus.FALLBACK

    monitor.start_operation("bad", "t")
    monitor.record_error("bad", "primary failed")
    monitor.record_fallback("bad", reason="primary_failed")
    monitor.record_error("bad", "fallback failed too")
    bad = monitor.end_operation("bad")
    assert (bad.status, bad.original_error) == (OperationStatus.ERROR, "primary failed")

    monitor.start_operation("none", "t")
    assert monitor.end_operation("none").status is OperationStatus.CANCELLED
    stats = monitor.get_window_stats("t", "total")
    assert stats is not None
    assert stats.counts == {"cancelled": 1, "error": 1, "fallback": 1}
    assert (stats.input_tokens, stats.output_tokens) == (3, 4)


def test_duplicate_and_unknown_ids_are_clear_errors(monitor: WrapperMonitoring) -> None:
    """A reused id in flight, or an id never started or already ended, raises naming the id."""
    monitor.start_operation("op-1", "openai")
    with pytest.raises(
        DuplicateOperationError, match="'op-1' is already in flight for tool 'openai'"
    ):
        monitor.start_operation("op-1", "other")
    with pytest.raises(UnknownOperationError, match="'op-2' is not in flight"):
        monitor.record_success("op-2")
    monitor.end_operation("op-1")
    for call in (
        lambda: monitor.end_operation("op-1"),
        lambda: monitor.record_error("op-1", "x"),
        lambda: monitor.record_fallback("op-1", "x"),
    ):
        with pytest.raises(UnknownOperationError, match="'op-1'"):
            call()
    monitor.start_operation("op-1", "openai")  # free again once ended
    assert monitor.active_operations == 1


def test_in_flight_operations_are_bounded(clock: FakeClock) -> None:
    """Past ``max_active_operations`` in flight, starting another is an error, not a leak."""
    with WrapperMonitoring(clock=clock, max_active_operations=2) as monitor:
        monitor.start_operation("a", "t")
        monitor.start_operation("b", "t")
        with pytest.raises(MonitoringError, match="2 operations are in flight"):
            monitor.start_operation("c", "t")


def test_in_flight_operations_count_in_system_health(monitor: WrapperMonitoring) -> None:
    """A started tool is known and active; its operations are counted as active."""
    monitor.start_operation("op", "slow")
    assert monitor.get_active_wrappers() == ["slow"]
    health = monitor.get_system_health()
    assert (health["active_operations"], health["total_operations"]) == (1, 1)
    assert monitor.get_wrapper_health("slow").status == "unknown"
    assert monitor.get_wrapper_stats("slow") == {
        "wrapper_name": "slow",
        "total_operations": 0,
        "active_operations": 1,
        "last_error": None,
        "last_error_time": None,
        "windows": {},
    }


def test_eight_threads_of_lifecycle_calls_lose_nothing(monitor: WrapperMonitoring) -> None:
    """8 threads each running 1,000 start/success/end cycles leave 8,000 operations."""

    def work(worker: int) -> None:
        for n in range(1000):
            op_id = monitor.start_operation(f"{worker}-{n}", "t")
            monitor.record_success(op_id)
            monitor.end_operation(op_id)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stats = monitor.get_window_stats("t", "total")
    assert stats is not None
    assert stats.counts == {"success": 8000}
    assert monitor.active_operations == 0
