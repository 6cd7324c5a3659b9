"""The state machine alone: transitions, notices and silences decided without I/O."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from toolkeeper.alerts import AlertRule, AlertState, Silence
from toolkeeper.alerts.state import decide

T0 = datetime(2026, 1, 1, tzinfo=UTC)
RULE = AlertRule(name="r", metric="error_rate", op=">", threshold=0.2, for_seconds=60)


def at(seconds: float) -> datetime:
    """Return T0 plus ``seconds``."""
    return T0 + timedelta(seconds=seconds)


def silence(silence_id: int = 7) -> Silence:
    """Return a silence in force around T0."""
    return Silence(
        id=silence_id, rule="*", tool="*", starts_at=T0, ends_at=at(3600), created_by="ana",
        comment="x", expired=False, expired_by=None,
    )  # fmt: skip


def test_nothing_happens_while_the_condition_is_false() -> None:
    """An inactive alert whose condition is false needs no write."""
    assert decide(RULE, "t", None, 0.1, now=T0, repeat_every_seconds=60, silence=None) is None


def test_pending_then_firing_claims_one_notice() -> None:
    """The fired transition carries the event and the notice, and bumps the version."""
    pending = decide(RULE, "t", None, 0.5, now=T0, repeat_every_seconds=3600, silence=None)
    assert pending is not None
    assert (pending.state.state, pending.state.version, pending.notice) == ("pending", 1, None)
    early = decide(RULE, "t", pending.state, 0.5, now=at(59), repeat_every_seconds=3600,
                   silence=None)  # fmt: skip
    assert early is None
    fired = decide(RULE, "t", pending.state, 0.5, now=at(60), repeat_every_seconds=3600,
                   silence=None)  # fmt: skip
    assert fired is not None
    assert (fired.state.state, fired.state.version, fired.notice) == ("firing", 2, "firing")
    assert fired.events == (("fired", "error_rate 0.5 > 0.2 over 5m"),)
    assert fired.state.last_notified_at == at(60)


def test_a_silence_records_one_suppression_per_silence() -> None:
    """A due notice under a silence becomes a silenced event, once per silence id."""
    firing = AlertState(
        rule="r", tool="t", state="firing", since=T0, value=0.5, fired_at=T0, version=3,
        evaluated_at=T0,
    )  # fmt: skip
    first = decide(RULE, "t", firing, 0.5, now=at(10), repeat_every_seconds=3600,
                   silence=silence())  # fmt: skip
    assert first is not None
    assert first.notice is None
    assert first.events == (("silenced", "firing notification suppressed by silence 7"),)
    assert first.state.silenced_by == 7
    again = decide(RULE, "t", first.state, 0.5, now=at(20), repeat_every_seconds=3600,
                   silence=silence())  # fmt: skip
    assert again is None
    other = decide(RULE, "t", first.state, 0.5, now=at(30), repeat_every_seconds=3600,
                   silence=silence(8))  # fmt: skip
    assert other is not None
    assert other.state.silenced_by == 8
    lifted = decide(RULE, "t", other.state, 0.5, now=at(40), repeat_every_seconds=3600,
                    silence=None)  # fmt: skip
    assert lifted is not None
    assert (lifted.notice, lifted.state.silenced_by, lifted.state.last_notified_at) == (
        "firing", None, at(40),
    )  # fmt: skip


def test_resolution_keeps_when_it_fired() -> None:
    """A resolved alert is inactive since now, keeps fired_at and sets resolved_at."""
    firing = AlertState(
        rule="r", tool="t", state="firing", since=T0, value=0.5, fired_at=T0,
        last_notified_at=T0, version=2, evaluated_at=T0,
    )  # fmt: skip
    resolved = decide(RULE, "t", firing, None, now=at(90), repeat_every_seconds=3600,
                      silence=None)  # fmt: skip
    assert resolved is not None
    assert resolved.state == replace(
        firing, state="inactive", since=at(90), value=None, resolved_at=at(90),
        last_notified_at=at(90), version=3, evaluated_at=at(90),
    )  # fmt: skip
    assert resolved.notice == "resolved"
