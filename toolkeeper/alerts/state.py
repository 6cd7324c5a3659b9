"""The alert state machine, free of I/O: from a stored state and a new value, the next state.

Per (rule, tool)::

    inactive --condition true--> pending --held `for`--> firing
        ^                          |                       |
        +------condition false-----+-----------------------+  (a firing alert *resolves*)

With ``for = 0`` an alert fires as soon as its condition holds. A notice (a
notification to send) is due when an alert fires, when it resolves, and every
``repeat_every`` while it fires; a matching silence turns the notice into a
``silenced`` event, recorded once per silence.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from toolkeeper.alerts.records import AlertState, EventKind, Silence
from toolkeeper.alerts.rules import AlertRule

__all__ = ["Decision", "Notice", "decide"]

Notice = Literal["firing", "resolved"]


@dataclass(frozen=True, slots=True)
class Decision:
    """A transition to store: the new state, the events it records, the notice it claims.

    Whoever stores the decision (a compare-and-set on the state's version) sends
    the notice; an evaluator that loses the race sends nothing.
    """

    state: AlertState
    events: tuple[tuple[EventKind, str], ...]
    notice: Notice | None


def decide(
    rule: AlertRule,
    tool: str,
    current: AlertState | None,
    value: float | None,
    *,
    now: datetime,
    repeat_every_seconds: float,
    silence: Silence | None,
) -> Decision | None:
    """Return the transition ``value`` causes from ``current`` at ``now``, or ``None`` for none.

    ``silence`` is the silence matching the alert at ``now``, if any. A value
    change alone is no transition.
    """
    base = current or AlertState(
        rule=rule.name, tool=tool, state="inactive", since=now, value=value, evaluated_at=now
    )
    summary = rule.summary(value)
    events: list[tuple[EventKind, str]] = []
    notice: Notice | None = None
    new: AlertState | None = None
    if rule.holds(value):
        waited = (now - base.since).total_seconds()
        if base.state == "inactive" and rule.for_seconds > 0:
            new = replace(base, state="pending", since=now)
        elif base.state == "inactive" or (base.state == "pending" and waited >= rule.for_seconds):
            new = replace(
                base, state="firing", since=now, fired_at=now, resolved_at=None,
                last_notified_at=None, silenced_by=None,
            )  # fmt: skip
            events.append(("fired", summary))
            notice = "firing"
        elif base.state == "firing" and _repeat_due(base, now, repeat_every_seconds):
            new = base
            notice = "firing"
    elif base.state == "pending":
        new = replace(base, state="inactive", since=now)
    elif base.state == "firing":
        new = replace(base, state="inactive", since=now, resolved_at=now)
        events.append(("resolved", summary))
        notice = "resolved"
    if new is None:
        return None
    if notice is not None and silence is not None:
        if notice == "firing" and not events and base.silenced_by == silence.id:
            return None  # this silence already suppressed the repeats; nothing new to record
        events.append(("silenced", f"{notice} notification suppressed by silence {silence.id}"))
        new = replace(new, silenced_by=silence.id)
        notice = None
    elif notice is not None:
        new = replace(new, last_notified_at=now, silenced_by=None)
    new = replace(new, value=value, evaluated_at=now, version=base.version + 1)
    return Decision(new, tuple(events), notice)


def _repeat_due(state: AlertState, now: datetime, repeat_every_seconds: float) -> bool:
    last = state.last_notified_at
    return last is None or (now - last).total_seconds() >= repeat_every_seconds
