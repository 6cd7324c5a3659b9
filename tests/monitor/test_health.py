"""The health formula: documented thresholds, fallbacks cheaper than failures, circuits, windows."""

from __future__ import annotations

import pytest

from toolkeeper._clock import FakeClock
from toolkeeper.monitor import HealthStatus, OperationStatus, WrapperMonitoring, assess_health
from toolkeeper.monitor.health import (
    HEALTHY_MIN_SCORE,
    normalize_circuit_state,
    status_for_score,
    system_status,
)

SUCCESS, ERROR, FALLBACK = OperationStatus.SUCCESS, OperationStatus.ERROR, OperationStatus.FALLBACK


def test_ninety_five_percent_success_with_a_recent_error_is_not_unhealthy() -> None:
    """95% success and an error just now score 85: healthy, as the issue requires."""
    result = assess_health(operations=20, failures=1, fallbacks=0, seconds_since_last_error=0)
    assert result.score == 85.0
    assert result.status is HealthStatus.HEALTHY
    assert result.reasons == (
        "1 of 20 operations failed (5.0%) (score -10.0)",
        "last failure 0s ago (score -5.0)",
    )


@pytest.mark.parametrize(
    ("operations", "failures", "fallbacks", "since_error", "score", "status"),
    [
        (20, 0, 0, None, 100.0, "healthy"),
        (20, 2, 0, 600.0, 80.0, "healthy"),
        (10, 0, 1, None, 95.0, "healthy"),
        (10, 1, 0, 10_000.0, 80.0, "healthy"),
        (10, 2, 1, 0.0, 50.0, "unhealthy"),
        (10, 1, 0, 150.0, 77.5, "degraded"),
        (10, 5, 0, 0.0, 0.0, "critical"),
    ],
)
def test_the_worked_examples_of_the_docs(  # noqa: PLR0917 - one parameter per table column
    operations: int,
    failures: int,
    fallbacks: int,
    since_error: float | None,
    score: float,
    status: str,
) -> None:
    """The examples in docs/health.md hold."""
    result = assess_health(
        operations=operations, failures=failures, fallbacks=fallbacks,
        seconds_since_last_error=since_error,
    )  # fmt: skip
    assert (result.score, result.status.value) == (score, status)


def test_a_served_fallback_costs_less_than_a_failure() -> None:
    """The same count of fallbacks scores higher than of failures."""
    fallbacks = assess_health(operations=10, failures=0, fallbacks=3)
    failures = assess_health(operations=10, failures=3, fallbacks=0)
    assert fallbacks.score is not None
    assert failures.score is not None
    assert fallbacks.score > failures.score


def test_an_open_circuit_is_critical_even_without_data() -> None:
    """An open circuit caps the score at 20; half-open keeps it below healthy."""
    opened = assess_health(operations=100, failures=0, fallbacks=0, circuit_state="open")
    assert (opened.score, opened.status) == (20.0, HealthStatus.CRITICAL)
    assert "circuit is open: calls are refused (score at most 20)" in opened.reasons
    idle = assess_health(operations=0, failures=0, fallbacks=0, circuit_state="OPEN")
    assert idle.status is HealthStatus.CRITICAL
    half = assess_health(operations=100, failures=0, fallbacks=0, circuit_state="half-open")
    assert half.score is not None
    assert half.score < HEALTHY_MIN_SCORE
    assert half.status is HealthStatus.DEGRADED


def test_no_operations_is_unknown() -> None:
    """With no operations, and no open circuit, the status is unknown with no score."""
    result = assess_health(operations=0, failures=0, fallbacks=0, circuit_state="closed")
    assert (result.score, result.status) == (None, HealthStatus.UNKNOWN)


def test_latency_and_budget_terms() -> None:
    """p95 at twice the objective costs 30; 90% budget burn costs 5; exhaustion caps at 59."""
    slow = assess_health(
        operations=10, failures=0, fallbacks=0, p95_latency_s=2.0, latency_objective_s=1.0
    )
    assert slow.score == 70.0
    within = assess_health(
        operations=10, failures=0, fallbacks=0, p95_latency_s=0.9, latency_objective_s=1.0
    )
    assert within.score == 100.0
    burning = assess_health(operations=10, failures=0, fallbacks=0, budget_burn=0.9)
    assert burning.score == pytest.approx(95.0)
    spent = assess_health(operations=10, failures=0, fallbacks=0, budget_burn=1.2)
    assert (spent.score, spent.status) == (59.0, HealthStatus.UNHEALTHY)


