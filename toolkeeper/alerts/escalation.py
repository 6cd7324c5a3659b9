"""Escalation chains and on-call schedules: who hears of an alert nobody acknowledges.

::

    [alerts.schedules.primary]         # who is on call: members are notifier names
    members = ["ana", "bob"]           # take turns, each for `rotation`
    rotation = "1w"
    start = "2026-01-05T09:00:00+00:00"
    overrides = [{ notifier = "carl", start = "2026-02-01T00:00:00Z",
                   end = "2026-02-02T00:00:00Z" }]

    [alerts.escalations.critical]      # level 1 is the route's own notification
    levels = [
      { after = "15m", schedule = "primary" },     # level 2: whoever is on call
      { after = "45m", notify = ["lead"] },        # level 3
    ]

A firing alert of a route with ``escalation = "critical"`` reaches level ``n``
when it has been firing for level ``n``'s ``after`` and nobody acknowledged it;
each level is notified once. Acknowledging stops the chain; a resolution resets it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

__all__ = ["EscalationChain", "EscalationLevel", "OnCallSchedule", "Override", "due_level"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Override:
    """``notifier`` is on call instead of the rotation from ``start`` until ``end``."""

    notifier: str
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class OnCallSchedule:
    """A rotation of notifiers, each on call for ``rotation_seconds`` from ``start``; overrides."""

    name: str
    members: tuple[str, ...]
    rotation_seconds: float
    start: datetime
    overrides: tuple[Override, ...] = ()

    def __post_init__(self) -> None:
        if not self.members:
            raise ValueError(f"schedule {self.name!r}: members must name at least one notifier")
        if not (math.isfinite(self.rotation_seconds) and self.rotation_seconds > 0):
            raise ValueError(
                f"schedule {self.name!r}: rotation={self.rotation_seconds!r} must be > 0s"
            )
        if self.start.tzinfo is None:
            raise ValueError(f"schedule {self.name!r}: start must carry a time zone")
        for override in self.overrides:
            if not override.start < override.end:
                raise ValueError(
                    f"schedule {self.name!r}: override of {override.notifier!r} must start "
                    "before it ends"
                )

    def on_call(self, moment: datetime) -> str:
        """Return who is on call at ``moment``: the latest override covering it, else the turn."""
        covering = [o for o in self.overrides if o.start <= moment < o.end]
        if covering:
            return covering[-1].notifier
        turn = math.floor((moment - self.start).total_seconds() / self.rotation_seconds)
        return self.members[turn % len(self.members)]


@dataclass(frozen=True, slots=True, kw_only=True)
class EscalationLevel:
    """A level of a chain: after ``after_seconds`` of firing, tell ``notify`` and the on-call."""

    after_seconds: float
    notify: tuple[str, ...] = ()
    schedule: str | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.after_seconds) and self.after_seconds > 0):
            raise ValueError(f"escalation level after={self.after_seconds!r} must be > 0s")
        if not self.notify and self.schedule is None:
            raise ValueError("an escalation level must name notifiers (notify) or a schedule")


@dataclass(frozen=True, slots=True, kw_only=True)
class EscalationChain:
    """Levels 2, 3, … of an escalation, in order of ``after``."""

    name: str
    levels: tuple[EscalationLevel, ...]

    def __post_init__(self) -> None:
        if not self.levels:
            raise ValueError(f"escalation {self.name!r}: levels must list at least one level")
        afters = [level.after_seconds for level in self.levels]
        if afters != sorted(afters) or len(set(afters)) != len(afters):
            raise ValueError(
                f"escalation {self.name!r}: the levels' after={afters!r} must grow strictly"
            )

    def level(self, number: int) -> EscalationLevel:
        """Return level ``number`` (2 is the first written level)."""
        return self.levels[number - 2]


def due_level(
    chain: EscalationChain, fired_at: datetime, reached: int, now: datetime
) -> int | None:
    """Return the highest level above ``reached`` that is due at ``now``, or ``None``.

    Level 1 is the first notification; a chain of two written levels has levels 2 and 3.
    When several are due at once (an evaluator that was down), the highest is notified.
    """
    firing_for = (now - fired_at).total_seconds()
    due = None
    for number, level in enumerate(chain.levels, start=2):
        if number > reached and firing_for >= level.after_seconds:
            due = number
    return due
