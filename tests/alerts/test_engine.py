"""The engine's state machine on a fake clock: pending, firing, resolved, repeats, metrics."""

from __future__ import annotations

import threading

import pytest

from toolkeeper import FakeClock
from toolkeeper.alerts import AlertRule, AlertSettings
from toolkeeper.monitor import OperationStatus, PerformanceMonitor
from toolkeeper.store.sql import Store

from .conftest import make_engine, record


def settings(*rules: AlertRule, repeat_every_seconds: float = 3600.0) -> AlertSettings:
    """Return settings with ``rules`` and no notifier."""
    return AlertSettings(rules=rules, repeat_every_seconds=repeat_every_seconds)


ERRORS = AlertRule(
    name="errors", metric="error_rate", op=">", threshold=0.2, for_seconds=60, min_calls=5
)


def test_a_condition_must_hold_for_its_duration_before_the_alert_fires(
    store: Store, monitor: PerformanceMonitor, clock: FakeClock
) -> None:
    """inactive -> pending at once, -> firing only once `for` has passed, with one fired event."""
    engine = make_engine(settings(ERRORS), store, monitor, clock)
    record(monitor, "openai", "error", 5)
    start = clock.now()
    (status,) = engine.evaluate()
    assert (status.state, status.since, status.value) == ("pending", start, 1.0)
    clock.advance(59)
    assert engine.evaluate()[0].state == "pending"
    clock.advance(1)
    (status,) = engine.evaluate()
    assert (status.state, status.fired_at, status.since) == ("firing", clock.now(), clock.now())
    assert status.summary == "error_rate 1 > 0.2 over 5m"
    clock.advance(10)
    engine.evaluate()
    assert [event.kind for event in engine.events()] == ["fired"]
    assert engine.events()[0].detail == "error_rate 1 > 0.2 over 5m"


def test_a_pending_alert_whose_condition_ends_goes_back_to_inactive_silently(
    store: Store, monitor: PerformanceMonitor, clock: FakeClock
) -> None:
    """A condition that stops holding before `for` records nothing and never fires."""
    engine = make_engine(settings(ERRORS), store, monitor, clock)
    record(monitor, "openai", "error", 5)
    assert engine.evaluate()[0].state == "pending"
    record(monitor, "openai", "success", 30)
    clock.advance(120)
    (status,) = engine.evaluate()
    assert status.state == "inactive"
    assert status.fired_at is None
    assert engine.events() == []


def test_a_firing_alert_resolves_when_its_condition_ends(
    store: Store, monitor: PerformanceMonitor, clock: FakeClock
) -> None:
    """firing -> inactive with resolved_at set and a resolved event."""
    rule = AlertRule(name="errors", metric="error_rate", op=">", threshold=0.2, window="1m")
    engine = make_engine(settings(rule), store, monitor, clock)
    record(monitor, "openai", "error", 5)
    fired_at = clock.now()
    assert engine.evaluate()[0].state == "firing"
    clock.advance(120)  # the errors leave the 1-minute window
    record(monitor, "openai", "success", 5)
    (status,) = engine.evaluate()
    assert (status.state, status.fired_at, status.resolved_at) == (
        "inactive", fired_at, clock.now(),
    )  # fmt: skip
    assert [event.kind for event in engine.events()] == ["resolved", "fired"]
    assert engine.events()[0].detail == "error_rate 0, not > 0.2 over 1m"
    (stored,) = engine.statuses()
    assert (stored.state, stored.resolved_at) == ("inactive", clock.now())


def test_rate_metrics_need_min_calls_in_the_window(
    store: Store, monitor: PerformanceMonitor, clock: FakeClock
) -> None:
    """Below min_calls a rate has no value, so the condition is false."""
    rule = AlertRule(name="errors", metric="error_rate", op=">", threshold=0.2, min_calls=5)
    engine = make_engine(settings(rule), store, monitor, clock)
    record(monitor, "openai", "error", 4)
    (status,) = engine.evaluate()
    assert (status.state, status.value) == ("inactive", None)
    assert status.summary == "error_rate has no value over 5m (needs 5 calls)"
    record(monitor, "openai", "error")
    assert engine.evaluate()[0].state == "firing"


@pytest.mark.parametrize(
    ("metric", "statuses", "expected"),
    [
        ("error_rate", ["error", "timeout", "success", "success"], 0.5),
        ("success_rate", ["success", "success", "success", "error"], 0.75),
        ("fallback_rate", ["fallback", "success", "success", "success"], 0.25),
        ("calls", ["success", "error", "fallback"], 3.0),
        ("health_score", ["success"] * 20, 100.0),
    ],
)
def test_each_windowed_metric_is_read_from_the_monitor(
    store: Store,
    monitor: PerformanceMonitor,
    clock: FakeClock,
    *,
    metric: str,
    statuses: list[str],
    expected: float,
) -> None:
    """Rates, counts and the health score come from the monitor's window and health."""
    rule = AlertRule(name="m", metric=metric, op="==", threshold=expected, min_calls=1)
    engine = make_engine(settings(rule), store, monitor, clock)
    for status in statuses:
        record(monitor, "openai", status)
    (status,) = engine.evaluate()
    assert status.value == pytest.approx(expected)
    assert status.state == "firing"


