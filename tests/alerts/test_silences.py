"""Silences: matching alerts still show, marked, but send nothing until the silence ends."""

from __future__ import annotations

import pytest

from toolkeeper import FakeClock
from toolkeeper.alerts import AlertRule, AlertSettings, NotifierSettings
from toolkeeper.alerts.engine import AlertEngine
from toolkeeper.monitor import PerformanceMonitor
from toolkeeper.store.sql import Store

from .conftest import Webhook, make_engine, record

RULE = AlertRule(name="openai-errors", metric="error_rate", op=">", threshold=0.2, window="1m")


@pytest.fixture
def engine(
    store: Store, monitor: PerformanceMonitor, clock: FakeClock, webhook: Webhook
) -> AlertEngine:
    """Return an engine with one error-rate rule notifying the local webhook."""
    notifier = NotifierSettings(name="ops", urls=(webhook.url(),))
    return make_engine(AlertSettings(notifiers=(notifier,), rules=(RULE,)), store, monitor, clock)


def test_a_matching_silence_suppresses_notifications_but_not_the_alert(
    engine: AlertEngine, monitor: PerformanceMonitor, clock: FakeClock, webhook: Webhook
) -> None:
    """The alert fires and shows silenced_by; nothing is sent; a silenced event says why."""
    silence = engine.silence(
        rule="openai-*", tool="open*", duration_s=3600, created_by="ana", comment="upgrade"
    )
    record(monitor, "openai", "error", 5)
    (status,) = engine.evaluate()
    assert (status.state, status.silenced_by) == ("firing", silence.id)
    assert engine.statuses()[0].silenced_by == silence.id
    assert webhook.bodies == []
    events = engine.events()
    assert [event.kind for event in events] == ["silenced", "fired"]
    assert events[0].detail == f"firing notification suppressed by silence {silence.id}"
    clock.advance(30)
    engine.evaluate()
    assert len(engine.events()) == 2  # the repeat is not logged again under the same silence


def test_expiring_a_silence_lets_the_pending_notification_out(
    engine: AlertEngine, monitor: PerformanceMonitor, clock: FakeClock, webhook: Webhook
) -> None:
    """Once the silence is expired by hand, a still-firing alert is notified at the next pass."""
    silence = engine.silence(duration_s=3600, created_by="ana", comment="maintenance")
    record(monitor, "openai", "error", 5)
    engine.evaluate()
    expired = engine.expire_silence(silence.id, by="bob")
    assert (expired.expired, expired.expired_by, expired.ends_at) == (True, "bob", clock.now())
    (status,) = engine.evaluate()
    assert status.silenced_by is None
    assert [body["title"] for body in webhook.bodies] == [
        "[FIRING] openai-errors on openai (warning)"
    ]
    assert engine.expire_silence(silence.id, by="carol").expired_by == "bob"


def test_a_resolution_under_a_silence_is_not_sent(
    engine: AlertEngine, monitor: PerformanceMonitor, clock: FakeClock, webhook: Webhook
) -> None:
    """A silence created while an alert fires also suppresses its resolution."""
    record(monitor, "openai", "error", 5)
    engine.evaluate()
    engine.silence(tool="openai", duration_s=600, created_by="ana", comment="known issue")
    clock.advance(120)
    record(monitor, "openai", "success", 5)
    (status,) = engine.evaluate()
    assert status.state == "inactive"
    assert len(webhook.bodies) == 1
    assert [event.kind for event in engine.events()][:2] == ["silenced", "resolved"]


def test_a_silence_that_does_not_match_changes_nothing(
    engine: AlertEngine, monitor: PerformanceMonitor, webhook: Webhook
) -> None:
    """Globs are matched against the rule's name and the tool's name."""
    engine.silence(rule="other-*", duration_s=600, created_by="ana", comment="elsewhere")
    engine.silence(tool="anthropic", duration_s=600, created_by="ana", comment="elsewhere")
    record(monitor, "openai", "error", 5)
    (status,) = engine.evaluate()
    assert status.silenced_by is None
    assert len(webhook.bodies) == 1


