"""Real notifications through Apprise to a local JSON webhook, and failed deliveries as events."""

from __future__ import annotations

import logging

import pytest

from toolkeeper import FakeClock
from toolkeeper.alerts import AlertRule, AlertSettings, NotifierSettings
from toolkeeper.monitor import PerformanceMonitor
from toolkeeper.store.sql import Store

from .conftest import Webhook, closed_port, make_engine, record

CRITICAL = AlertRule(
    name="errors", metric="error_rate", op=">", threshold=0.2, window="1m", severity="critical"
)


def alerting(*notifiers: NotifierSettings, rule: AlertRule = CRITICAL) -> AlertSettings:
    """Return settings with one rule told to every notifier, repeating hourly."""
    return AlertSettings(notifiers=notifiers, rules=(rule,), repeat_every_seconds=3600)


def test_fired_and_resolved_notifications_reach_the_webhook(
    store: Store, monitor: PerformanceMonitor, clock: FakeClock, webhook: Webhook
) -> None:
    """The JSON body carries title, message and type, for firing and then for resolution."""
    engine = make_engine(
        alerting(NotifierSettings(name="ops", urls=(webhook.url(),))), store, monitor, clock
    )
    record(monitor, "openai", "error", 5)
    engine.evaluate()
    (fired,) = webhook.bodies
    assert fired["title"] == "[FIRING] errors on openai (critical)"
    assert "error_rate 1 > 0.2 over 1m" in fired["message"]
    assert fired["type"] == "failure"
    clock.advance(120)
    record(monitor, "openai", "success", 5)
    engine.evaluate()
    resolved = webhook.bodies[1]
    assert resolved["title"] == "[RESOLVED] errors on openai (critical)"
    assert "error_rate 0, not > 0.2 over 1m" in resolved["message"]
    assert resolved["type"] == "success"
    assert len(webhook.bodies) == 2
    kinds = [event.kind for event in engine.events()]
    assert kinds == ["notified", "resolved", "notified", "fired"]
    assert engine.events()[0].detail == "ops: resolved notification sent to 1 URL(s)"


def test_a_firing_alert_is_notified_again_every_repeat_every(
    store: Store, monitor: PerformanceMonitor, clock: FakeClock, webhook: Webhook
) -> None:
    """No repeat before repeat_every has passed; one at each repeat_every after that."""
    rule = AlertRule(name="errors", metric="error_rate", op=">", threshold=0.2, window="24h")
    engine = make_engine(
        alerting(NotifierSettings(name="ops", urls=(webhook.url(),)), rule=rule),
        store, monitor, clock,
    )  # fmt: skip
    record(monitor, "openai", "error", 5)
    engine.evaluate()
    clock.advance(3599)
    engine.evaluate()
    assert len(webhook.bodies) == 1
    clock.advance(1)
    (status,) = engine.evaluate()
    assert len(webhook.bodies) == 2
    assert webhook.bodies[1]["title"] == "[FIRING] errors on openai (warning)"
    assert webhook.bodies[1]["type"] == "warning"
    assert status.last_notified_at == clock.now()
    engine.evaluate()
    assert len(webhook.bodies) == 2


def test_a_notifier_at_a_closed_port_records_notify_failed_and_evaluate_returns(
    store: Store,
    monitor: PerformanceMonitor,
    clock: FakeClock,
    webhook: Webhook,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A delivery failure is an event and a log line; the other notifier still gets it."""
    dead = NotifierSettings(name="dead", urls=(f"json://127.0.0.1:{closed_port()}/hook",))
    live = NotifierSettings(name="live", urls=(webhook.url(),))
    engine = make_engine(alerting(dead, live), store, monitor, clock)
    record(monitor, "openai", "error", 5)
    with caplog.at_level(logging.WARNING, logger="toolkeeper.alerts"):
        (status,) = engine.evaluate()
    assert status.state == "firing"
    assert len(webhook.bodies) == 1
    failed = [event for event in engine.events() if event.kind == "notify_failed"]
    assert len(failed) == 1
    assert failed[0].detail.startswith("dead: firing notification failed: URL 1 (json://****hook)")
    assert "Connection error" in failed[0].detail
    assert any("notification failed" in r.getMessage() for r in caplog.records)


def test_a_missing_reference_is_a_failed_delivery_naming_it(
    store: Store, monitor: PerformanceMonitor, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An env: URL whose variable is unset fails that delivery, naming the variable only."""
    monkeypatch.delenv("TK_ALERTS_UNSET", raising=False)
    engine = make_engine(
        alerting(NotifierSettings(name="ops", urls=("env:TK_ALERTS_UNSET",))),
        store, monitor, clock,
    )  # fmt: skip
    assert engine.notifier_urls_masked("ops") == ["env:TK_ALERTS_UNSET"]
    record(monitor, "openai", "error", 5)
    engine.evaluate()
    (failed,) = [event for event in engine.events() if event.kind == "notify_failed"]
    assert "environment variable TK_ALERTS_UNSET is not set" in failed.detail


def test_test_notification_reports_each_notifier_and_records_events(
    store: Store, monitor: PerformanceMonitor, clock: FakeClock, webhook: Webhook
) -> None:
    """Every notifier (or the named one) gets a test message; the outcome per notifier."""
    dead = NotifierSettings(name="dead", urls=(f"json://127.0.0.1:{closed_port()}/x",))
    live = NotifierSettings(name="live", urls=(webhook.url("/test"),))
    engine = make_engine(alerting(live, dead), store, monitor, clock)
    assert engine.notifier_names() == ["live", "dead"]
    assert engine.test_notification() == {"live": True, "dead": False}
    assert engine.test_notification("live") == {"live": True}
    assert [body["type"] for body in webhook.bodies] == ["info", "info"]
    assert webhook.bodies[0]["title"] == "[TEST] toolkeeper alerts"
    assert [(e.rule, e.kind) for e in engine.events()] == [
        ("(test)", "notified"), ("(test)", "notify_failed"), ("(test)", "notified"),
    ]  # fmt: skip
    with pytest.raises(ValueError, match=r"name='nope' is not a notifier .*declared: live, dead"):
        engine.test_notification("nope")
    with pytest.raises(ValueError, match=r"name='nope'"):
        engine.notifier_urls_masked("nope")


def test_a_rule_notifies_only_its_notifiers(
    store: Store, monitor: PerformanceMonitor, clock: FakeClock, webhook: Webhook
) -> None:
    """A rule's notify list picks the notifiers; the others hear nothing."""
    first = NotifierSettings(name="first", urls=(webhook.url("/first"),))
    second = NotifierSettings(name="second", urls=(webhook.url("/second"),))
    rule = AlertRule(name="idle", metric="calls", op="<", threshold=1, notify=("second",))
    engine = make_engine(
        AlertSettings(notifiers=(first, second), rules=(rule,)), store, monitor, clock,
        tools=lambda: ["openai"],
    )  # fmt: skip
    engine.evaluate()
    assert [path for path, _ in webhook.received] == ["/second"]
