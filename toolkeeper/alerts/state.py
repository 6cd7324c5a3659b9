"""The alert state machine, free of I/O: from a stored state and a new reading, the next state.

Per (rule, tool)::

    inactive --condition true--> pending --held `for`--> firing
        ^                          |                       |
        +------condition false-----+-----------------------+  (after keep_firing_for: *resolves*)

    no data, rule no_data = "nodata"    -> (pending for `for`) -> nodata   (notifies like firing)
    evaluation failed, on_error = "error" -> (pending for `for`) -> error  (notifies like firing)

With ``for = 0`` an alert fires as soon as its condition holds. As in Grafana,
NoData and Error honour the pending period from inactive (inactive -> pending
-> nodata/error: a pending alert takes the state of the reading that ends its
wait); an alert already notifying moves between firing, nodata and error at once. Transitions
record events (``fired``, ``nodata``, ``error``, ``resolved``); notifications
are the groups' business (:mod:`toolkeeper.alerts.grouping`), except
escalations, which this machine claims: a firing alert nobody acknowledged
reaches the next level of its chain when that level's delay has passed. A
matching silence or an inhibiting alert is recorded once, as ``silenced`` or
``inhibited``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from toolkeeper.alerts.escalation import EscalationChain, due_level
from toolkeeper.alerts.metrics import Reading
from toolkeeper.alerts.rules import AlertRule
from toolkeeper.store.alert_records import FIRING_STATES, AlertState, EventKind, Silence, StateName

__all__ = ["Decision", "Notice", "decide"]

Notice = Literal["escalated"]


@dataclass(frozen=True, slots=True)
class Decision:
    """A transition to store: the new state, the events it records, the notice it claims.

    Whoever stores the decision (a compare-and-set on the state's version) sends
    the notice (an escalation); an evaluator that loses the race sends nothing.
    """

    state: AlertState
    events: tuple[tuple[EventKind, str], ...]
    notice: Notice | None = None


def decide(
    rule: AlertRule,
    tool: str,
    current: AlertState | None,
    reading: Reading,
    *,
    now: datetime,
    silence: Silence | None = None,
    inhibited_by: str | None = None,
    escalation: EscalationChain | None = None,
) -> Decision | None:
    """Return the transition ``reading`` causes from ``current`` at ``now``, or ``None`` for none.

    ``silence`` is the silence matching the alert at ``now``, ``inhibited_by``
    the firing alert muting it, ``escalation`` the chain of its route. A value
    change alone is no transition.
    """
    base = current or AlertState(
        rule=rule.name, tool=tool, state="inactive", since=now, value=reading.value,
        evaluated_at=now,
    )  # fmt: skip
    events: list[tuple[EventKind, str]] = []
    new = _transition(rule, base, reading, now, events)
    state = new or base
    # Silences and inhibitions are recorded once each, while the alert notifies.
    marks = _marks(state, silence, inhibited_by, events)
    if marks is not None:
        state = new = marks
    notice: Notice | None = None
    if (
        escalation is not None
        and state.is_firing
        and state.acknowledged_by is None
        and state.silenced_by is None
        and state.inhibited_by is None
        and state.fired_at is not None
    ):
        level = due_level(escalation, state.fired_at, state.escalation_level, now)
        if level is not None:
            new = replace(state, escalation_level=level)
            events.append(("escalated", f"level {level} of escalation {escalation.name!r}"))
            notice = "escalated"
    if new is None:
        return None
    error = reading.error if new.state == "error" else None
    new = replace(new, value=reading.value, evaluated_at=now, version=base.version + 1, error=error)
    return Decision(new, tuple(events), notice)


_KEEP = "keep"


def _judged(rule: AlertRule, reading: Reading) -> tuple[bool | None, str | None]:
    """Return (holds, target state) for ``reading`` under the rule's no-data and error choices.

    ``holds`` is ``None`` with a target (``nodata``, ``error``); the target is
    ``"keep"`` when nothing may change (``keep_last``).
    """
    if reading.error is not None:
        choice = rule.on_error
    elif reading.holds is None:
        choice = rule.no_data
    else:
        return reading.holds, None
    if choice == "keep_last":
        return None, _KEEP
    if choice in ("alerting", "ok"):
        return choice == "alerting", None
    return None, choice  # "error" or "nodata": the state of that name


def _transition(  # noqa: PLR0911 - one return per transition
    rule: AlertRule,
    base: AlertState,
    reading: Reading,
    now: datetime,
    events: list[tuple[EventKind, str]],
) -> AlertState | None:
    """Return the state ``reading`` moves ``base`` to (with its events), or ``None``."""
    holds, target = _judged(rule, reading)
    summary = rule.summary(reading.value)
    if target is not None:
        if target in (_KEEP, base.state):
            return None
        # Grafana's semantics: from Normal, NoData and Error wait the pending period too.
        if base.state == "inactive" and rule.for_seconds > 0:
            return replace(base, state="pending", since=now)
        if base.state == "pending" and (now - base.since).total_seconds() < rule.for_seconds:
            return None
        kind: StateName = "error" if target == "error" else "nodata"
        detail = reading.error if kind == "error" and reading.error else summary
        events.append(("error" if kind == "error" else "nodata", detail))
        fired_at = base.fired_at if base.is_firing else now
        return replace(base, state=kind, since=now, fired_at=fired_at, resolved_at=None,
                       clear_since=None)  # fmt: skip
    if holds:
        return _holding(rule, base, now, summary, events)
    if base.state == "pending":
        return replace(base, state="inactive", since=now)
    if base.state not in FIRING_STATES:
        return None
    if base.state == "firing" and rule.keep_firing_for_seconds > 0:
        if base.clear_since is None:
            return replace(base, clear_since=now)
        if (now - base.clear_since).total_seconds() < rule.keep_firing_for_seconds:
            return None
    events.append(("resolved", summary))
    return replace(
        base, state="inactive", since=now, resolved_at=now, clear_since=None,
        acknowledged_by=None, acknowledged_at=None, ack_comment=None, escalation_level=1,
        silenced_by=None, inhibited_by=None,
    )  # fmt: skip


def _holding(
    rule: AlertRule,
    base: AlertState,
    now: datetime,
    summary: str,
    events: list[tuple[EventKind, str]],
) -> AlertState | None:
    """Return where a true condition moves ``base``: pending, firing, or still firing."""
    if base.state == "inactive" and rule.for_seconds > 0:
        return replace(base, state="pending", since=now)
    waited = (now - base.since).total_seconds() >= rule.for_seconds
    if base.state in ("inactive", "nodata", "error") or (base.state == "pending" and waited):
        return _fire(base, now, summary, events)
    if base.state == "firing" and base.clear_since is not None:
        return replace(base, clear_since=None)
    return None


def _fire(
    base: AlertState, now: datetime, summary: str, events: list[tuple[EventKind, str]]
) -> AlertState:
    events.append(("fired", summary))
    fired_at = base.fired_at if base.is_firing and base.fired_at is not None else now
    return replace(
        base, state="firing", since=now, fired_at=fired_at, resolved_at=None, clear_since=None,
    )  # fmt: skip


def _marks(
    state: AlertState,
    silence: Silence | None,
    inhibited_by: str | None,
    events: list[tuple[EventKind, str]],
) -> AlertState | None:
    """Return ``state`` with its silence and inhibition up to date, or ``None`` if they are."""
    silenced_by = silence.id if silence is not None and state.is_firing else None
    inhibitor = inhibited_by if state.is_firing else None
    if (silenced_by, inhibitor) == (state.silenced_by, state.inhibited_by):
        return None
    if silenced_by is not None and silenced_by != state.silenced_by:
        events.append(("silenced", f"firing notification suppressed by silence {silenced_by}"))
    if inhibitor is not None and inhibitor != state.inhibited_by:
        events.append(("inhibited", f"notifications muted while {inhibitor} fires"))
    return replace(state, silenced_by=silenced_by, inhibited_by=inhibitor)