def test_silences_end_on_time_and_are_listed_newest_first(
    engine: AlertEngine, clock: FakeClock
) -> None:
    """An ended silence leaves the default listing and shows as expired when asked for."""
    short = engine.silence(duration_s=60, created_by="ana", comment="short")
    long = engine.silence(rule="openai-errors", duration_s=3600, created_by="bob", comment="long")
    assert [s.id for s in engine.silences()] == [long.id, short.id]
    assert short.to_dict() == {
        "id": short.id, "rule": "*", "tool": "*", "starts_at": clock.now().isoformat(),
        "ends_at": short.ends_at.isoformat(), "created_by": "ana", "comment": "short",
        "expired": False, "expired_by": None, "matchers": [],
    }  # fmt: skip
    clock.advance(60)
    assert [s.id for s in engine.silences()] == [long.id]
    listed = engine.silences(include_expired=True)
    assert [(s.id, s.expired, s.expired_by) for s in listed] == [
        (long.id, False, None), (short.id, True, None),
    ]  # fmt: skip


def test_bad_silence_arguments_raise_errors_naming_them(engine: AlertEngine) -> None:
    """Duration, comment and author are checked; an unknown id is a KeyError naming it."""
    with pytest.raises(ValueError, match=r"duration_s=0 must be a number of seconds > 0"):
        engine.silence(duration_s=0, created_by="ana", comment="x")
    with pytest.raises(ValueError, match=r"comment='  ' is required"):
        engine.silence(duration_s=60, created_by="ana", comment="  ")
    with pytest.raises(ValueError, match=r"created_by='' must be who silences"):
        engine.silence(duration_s=60, created_by="", comment="x")
    with pytest.raises(ValueError, match=r"rule='' must be a rule name or a glob"):
        engine.silence(rule="", duration_s=60, created_by="ana", comment="x")
    with pytest.raises(KeyError, match=r"no silence with id 4242"):
        engine.expire_silence(4242, by="ana")
    assert engine.silences(include_expired=True) == []


def test_a_silence_by_label_matchers_quiets_only_the_alerts_whose_labels_match(
    store: Store, monitor: PerformanceMonitor, clock: FakeClock, webhook: Webhook
) -> None:
    """severity="critical" and team=~"pay.*" silence that alert; the warning one still notifies."""
    critical = AlertRule(name="errors-critical", metric="error_rate", op=">", threshold=0.2,
                         severity="critical", labels={"team": "payments"})  # fmt: skip
    warning = AlertRule(name="errors-warning", metric="error_rate", op=">", threshold=0.1,
                        labels={"team": "payments"})  # fmt: skip
    notifier = NotifierSettings(name="ops", urls=(webhook.url(),))
    settings = AlertSettings(notifiers=(notifier,), rules=(critical, warning))
    engine = make_engine(settings, store, monitor, clock)
    silence = engine.silence(
        matchers=['severity = "critical"', 'team=~"pay.*"'], duration_s=600, created_by="ana",
        comment="payments maintenance",
    )  # fmt: skip
    assert silence.matchers == ('severity="critical"', 'team=~"pay.*"')
    assert (silence.rule, silence.tool) == ("*", "*")
    record(monitor, "openai", "error", 5)
    statuses = {status.rule: status for status in engine.evaluate()}
    assert statuses["errors-critical"].silenced_by == silence.id
    assert statuses["errors-warning"].silenced_by is None
    assert [body["title"] for body in webhook.bodies] == [
        "[FIRING] errors-warning on openai (warning)"
    ]
    (listed,) = engine.silences()
    assert listed.to_dict()["matchers"] == ['severity="critical"', 'team=~"pay.*"']


def test_globs_and_matchers_must_all_hold(
    engine: AlertEngine, monitor: PerformanceMonitor, webhook: Webhook
) -> None:
    """A silence whose globs match but one matcher does not leaves the alert notifying."""
    engine.silence(tool="open*", matchers=['severity="critical"'], duration_s=600,
                   created_by="ana", comment="only critical")  # fmt: skip
    record(monitor, "openai", "error", 5)
    (status,) = engine.evaluate()
    assert status.silenced_by is None  # the rule's severity is warning
    assert len(webhook.bodies) == 1


@pytest.mark.parametrize(
    ("matchers", "refused"),
    [
        (["severity"], 'must read name="value"'),
        (['tool=~"(open"'], "not a regular expression"),
        ('severity="critical"', "must be a list of at most 20 label matchers"),
        (['a="b"'] * 21, "must be a list of at most 20 label matchers"),
    ],
)
def test_bad_matchers_are_refused_naming_them(
    engine: AlertEngine, matchers: object, refused: str
) -> None:
    """A malformed matcher, a broken regex, a bare text or too many: ValueError, nothing stored."""
    with pytest.raises(ValueError, match=r"^matchers") as caught:
        engine.silence(matchers=matchers, duration_s=60, created_by="ana", comment="x")  # type: ignore[arg-type]
    assert refused in str(caught.value)
    assert engine.silences(include_expired=True) == []
