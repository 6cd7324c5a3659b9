"""The state machine alone: transitions, no-data and error states, silences and escalation."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from toolkeeper.alerts import AlertRule, AlertState, Silence
from toolkeeper.alerts.escalation import EscalationChain, EscalationLevel
from toolkeeper.alerts.metrics import Reading
from toolkeeper.alerts.state import decide

T0 = datetime(2026, 1, 1, tzinfo=UTC)
RULE = AlertRule(name="r", metric="error_rate", op=">", threshold=0.2, for_seconds=60)


def at(seconds: float) -> datetime:
    """Return T0 plus ``seconds``."""
    return T0 + timedelta(seconds=seconds)


def value(number: float | None, rule: AlertRule = RULE) -> Reading:
    """Return the reading ``rule`` makes of ``number``."""
    return Reading(None if number is None else rule.holds(number), number)


def firing(**changes: object) -> AlertState:
    """Return a firing alert of RULE that fired at T0."""
    state = AlertState(
        rule="r", tool="t", state="firing", since=T0, value=0.5, fired_at=T0, version=3,
        evaluated_at=T0,
    )  # fmt: skip
    return replace(state, **changes)  # type: ignore[arg-type]


def silence(silence_id: int = 7) -> Silence:
    """Return a silence in force around T0."""
    return Silence(
        id=silence_id, rule="*", tool="*", starts_at=T0, ends_at=at(3600), created_by="ana",
        comment="x", expired=False, expired_by=None,
    )  # fmt: skip


def test_nothing_happens_while_the_condition_is_false() -> None:
    """An inactive alert whose condition is false needs no write."""
    assert decide(RULE, "t", None, value(0.1), now=T0) is None


def test_pending_then_firing_records_fired_once() -> None:
    """The fired transition carries the event and bumps the version; waiting changes nothing."""
    pending = decide(RULE, "t", None, value(0.5), now=T0)
    assert pending is not None
    assert (pending.state.state, pending.state.version, pending.events) == ("pending", 1, ())
    assert decide(RULE, "t", pending.state, value(0.5), now=at(59)) is None
    fired = decide(RULE, "t", pending.state, value(0.5), now=at(60))
    assert fired is not None
    assert (fired.state.state, fired.state.version, fired.state.fired_at) == ("firing", 2, at(60))
    assert fired.events == (("fired", "error_rate 0.5 > 0.2 over 5m"),)
    assert decide(RULE, "t", fired.state, value(0.5), now=at(61)) is None


def test_a_silence_is_recorded_once_per_silence() -> None:
    """A firing alert under a silence records one silenced event per silence id."""
    first = decide(RULE, "t", firing(), value(0.5), now=at(10), silence=silence())
    assert first is not None
    assert first.events == (("silenced", "firing notification suppressed by silence 7"),)
    assert first.state.silenced_by == 7
    assert decide(RULE, "t", first.state, value(0.5), now=at(20), silence=silence()) is None
    other = decide(RULE, "t", first.state, value(0.5), now=at(30), silence=silence(8))
    assert other is not None
    assert other.state.silenced_by == 8
    lifted = decide(RULE, "t", other.state, value(0.5), now=at(40))
    assert lifted is not None
    assert (lifted.events, lifted.state.silenced_by) == ((), None)


def test_an_inhibition_is_recorded_with_its_source() -> None:
    """An inhibited firing alert names the alert muting it, once."""
    muted = decide(RULE, "t", firing(), value(0.5), now=at(10), inhibited_by="circuit-open/t")
    assert muted is not None
    assert muted.state.inhibited_by == "circuit-open/t"
    assert muted.events == (("inhibited", "notifications muted while circuit-open/t fires"),)
    again = decide(RULE, "t", muted.state, value(0.5), now=at(20), inhibited_by="circuit-open/t")
    assert again is None


def test_resolution_keeps_when_it_fired_and_clears_the_acknowledgement() -> None:
    """A resolved alert is inactive since now, keeps fired_at, and forgets ack and level."""
    acked = firing(acknowledged_by="ana", acknowledged_at=T0, ack_comment="on it",
                   escalation_level=2)  # fmt: skip
    resolved = decide(RULE, "t", acked, value(0.1), now=at(90))
    assert resolved is not None
    assert resolved.state == replace(
        acked, state="inactive", since=at(90), value=0.1, resolved_at=at(90), version=4,
        evaluated_at=at(90), acknowledged_by=None, acknowledged_at=None, ack_comment=None,
        escalation_level=1,
    )  # fmt: skip
    assert resolved.events == (("resolved", "error_rate 0.1, not > 0.2 over 5m"),)


def test_no_data_is_ok_by_default_and_resolves() -> None:
    """Without a no_data choice, a metric without value makes the condition false."""
    resolved = decide(RULE, "t", firing(), value(None), now=at(10))
    assert resolved is not None
    assert resolved.state.state == "inactive"


def test_no_data_can_be_its_own_state_that_notifies() -> None:
    """no_data = 'nodata' moves an inactive alert (for = 0) to NoData, recording it."""
    rule = replace(RULE, no_data="nodata", for_seconds=0)
    quiet = decide(rule, "t", None, value(None, rule), now=T0)
    assert quiet is not None
    assert (quiet.state.state, quiet.state.fired_at) == ("nodata", T0)
    assert quiet.events == (("nodata", "error_rate has no value over 5m (needs 5 calls)"),)
    assert quiet.state.is_firing
    back = decide(rule, "t", quiet.state, value(0.5, rule), now=at(30))
    assert back is not None
    assert back.state.state == "firing"


def test_no_data_waits_the_pending_period_first() -> None:
    """As in Grafana, NoData goes inactive -> pending -> nodata, after `for`, with one event."""
    rule = replace(RULE, no_data="nodata")
    pending = decide(rule, "t", None, value(None, rule), now=T0)
    assert pending is not None
    assert (pending.state.state, pending.state.since, pending.events) == ("pending", T0, ())
    assert not pending.state.is_firing
    assert decide(rule, "t", pending.state, value(None, rule), now=at(59)) is None
    quiet = decide(rule, "t", pending.state, value(None, rule), now=at(60))
    assert quiet is not None
    assert (quiet.state.state, quiet.state.fired_at) == ("nodata", at(60))
    assert quiet.events == (("nodata", "error_rate has no value over 5m (needs 5 calls)"),)


def test_data_coming_back_during_the_pending_period_ends_it() -> None:
    """A pending NoData alert whose data returns with a false condition goes back to inactive."""
    rule = replace(RULE, no_data="nodata")
    pending = decide(rule, "t", None, value(None, rule), now=T0)
    assert pending is not None
    back = decide(rule, "t", pending.state, value(0.1, rule), now=at(30))
    assert back is not None
    assert (back.state.state, back.events) == ("inactive", ())


def test_a_pending_alert_takes_the_state_of_the_reading_that_ends_its_wait() -> None:
    """Pending since a true condition, an alert without data when `for` ends goes to NoData."""
    rule = replace(RULE, no_data="nodata")
    pending = decide(rule, "t", None, value(0.5, rule), now=T0)
    assert pending is not None
    assert decide(rule, "t", pending.state, value(None, rule), now=at(30)) is None
    quiet = decide(rule, "t", pending.state, value(None, rule), now=at(60))
    assert quiet is not None
    assert quiet.state.state == "nodata"


def test_an_error_waits_the_pending_period_first() -> None:
    """As in Grafana, Error goes inactive -> pending -> error after `for`, keeping the message."""
    failing = Reading(None, None, "division by zero")
    pending = decide(RULE, "t", None, failing, now=T0)
    assert pending is not None
    assert (pending.state.state, pending.state.error, pending.events) == ("pending", None, ())
    assert decide(RULE, "t", pending.state, failing, now=at(59)) is None
    failed = decide(RULE, "t", pending.state, failing, now=at(60))
    assert failed is not None
    assert (failed.state.state, failed.state.error) == ("error", "division by zero")
    assert failed.events == (("error", "division by zero"),)


def test_a_firing_alert_moves_to_nodata_at_once() -> None:
    """An alert already notifying does not wait `for` again to show that its data stopped."""
    rule = replace(RULE, no_data="nodata")
    quiet = decide(rule, "t", firing(), value(None, rule), now=at(10))
    assert quiet is not None
    assert (quiet.state.state, quiet.state.fired_at) == ("nodata", T0)


def test_keep_last_changes_nothing_without_data() -> None:
    """no_data = 'keep_last' leaves a firing alert firing."""
    rule = replace(RULE, no_data="keep_last")
    assert decide(rule, "t", firing(), value(None, rule), now=at(10)) is None


def test_an_evaluation_error_is_the_error_state_with_its_message() -> None:
    """A failed evaluation (for = 0) records the Error state and keeps the message."""
    rule = replace(RULE, for_seconds=0)
    failed = decide(rule, "t", None, Reading(None, None, "division by zero"), now=T0)
    assert failed is not None
    assert (failed.state.state, failed.state.error) == ("error", "division by zero")
    assert failed.events == (("error", "division by zero"),)


def test_keep_firing_for_holds_a_cleared_alert_before_resolving() -> None:
    """A cleared condition resolves only after keep_firing_for has passed since it cleared."""
    rule = replace(RULE, keep_firing_for_seconds=120)
    cleared = decide(rule, "t", firing(), value(0.1, rule), now=at(10))
    assert cleared is not None
    assert (cleared.state.state, cleared.state.clear_since, cleared.events) == (
        "firing", at(10), (),
    )  # fmt: skip
    assert decide(rule, "t", cleared.state, value(0.1, rule), now=at(129)) is None
    resolved = decide(rule, "t", cleared.state, value(0.1, rule), now=at(130))
    assert resolved is not None
    assert resolved.state.state == "inactive"


def test_an_unacknowledged_alert_escalates_once_per_level() -> None:
    """Level 2 is claimed after its delay, once; an acknowledged alert never escalates."""
    chain = EscalationChain(name="c", levels=(EscalationLevel(after_seconds=600, notify=("b",)),))
    assert decide(RULE, "t", firing(), value(0.5), now=at(599), escalation=chain) is None
    escalated = decide(RULE, "t", firing(), value(0.5), now=at(600), escalation=chain)
    assert escalated is not None
    assert (escalated.notice, escalated.state.escalation_level) == ("escalated", 2)
    assert escalated.events == (("escalated", "level 2 of escalation 'c'"),)
    assert decide(RULE, "t", escalated.state, value(0.5), now=at(900), escalation=chain) is None
    acked = firing(acknowledged_by="ana")
    assert decide(RULE, "t", acked, value(0.5), now=at(900), escalation=chain) is None
