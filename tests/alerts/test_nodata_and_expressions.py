"""NoData when traffic stops, rules over custom metrics and expressions, evaluation errors."""

from __future__ import annotations

import pytest

from toolkeeper import FakeClock
from toolkeeper.alerts import AlertRule, AlertSettings, NotifierSettings
from toolkeeper.alerts.expressions import parse_expression
from toolkeeper.alerts.rules import METRICS
from toolkeeper.monitor import OperationStatus, PerformanceMonitor
from toolkeeper.store.sql import Store

from .conftest import Webhook, make_engine, record


def told(webhook: Webhook, *rules: AlertRule) -> AlertSettings:
    """Return settings telling ``ops`` (the webhook) about ``rules`` at once."""
    return AlertSettings(notifiers=(NotifierSettings(name="ops", urls=(webhook.url(),)),),
                         rules=rules)  # fmt: skip


def test_a_tool_whose_traffic_stops_goes_to_nodata_and_notifies(
    store: Store, monitor: PerformanceMonitor, clock: FakeClock, webhook: Webhook
) -> None:
    """With no_data = 'nodata', an emptied window is the NoData state, notified as such."""
    rule = AlertRule(name="errors", metric="error_rate", op=">", threshold=0.2, window="1m",
                     no_data="nodata", min_calls=1)  # fmt: skip
    engine = make_engine(told(webhook, rule), store, monitor, clock)
    record(monitor, "openai", "success", 5)
    (status,) = engine.evaluate()
    assert status.state == "inactive"
    clock.advance(120)
    (status,) = engine.evaluate()
    assert status.state == "nodata"
    (body,) = webhook.bodies
    assert body["title"] == "[NODATA] errors on openai (warning)"
    assert "error_rate has no value over 1m" in body["message"]
    clock.advance(10)
    record(monitor, "openai", "success", 5)
    (status,) = engine.evaluate()
    assert status.state == "inactive"
    assert webhook.bodies[1]["title"] == "[RESOLVED] errors on openai (warning)"


def test_a_rule_on_a_custom_metric_fires(
    store: Store, monitor: PerformanceMonitor, clock: FakeClock, webhook: Webhook
) -> None:
    """mean(quality_score) over the window, as op.metric records it, breaches its threshold."""
    rule = AlertRule(name="quality", metric="mean(quality_score)", op="<", threshold=0.8,
                     window="5m")  # fmt: skip
    engine = make_engine(told(webhook, rule), store, monitor, clock)
    for score in (0.9, 0.6, 0.5):
        monitor.record("router", "route", OperationStatus.SUCCESS, 0.01,
                       custom_metrics={"quality_score": score})  # fmt: skip
    (status,) = engine.evaluate()
    assert (status.state, round(status.value or 0, 4)) == ("firing", 0.6667)
    assert "mean(quality_score) 0.6667 < 0.8 over 5m" in webhook.bodies[0]["message"]


def test_an_expression_over_two_metrics_fires_only_when_both_hold(
    store: Store, monitor: PerformanceMonitor, clock: FakeClock, webhook: Webhook
) -> None:
    """error_rate > 0.2 and calls >= 20: the rate alone is not enough."""
    rule = AlertRule(name="busy-errors", expr="error_rate > 0.2 and calls >= 20", window="5m")
    engine = make_engine(told(webhook, rule), store, monitor, clock)
    record(monitor, "openai", "error", 10)
    (status,) = engine.evaluate()
    assert status.state == "inactive"
    record(monitor, "openai", "success", 10)
    (status,) = engine.evaluate()
    assert status.state == "firing"
    assert status.summary == "error_rate > 0.2 and calls >= 20 (value 0.5) over 5m"


def test_a_division_by_zero_is_the_error_state(
    store: Store, monitor: PerformanceMonitor, clock: FakeClock, webhook: Webhook
) -> None:
    """An expression that divides by zero puts the alert in Error, with the message notified."""
    rule = AlertRule(name="ratio", expr="errors / (calls - calls) > 1", window="5m")
    engine = make_engine(told(webhook, rule), store, monitor, clock)
    record(monitor, "openai", "error", 3)
    (status,) = engine.evaluate()
    assert (status.state, status.error) == (
        "error", "'errors / (calls - calls) > 1': division by zero",
    )  # fmt: skip
    assert webhook.bodies[0]["title"] == "[ERROR] ratio on openai (warning)"
    assert "division by zero" in webhook.bodies[0]["message"]


@pytest.mark.parametrize(
    ("text", "refused"),
    [
        ("__import__('os').system('x') > 0", "is not allowed"),
        ("error_rate.real > 0", "is not allowed"),
        ("nope > 1", "'nope' is not a metric"),
        ("error_rate + 1", "must be a condition"),
        ("error_rate >", "is not a valid expression"),
        ("'a' < 'b'", "is not allowed"),
    ],
)
def test_the_expression_language_refuses_anything_but_its_grammar(text: str, refused: str) -> None:
    """Calls other than the aggregates, attributes, strings, unknown names are refused by name."""
    with pytest.raises(ValueError, match=refused):
        parse_expression(text, metrics=METRICS)


def test_expressions_compute_arithmetic_and_chains() -> None:
    """Arithmetic, chained comparisons and not evaluate over the looked-up values."""
    values = {"p95_latency_ms": 900.0, "p50_latency_ms": 400.0, "calls": 12.0}
    expr = parse_expression("p95_latency_ms > 2 * p50_latency_ms and 10 <= calls < 20",
                            metrics=METRICS)  # fmt: skip
    assert expr.evaluate(values.get) == (True, 900.0)
    assert parse_expression("not calls > 5", metrics=METRICS).evaluate(values.get) == (False, 12.0)
    assert parse_expression("mean(q) < 1", metrics=METRICS).evaluate(values.get) == (None, None)
