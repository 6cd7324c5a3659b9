"""Notification policies end to end: grouping, routing, inhibition and muting, to a real webhook."""

from __future__ import annotations

from dataclasses import replace

from toolkeeper import FakeClock
from toolkeeper.alerts import AlertRule, AlertSettings, NotifierSettings
from toolkeeper.alerts.intervals import time_interval
from toolkeeper.alerts.matchers import parse_matcher
from toolkeeper.alerts.policies import InhibitRule, Route
from toolkeeper.monitor import PerformanceMonitor
from toolkeeper.store.sql import Store

from .conftest import Webhook, make_engine, record

WARN = AlertRule(name="errors-warn", metric="error_rate", op=">", threshold=0.2, window="1m")
CRIT = AlertRule(
    name="errors-crit", metric="error_rate", op=">", threshold=0.5, window="1m",
    severity="critical",
)  # fmt: skip
OPEN = AlertRule(name="circuit-open", metric="circuit_open", op="==", threshold=1,
                 severity="critical")  # fmt: skip


def settings(webhook: Webhook, root: Route, *rules: AlertRule, **kw: object) -> AlertSettings:
    """Return settings with notifiers ops (/ops) and pager (/pager) and ``root`` as the policy."""
    notifiers = (
        NotifierSettings(name="ops", urls=(webhook.url("/ops"),)),
        NotifierSettings(name="pager", urls=(webhook.url("/pager"),)),
    )
    return AlertSettings(notifiers=notifiers, rules=rules, policy=root, **kw)  # type: ignore[arg-type]


def test_two_rules_on_one_tool_arrive_as_one_notification_after_group_wait(
    store: Store, monitor: PerformanceMonitor, clock: FakeClock, webhook: Webhook
) -> None:
    """group_by tool: both rules' alerts wait group_wait, then go out together, once."""
    root = Route(notify=("ops",), group_by=("tool",), group_wait_seconds=30)
    engine = make_engine(settings(webhook, root, WARN, CRIT), store, monitor, clock)
    record(monitor, "openai", "error", 10)
    statuses = engine.evaluate()
    assert [s.state for s in statuses] == ["firing", "firing"]
    assert webhook.bodies == []
    clock.advance(29)
    engine.evaluate()
    assert webhook.bodies == []
    clock.advance(1)
    engine.evaluate()
    (body,) = webhook.bodies
    assert body["title"] == "[FIRING:2] openai (critical)"
    assert "errors-crit on openai (critical, firing)" in body["message"]
    assert "errors-warn on openai (warning, firing)" in body["message"]
    clock.advance(60)
    engine.evaluate()
    assert len(webhook.bodies) == 1


def test_ten_tools_failing_together_make_one_notification_when_grouped_by_rule(
    store: Store, monitor: PerformanceMonitor, clock: FakeClock, webhook: Webhook
) -> None:
    """group_by rule: one rule breached on ten tools is one notification listing ten alerts."""
    root = Route(notify=("ops",), group_by=("rule",), group_wait_seconds=10)
    engine = make_engine(settings(webhook, root, WARN), store, monitor, clock)
    for index in range(10):
        record(monitor, f"tool-{index}", "error", 5)
    engine.evaluate()
    clock.advance(10)
    engine.evaluate()
    (body,) = webhook.bodies
    assert body["title"].startswith("[FIRING:10] tool-0, tool-1, tool-2 and 7 more")


def test_a_change_waits_group_interval_and_an_unchanged_group_repeats(
    store: Store, monitor: PerformanceMonitor, clock: FakeClock, webhook: Webhook
) -> None:
    """A new alert in a notified group waits group_interval; repeats come every repeat_interval."""
    root = Route(notify=("ops",), group_by=("tool",), group_wait_seconds=0,
                 group_interval_seconds=300, repeat_interval_seconds=3600)  # fmt: skip
    rules = (replace(WARN, window="24h"), replace(CRIT, window="24h"))
    engine = make_engine(settings(webhook, root, *rules), store, monitor, clock)
    record(monitor, "openai", "error", 3)
    record(monitor, "openai", "success", 7)  # 30% errors: only the warning fires
    engine.evaluate()
    assert [b["title"] for b in webhook.bodies] == ["[FIRING] errors-warn on openai (warning)"]
    clock.advance(10)
    record(monitor, "openai", "error", 20)  # now the critical rule fires too
    engine.evaluate()
    assert len(webhook.bodies) == 1
    clock.advance(290)
    engine.evaluate()
    assert webhook.bodies[1]["title"] == "[FIRING:2] openai (critical)"
    clock.advance(3599)
    engine.evaluate()
    assert len(webhook.bodies) == 2
    clock.advance(1)
    engine.evaluate()
    assert webhook.bodies[2]["title"] == "[FIRING:2] openai (critical)"


