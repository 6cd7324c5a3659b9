"""The records of alerting the store keeps: alert states, statuses, events, silences, groups.

All are frozen; times are timezone-aware UTC; ``to_dict()`` gives JSON-ready
data with ISO 8601 times. None of them ever holds a notifier URL.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Any, Literal

from toolkeeper._units import parse_duration

__all__ = [
    "EVENT_KINDS",
    "FIRING_STATES",
    "MAX_SILENCE_SECONDS",
    "STATES",
    "AlertEvent",
    "AlertState",
    "AlertStatus",
    "EventKind",
    "GroupState",
    "Silence",
    "StateName",
    "silence_seconds",
]

#: The longest silence: a year.
MAX_SILENCE_SECONDS = 366 * 86400.0


def silence_seconds(text: str, *, option: str = "duration") -> float:
    """Return the seconds a silence's duration (``30m``, ``2h``, ``1d``) stands for.

    The rule: longer than 0s, at most 366 days; a ``ValueError`` naming
    ``option``, the value and the rule otherwise. The CLI, the API and the page
    all read durations through it.
    """
    try:
        seconds = parse_duration(text).total_seconds()
    except (ValueError, OverflowError) as exc:
        reason = str(exc) if isinstance(exc, ValueError) else f"{text!r} is too long"
        raise ValueError(f"{option}: {reason}") from None
    if seconds <= 0:
        raise ValueError(f"{option} must be longer than 0s, got {text!r}")
    if seconds > MAX_SILENCE_SECONDS:
        raise ValueError(f"{option} must be at most 366d, got {text!r}")
    return seconds


StateName = Literal["inactive", "pending", "firing", "nodata", "error"]
EventKind = Literal[
    "fired", "resolved", "notified", "silenced", "notify_failed", "nodata", "error",
    "inhibited", "acknowledged", "escalated", "muted", "forwarded",
]  # fmt: skip
STATES: tuple[StateName, ...] = ("inactive", "pending", "firing", "nodata", "error")
#: The states that notify: a breached condition, missing data, a failed evaluation.
FIRING_STATES: frozenset[str] = frozenset({"firing", "nodata", "error"})
EVENT_KINDS: tuple[EventKind, ...] = (
    "fired", "resolved", "notified", "silenced", "notify_failed", "nodata", "error",
    "inhibited", "acknowledged", "escalated", "muted", "forwarded",
)  # fmt: skip


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    return value.isoformat() if isinstance(value, datetime) else value


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertState:
    """The stored state of one rule for one tool; ``version`` grows with every transition.

    ``silenced_by`` is the silence covering the alert, kept so a suppression is
    logged once per silence; ``inhibited_by`` the firing alert (``rule/tool``)
    muting it. ``escalation_level`` is the highest escalation level notified (1:
    the first notification); ``clear_since`` when a firing alert's condition
    turned false (it resolves after the rule's ``keep_firing_for``).
    ``last_notified_at`` is written by the notification groups, not by transitions.
    """

    rule: str
    tool: str
    state: StateName
    since: datetime
    value: float | None
    fired_at: datetime | None = None
    resolved_at: datetime | None = None
    last_notified_at: datetime | None = None
    silenced_by: int | None = None
    version: int = 0
    evaluated_at: datetime
    inhibited_by: str | None = None
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    ack_comment: str | None = None
    escalation_level: int = 1
    clear_since: datetime | None = None
    error: str | None = None

    @property
    def name(self) -> str:
        """Return the alert's name: ``rule/tool``."""
        return f"{self.rule}/{self.tool}"

    @property
    def is_firing(self) -> bool:
        """Return whether the alert is in a notifying state (firing, nodata or error)."""
        return self.state in FIRING_STATES


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertStatus:
    """What one rule says about one tool now, as shown by the CLI, the API and the pages.

    ``since`` is when the current state began; ``silenced_by`` the id of a
    silence matching the alert, ``inhibited_by`` the alert muting it (their
    notifications are not sent); ``acknowledged_by`` who acknowledged it (no
    repeats, no escalation); ``labels`` what the notification policies route on.
    """

    rule: str
    tool: str
    severity: str
    state: StateName
    value: float | None
    threshold: float
    op: str
    metric: str
    window: str
    since: datetime
    fired_at: datetime | None
    resolved_at: datetime | None
    last_notified_at: datetime | None
    silenced_by: int | None
    summary: str
    labels: dict[str, str]
    inhibited_by: str | None = None
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    ack_comment: str | None = None
    escalation_level: int = 1
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the status as JSON-ready data, times in ISO 8601."""
        data = {f.name: _plain(getattr(self, f.name)) for f in fields(self)}
        data["labels"] = dict(self.labels)
        return data


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertEvent:
    """One entry of the alert log: a transition or a notification's fate."""

    id: int
    at: datetime
    rule: str
    tool: str
    kind: EventKind
    detail: str

    def to_dict(self) -> dict[str, Any]:
        """Return the event as JSON-ready data, its time in ISO 8601."""
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True, slots=True, kw_only=True)
class Silence:
    """Suppress the notifications of alerts whose labels match until ``ends_at``.

    An alert matches when its rule and tool match the ``rule`` and ``tool``
    globs and its labels satisfy every one of ``matchers`` (Alertmanager's label
    matchers, such as ``severity="critical"``; none: the globs alone, as silences
    made before matchers existed). ``expired`` is true once it ended, or was
    expired by hand (``expired_by`` names who did it).
    """

    id: int
    rule: str
    tool: str
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    expired: bool
    expired_by: str | None
    matchers: tuple[str, ...] = ()

    def matches_globs(self, rule: str, tool: str) -> bool:
        """Return whether the rule and tool names match the globs (the matchers are the
        alerts' business: :func:`toolkeeper.alerts.silences.covers`)."""
        return fnmatchcase(rule, self.rule) and fnmatchcase(tool, self.tool)

    def active_at(self, moment: datetime) -> bool:
        """Return whether the silence is in force at ``moment``."""
        return self.expired_by is None and self.starts_at <= moment < self.ends_at

    def to_dict(self) -> dict[str, Any]:
        """Return the silence as JSON-ready data, times in ISO 8601."""
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupState:
    """The stored state of one group: when it opened and last notified, which alerts it listed.

    ``opened_at`` is ``None`` while the group is closed (no alert firing in it);
    ``notified`` names (``rule/tool``) the alerts the last notification listed as firing.
    """

    id: str
    route: str
    key: str
    opened_at: datetime | None = None
    flushed_at: datetime | None = None
    notified: tuple[str, ...] = ()
    version: int = 0