def test_latency_and_cost_come_from_the_window(
    store: Store, monitor: PerformanceMonitor, clock: FakeClock
) -> None:
    """p95 latency (ms, within the sketch's 1%) and cost (USD) over the rule's window."""
    slow = AlertRule(name="slow", metric="p95_latency_ms", op=">", threshold=1500)
    spend = AlertRule(name="spend", metric="cost_usd", op=">=", threshold=0.5, window="1h")
    engine = make_engine(settings(slow, spend), store, monitor, clock)
    for _ in range(20):
        monitor.record("openai", "chat", OperationStatus.SUCCESS, 2.0, cost=0.03)
    by_rule = {status.rule: status for status in engine.evaluate()}
    assert by_rule["slow"].value == pytest.approx(2000, rel=0.02)
    assert by_rule["spend"].value == pytest.approx(0.6)
    assert by_rule["slow"].state == by_rule["spend"].state == "firing"


def test_health_score_and_budget_burn_have_no_value_without_data(
    store: Store, monitor: PerformanceMonitor, clock: FakeClock
) -> None:
    """An unknown tool's health is no value; budget burn comes from the given provider."""
    unhealthy = AlertRule(name="unhealthy", metric="health_score", op="<", threshold=50)
    burn = AlertRule(name="burn", metric="budget_burn", op=">=", threshold=0.8)
    burns = {"openai": 0.9, "local": None}
    engine = make_engine(
        settings(unhealthy, burn), store, monitor, clock,
        tools=lambda: ["openai", "local"], budget_burn=burns.get,
    )  # fmt: skip
    found = {(s.rule, s.tool): s for s in engine.evaluate()}
    assert found["unhealthy", "openai"].value is None
    assert found["burn", "openai"].value == 0.9
    assert found["burn", "openai"].state == "firing"
    assert found["burn", "local"].value is None
    assert found["burn", "local"].state == "inactive"


def test_a_rule_watches_only_the_tools_its_glob_matches(
    store: Store, monitor: PerformanceMonitor, clock: FakeClock
) -> None:
    """Tool globs select tools; configured tools are watched before their first call."""
    idle = AlertRule(name="idle", tool="open*", metric="calls", op="<", threshold=1)
    engine = make_engine(
        settings(idle), store, monitor, clock, tools=lambda: ["openai", "openrouter", "poml"]
    )
    record(monitor, "openrouter", "success")
    record(monitor, "other", "success")
    found = {status.tool: status.state for status in engine.evaluate()}
    assert found == {"openai": "firing", "openrouter": "inactive"}


def test_statuses_come_from_the_store_firing_first(
    store: Store, monitor: PerformanceMonitor, clock: FakeClock
) -> None:
    """statuses() lists stored alerts firing, then pending, then inactive; critical first."""
    rules = (
        AlertRule(name="a-warn", metric="calls", op=">=", threshold=1),
        AlertRule(name="b-crit", metric="calls", op=">=", threshold=1, severity="critical"),
        AlertRule(name="c-wait", metric="calls", op=">=", threshold=1, for_seconds=600),
    )
    engine = make_engine(settings(*rules), store, monitor, clock)
    record(monitor, "openai", "success")
    engine.evaluate()
    other = make_engine(settings(*rules), store, monitor, clock)
    assert [(s.rule, s.state) for s in other.statuses()] == [
        ("b-crit", "firing"), ("a-warn", "firing"), ("c-wait", "pending"),
    ]  # fmt: skip
    assert other.statuses()[0].to_dict()["since"] == clock.now().isoformat()


def test_bad_arguments_raise_value_errors_naming_them(
    store: Store, monitor: PerformanceMonitor, clock: FakeClock
) -> None:
    """events(limit) is checked; the rules() are the configured ones."""
    engine = make_engine(settings(ERRORS), store, monitor, clock)
    assert engine.rules() == [ERRORS]
    with pytest.raises(ValueError, match=r"limit=0 must be a whole number from 1 to 10000"):
        engine.events(0)


def test_start_evaluates_in_a_thread_until_close(
    store: Store, monitor: PerformanceMonitor, clock: FakeClock
) -> None:
    """start() evaluates at once in one daemon thread (idempotent); close() stops it."""
    evaluated = threading.Event()

    def tools() -> list[str]:
        evaluated.set()
        return ["openai"]

    idle = AlertRule(name="idle", metric="calls", op="<", threshold=1)
    engine = make_engine(settings(idle), store, monitor, clock, tools=tools)
    engine.start()
    engine.start()
    assert evaluated.wait(timeout=10)
    running = [t for t in threading.enumerate() if t.name == "toolkeeper-alerts"]
    assert len(running) == 1
    assert running[0].daemon
    engine.close()
    engine.close()
    assert not running[0].is_alive()
    assert engine.statuses()[0].state == "firing"
    with pytest.raises(RuntimeError, match="closed"):
        engine.start()