def test_routes_pick_notifiers_by_labels_and_continue_goes_on(
    store: Store, monitor: PerformanceMonitor, clock: FakeClock, webhook: Webhook
) -> None:
    """Critical alerts go to the pager and, with continue, to the team route after it."""
    pager = Route(path="0.0", matchers=(parse_matcher('severity="critical"'),), notify=("pager",),
                  continue_=True, group_by=("rule", "tool"), group_wait_seconds=0)  # fmt: skip
    team = Route(path="0.1", matchers=(parse_matcher('team=~"pay.*"'),), notify=("ops",),
                 group_by=("rule", "tool"), group_wait_seconds=0)  # fmt: skip
    root = Route(notify=(), routes=(pager, team), group_wait_seconds=0)
    crit = AlertRule(name="crit", metric="error_rate", op=">", threshold=0.5, window="1m",
                     severity="critical", labels={"team": "payments"})  # fmt: skip
    warn = AlertRule(name="warn", metric="error_rate", op=">", threshold=0.2, window="1m",
                     labels={"team": "search"})  # fmt: skip
    engine = make_engine(settings(webhook, root, crit, warn), store, monitor, clock)
    record(monitor, "openai", "error", 10)
    engine.evaluate()
    assert sorted(path for path, _ in webhook.received) == ["/ops", "/pager"]
    assert all("crit on openai" in body["title"] for body in webhook.bodies)


def test_an_open_circuit_inhibits_error_alerts_of_the_same_tool_only(
    store: Store, monitor: PerformanceMonitor, clock: FakeClock, webhook: Webhook
) -> None:
    """source circuit-open mutes targets with equal tool; another tool still notifies."""
    inhibit = InhibitRule(
        source=(parse_matcher('rule="circuit-open"'),),
        target=(parse_matcher('rule=~"errors-.*"'),),
        equal=("tool",),
    )
    root = Route(notify=("ops",), group_by=("rule", "tool"), group_wait_seconds=0)
    engine = make_engine(settings(webhook, root, OPEN, WARN, inhibit_rules=(inhibit,)),
                         store, monitor, clock)  # fmt: skip
    monitor.circuit_state_provider = lambda tool: "open" if tool == "openai" else "closed"
    record(monitor, "openai", "error", 10)
    record(monitor, "anthropic", "error", 10)
    statuses = {(s.rule, s.tool): s for s in engine.evaluate()}
    muted = statuses[("errors-warn", "openai")]
    assert (muted.state, muted.inhibited_by) == ("firing", "circuit-open/openai")
    assert statuses[("errors-warn", "anthropic")].inhibited_by is None
    titles = sorted(body["title"] for body in webhook.bodies)
    assert titles == [
        "[FIRING] circuit-open on openai (critical)",
        "[FIRING] errors-warn on anthropic (warning)",
    ]
    inhibited = [e for e in engine.events() if e.kind == "inhibited"]
    assert [(e.rule, e.tool) for e in inhibited] == [("errors-warn", "openai")]


def test_a_muted_route_sends_nothing_and_records_why(
    store: Store, monitor: PerformanceMonitor, clock: FakeClock, webhook: Webhook
) -> None:
    """Inside a mute time interval the due notification is dropped as a muted event."""
    always = time_interval("always", {"times": [{"start": "00:00", "end": "24:00"}]})
    root = Route(notify=("ops",), group_by=("tool",), group_wait_seconds=0,
                 mute_time_intervals=("always",))  # fmt: skip
    engine = make_engine(settings(webhook, root, WARN, time_intervals={"always": always}),
                         store, monitor, clock)  # fmt: skip
    record(monitor, "openai", "error", 10)
    engine.evaluate()
    assert webhook.bodies == []
    assert [e.kind for e in engine.events()] == ["muted", "fired"]
