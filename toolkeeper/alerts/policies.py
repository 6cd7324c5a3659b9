"""Notification policies: Alertmanager's routing tree and inhibition rules, over alert labels.

An alert's labels are ``rule``, ``tool``, ``severity``, ``metric``,
``environment`` (when the keeper has one) and the rule's own ``labels``.

:class:`Route` follows Alertmanager's ``route``: an alert enters at the root;
the first child whose ``matchers`` all hold takes it (depth first), and the
search goes on to the next sibling only when that child has ``continue``; when
no child takes it, the node itself does. A child inherits every setting it does
not write (``notify``, ``group_by``, the three intervals, mute and active time
intervals, ``escalation``) from its parent.

:class:`InhibitRule` follows ``inhibit_rules``: an alert matching
``target_matchers`` is muted while another alert that is firing matches
``source_matchers`` and carries the same values of every ``equal`` label. An
alert matching both sides is not muted by one that also matches both.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from toolkeeper.alerts.intervals import TimeInterval
from toolkeeper.alerts.matchers import Matcher, matches_all

__all__ = ["ALL_LABELS", "InhibitRule", "Route", "group_id", "group_key", "inhibitor_of"]

#: ``group_by = ["..."]``: group by every label (each distinct alert is its own group).
ALL_LABELS = "..."


@dataclass(frozen=True, slots=True, kw_only=True)
class Route:
    """A node of the routing tree, its inherited settings resolved; ``path`` names it ("0.1")."""

    path: str = "0"
    matchers: tuple[Matcher, ...] = ()
    notify: tuple[str, ...] = ()
    continue_: bool = False
    group_by: tuple[str, ...] = ()
    group_wait_seconds: float = 30.0
    group_interval_seconds: float = 300.0
    repeat_interval_seconds: float = 4 * 3600.0
    mute_time_intervals: tuple[str, ...] = ()
    active_time_intervals: tuple[str, ...] = ()
    escalation: str | None = None
    routes: tuple[Route, ...] = field(default=())

    def match(self, labels: Mapping[str, str]) -> list[Route]:
        """Return the routes that take an alert with ``labels``, as Alertmanager's ``Match``."""
        if not matches_all(self.matchers, labels):
            return []
        found: list[Route] = []
        for child in self.routes:
            taken = child.match(labels)
            found.extend(taken)
            if taken and not child.continue_:
                break
        return found or [self]

    def walk(self) -> list[Route]:
        """Return this route and every route under it, depth first."""
        found = [self]
        for child in self.routes:
            found.extend(child.walk())
        return found

    def muted_at(self, moment: datetime, intervals: Mapping[str, TimeInterval]) -> bool:
        """Return whether the route sends nothing at ``moment``: in a mute interval, or outside
        every active interval it names."""
        if any(intervals[name].contains(moment) for name in self.mute_time_intervals):
            return True
        active = self.active_time_intervals
        return bool(active) and not any(intervals[name].contains(moment) for name in active)

    def describe(self) -> str:
        """Return the route's matchers as written, or ``(root)`` / ``(any)``."""
        if self.path == "0":
            return "(root)"
        return ", ".join(str(m) for m in self.matchers) or "(any)"


def group_key(route: Route, labels: Mapping[str, str]) -> str:
    """Return the key of the group ``labels`` fall in under ``route``: its ``group_by`` values."""
    names = sorted(labels) if ALL_LABELS in route.group_by else sorted(route.group_by)
    return ",".join(f"{name}={labels.get(name, '')!r}" for name in names)


def group_id(route: Route, key: str) -> str:
    """Return a short stable id of the group ``key`` of ``route`` (stored as the group's key)."""
    return hashlib.sha256(f"{route.path}\0{key}".encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True, kw_only=True)
class InhibitRule:
    """Mute alerts matching ``target`` while a firing alert matching ``source`` shares ``equal``."""

    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...] = ()

    def inhibits(self, source: Mapping[str, str], target: Mapping[str, str]) -> bool:
        """Return whether the firing alert ``source`` mutes the alert ``target``."""
        if not matches_all(self.target, target):
            return False
        if not matches_all(self.source, source):
            return False
        if any(source.get(name, "") != target.get(name, "") for name in self.equal):
            return False
        # Alertmanager: an alert on both sides is not muted by another on both sides.
        return not (matches_all(self.source, target) and matches_all(self.target, source))


def inhibitor_of(
    name: str,
    target: Mapping[str, str],
    firing: Sequence[tuple[str, Mapping[str, str]]],
    rules: Sequence[InhibitRule],
) -> str | None:
    """Return the name of a firing alert that mutes the alert ``name``, or ``None``.

    ``firing`` pairs each firing alert's name (``rule/tool``) with its labels.
    """
    for rule in rules:
        for source, labels in firing:
            if source != name and rule.inhibits(labels, target):
                return source
    return None