def test_bad_inputs_are_errors() -> None:
    """Inconsistent counts and unknown circuit states are errors naming them."""
    with pytest.raises(ValueError, match="failures=3"):
        assess_health(operations=2, failures=3, fallbacks=0)
    with pytest.raises(ValueError, match="'ajar'"):
        normalize_circuit_state("ajar")


def test_status_thresholds_and_system_status() -> None:
    """Scores map to statuses at 80/60/30; one troubled tool makes the system degraded."""
    assert [status_for_score(s).value for s in (80, 79.9, 60, 30, 29.9)] == [
        "healthy", "degraded", "degraded", "unhealthy", "critical",
    ]  # fmt: skip
    assert (
        system_status([HealthStatus.HEALTHY, HealthStatus.CRITICAL], 90.0) is HealthStatus.DEGRADED
    )
    assert system_status([HealthStatus.UNHEALTHY], 40.0) is HealthStatus.UNHEALTHY
    assert system_status([HealthStatus.UNKNOWN], None) is HealthStatus.UNKNOWN


def test_asking_about_an_unknown_tool_does_not_create_it(monitor: WrapperMonitoring) -> None:
    """An unknown tool is ``unknown``, and afterwards appears nowhere."""
    asked: list[str] = []

    def circuit(name: str) -> str | None:
        asked.append(name)
        return None

    monitor.circuit_state_provider = circuit
    monitor.record("known", "op", SUCCESS, 0.1)
    health = monitor.get_wrapper_health("ghost")
    assert health.status is HealthStatus.UNKNOWN
    assert health.health_score is None
    assert monitor.get_active_wrappers() == ["known"]
    assert monitor.tools() == ["known"]
    system = monitor.get_system_health()
    assert system["total_wrappers"] == 1
    assert "ghost" not in system["wrappers"]
    assert monitor.get_wrapper_stats("ghost") is None
    assert "ghost" in asked  # the circuit is asked (a breaker may exist before a record)


def test_an_open_circuit_shows_before_the_first_record(monitor: WrapperMonitoring) -> None:
    """A breaker already open judges a tool that has no finished operation yet."""
    monitor.circuit_state_provider = lambda name: "open" if name == "early" else None
    health = monitor.get_wrapper_health("early")
    assert health.circuit_state == "open"
    assert health.status is HealthStatus.CRITICAL  # an open circuit caps the score at 20
    assert monitor.tools() == []


def test_health_falls_back_from_five_minutes_to_one_hour(
    monitor: WrapperMonitoring, clock: FakeClock
) -> None:
    """Judged on 5m with 5+ operations, else on 1h, and unknown when the hour is empty."""
    for _ in range(4):
        monitor.record("t", "op", ERROR, 0.1, error_message="boom")
    clock.advance(400)
    for _ in range(5):
        monitor.record("t", "op", SUCCESS, 0.1)
    recent = monitor.get_wrapper_health("t")
    assert (recent.window, recent.total_operations, recent.status) == (
        "5m",
        5,
        HealthStatus.HEALTHY,
    )
    clock.advance(300)
    monitor.record("t", "op", SUCCESS, 0.1)
    hour = monitor.get_wrapper_health("t")
    assert (hour.window, hour.total_operations) == ("1h", 10)
    assert hour.last_error == "boom"
    assert hour.reasons[0] == "judged on 10 operations in the last 1h"
    clock.advance(3600)
    stale = monitor.get_wrapper_health("t")
    assert (stale.window, stale.status, stale.total_operations) == (None, HealthStatus.UNKNOWN, 0)
    assert monitor.get_active_wrappers() == []


def test_providers_feed_circuit_latency_and_budget(monitor: WrapperMonitoring) -> None:
    """The providers' answers reach the score and the report."""
    monitor.circuit_state_provider = lambda name: "open"
    monitor.latency_objective_provider = lambda name: 0.05
    monitor.budget_burn_provider = lambda name: 0.5
    for _ in range(10):
        monitor.record("t", "op", SUCCESS, 0.1)
    health = monitor.get_wrapper_health("t")
    assert health.circuit_state == "open"
    assert health.status is HealthStatus.CRITICAL
    assert any("objective" in reason for reason in health.reasons)
    assert health.to_dict()["status"] == "critical"
