"""Acknowledgement and escalation end to end, on a fake clock, to a real webhook."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from toolkeeper import FakeClock
from toolkeeper.alerts import AlertRule, AlertSettings, NotifierSettings
from toolkeeper.alerts.escalation import (
    EscalationChain,
    EscalationLevel,
    OnCallSchedule,
    Override,
)
from toolkeeper.alerts.policies import Route
from toolkeeper.monitor import PerformanceMonitor
from toolkeeper.store.sql import Store

from .conftest import Webhook, make_engine, record

T0 = datetime(2026, 1, 5, 9, tzinfo=UTC)
RULE = AlertRule(name="errors", metric="error_rate", op=">", threshold=0.2, window="24h",
                 severity="critical")  # fmt: skip


def escalating(webhook: Webhook, *, start: datetime) -> AlertSettings:
    """Return settings: ops first, the on-call at 15 min, the lead at 45 min; repeats hourly."""
    names = ("ops", "ana", "bob", "lead")
    notifiers = tuple(NotifierSettings(name=n, urls=(webhook.url(f"/{n}"),)) for n in names)
    schedule = OnCallSchedule(name="primary", members=("ana", "bob"), rotation_seconds=7 * 86400,
                              start=start)  # fmt: skip
    chain = EscalationChain(name="critical", levels=(
        EscalationLevel(after_seconds=900, schedule="primary"),
        EscalationLevel(after_seconds=2700, notify=("lead",)),
    ))  # fmt: skip
    root = Route(
        notify=("ops",), group_by=("rule", "tool"), group_wait_seconds=0,
        group_interval_seconds=0, repeat_interval_seconds=3600, escalation="critical",
    )  # fmt: skip
    return AlertSettings(
        notifiers=notifiers, rules=(RULE,), policy=root, escalations={"critical": chain},
        schedules={"primary": schedule},
    )  # fmt: skip


def paths(webhook: Webhook) -> list[str]:
    """Return the paths the webhook received, in order."""
    return [path for path, _ in webhook.received]


def test_an_unacknowledged_alert_escalates_to_the_on_call_then_the_lead(
    store: Store, monitor: PerformanceMonitor, clock: FakeClock, webhook: Webhook
) -> None:
    """Level 2 (who is on call) after 15 min, level 3 after 45 min, each once."""
    engine = make_engine(escalating(webhook, start=clock.now()), store, monitor, clock)
    record(monitor, "openai", "error", 5)
    engine.evaluate()
    assert paths(webhook) == ["/ops"]
    clock.advance(899)
    engine.evaluate()
    assert paths(webhook) == ["/ops"]
    clock.advance(1)
    (status,) = engine.evaluate()
    assert paths(webhook) == ["/ops", "/ana"]
    assert webhook.bodies[1]["title"] == "[ESCALATED level 2] errors on openai (critical)"
    assert status.escalation_level == 2
    clock.advance(1800)
    engine.evaluate()
    assert paths(webhook) == ["/ops", "/ana", "/lead"]
    clock.advance(60)
    engine.evaluate()
    assert len(webhook.received) == 3


def test_acknowledging_stops_escalation_and_repeats_and_keeps_who_and_why(
    store: Store, monitor: PerformanceMonitor, clock: FakeClock, webhook: Webhook
) -> None:
    """An acknowledged alert neither escalates nor repeats; it shows who and why."""
    engine = make_engine(escalating(webhook, start=clock.now()), store, monitor, clock)
    record(monitor, "openai", "error", 5)
    engine.evaluate()
    clock.advance(600)
    status = engine.acknowledge("errors", "openai", by="ana", comment="rolling back the deploy")
    assert (status.acknowledged_by, status.ack_comment) == ("ana", "rolling back the deploy")
    assert status.acknowledged_at == clock.now()
    clock.advance(7200)
    (status,) = engine.evaluate()
    assert paths(webhook) == ["/ops"]
    assert (status.state, status.acknowledged_by, status.escalation_level) == ("firing", "ana", 1)
    acked = [e for e in engine.events() if e.kind == "acknowledged"]
    assert [e.detail for e in acked] == ["by ana: rolling back the deploy"]


def test_the_acknowledgement_ends_with_the_alert(
    store: Store, monitor: PerformanceMonitor, clock: FakeClock, webhook: Webhook
) -> None:
    """A resolved alert forgets its acknowledgement; firing again, it escalates again."""
    engine = make_engine(escalating(webhook, start=clock.now()), store, monitor, clock)
    record(monitor, "openai", "error", 5)
    engine.evaluate()
    engine.acknowledge("errors", "openai", by="ana", comment="looking")
    record(monitor, "openai", "success", 100)
    clock.advance(60)
    (status,) = engine.evaluate()
    assert (status.state, status.acknowledged_by) == ("inactive", None)
    with pytest.raises(ValueError, match="errors/openai is inactive, not firing"):
        engine.acknowledge("errors", "openai", by="ana", comment="again")
    with pytest.raises(KeyError, match="no alert of rule 'errors' on tool 'nope'"):
        engine.acknowledge("errors", "nope", by="ana", comment="x")
    with pytest.raises(ValueError, match="comment='' is required"):
        engine.acknowledge("errors", "openai", by="ana", comment="")


def test_escalating_by_hand_notifies_the_next_level_now(
    store: Store, monitor: PerformanceMonitor, clock: FakeClock, webhook: Webhook
) -> None:
    """escalate() reaches level 2 before its delay; past the last level it refuses."""
    engine = make_engine(escalating(webhook, start=clock.now()), store, monitor, clock)
    record(monitor, "openai", "error", 5)
    engine.evaluate()
    assert engine.escalate("errors", "openai", by="ana").escalation_level == 2
    assert engine.escalate("errors", "openai", by="ana").escalation_level == 3
    assert paths(webhook) == ["/ops", "/ana", "/lead"]
    with pytest.raises(ValueError, match="already reached the last level"):
        engine.escalate("errors", "openai", by="ana")
    clock.advance(3000)
    engine.evaluate()
    assert paths(webhook) == ["/ops", "/ana", "/lead"]


def test_the_schedule_rotates_and_an_override_takes_precedence() -> None:
    """Members take turns every rotation from start; an override covers its window."""
    schedule = OnCallSchedule(
        name="primary", members=("ana", "bob", "carl"), rotation_seconds=86400, start=T0,
        overrides=(Override(notifier="dora", start=T0 + timedelta(days=1, hours=2),
                            end=T0 + timedelta(days=1, hours=4)),),
    )  # fmt: skip
    assert schedule.on_call(T0) == "ana"
    assert schedule.on_call(T0 + timedelta(days=1)) == "bob"
    assert schedule.on_call(T0 + timedelta(days=1, hours=3)) == "dora"
    assert schedule.on_call(T0 + timedelta(days=3)) == "ana"
    assert schedule.on_call(T0 - timedelta(hours=1)) == "carl"
