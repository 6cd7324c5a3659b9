"""Send what a pass decided: grouped notifications along the routes, and escalations.

:class:`Dispatch` serves one evaluation pass. Given every alert's state and
labels, it puts the notifying alerts (not silenced, not inhibited) into the
groups of the routes that take them, asks :func:`~toolkeeper.alerts.grouping.decide_flush`
what each group does now, stores that with a compare-and-set on the group's
version and, when it won and the route is not muted, renders and sends the
notification. Failed deliveries are events, never exceptions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from toolkeeper.alerts.escalation import EscalationChain
from toolkeeper.alerts.grouping import decide_flush
from toolkeeper.alerts.notifiers import Delivery, Notifier, NotifyLevel
from toolkeeper.alerts.policies import Route, group_id, group_key
from toolkeeper.alerts.settings import AlertSettings
from toolkeeper.alerts.templates import AlertView, Rendered, render
from toolkeeper.store.alert_records import AlertState, GroupState
from toolkeeper.store.alerts import AlertTable, NewEvent

__all__ = ["Dispatch", "Member", "delivery_events"]

log = logging.getLogger("toolkeeper.alerts")

_LEVELS: dict[str, NotifyLevel] = {"critical": "failure", "warning": "warning", "info": "info"}


@dataclass(frozen=True, slots=True)
class Member:
    """An alert as the dispatcher sees it: its state, its labels, how to show it, the silence
    covering it now (a resolution under a silence is not sent)."""

    state: AlertState
    labels: Mapping[str, str]
    view: Callable[[AlertState], AlertView]
    silence: int | None = None


class Dispatch:
    """Flush the notification groups of one pass and send escalations."""

    def __init__(
        self,
        settings: AlertSettings,
        table: AlertTable,
        notifiers: Mapping[str, Notifier],
        *,
        now: datetime,
    ) -> None:
        self.settings = settings
        self.table = table
        self.notifiers = notifiers
        self.now = now

    def flush_groups(self, root: Route, members: dict[str, Member]) -> set[str]:
        """Notify every group that is due; ``members`` holds every stored alert by name.

        Returns the names of the firing alerts a notification listed.
        """
        listed: set[str] = set()
        routes = {route.path: route for route in root.walk()}
        active: dict[str, dict[str, bool]] = {}
        keys: dict[str, tuple[Route, str]] = {}
        for name, member in members.items():
            state = member.state
            if not state.is_firing or state.silenced_by is not None or state.inhibited_by:
                continue
            for route in root.match(member.labels):
                key = group_key(route, member.labels)
                gid = group_id(route, key)
                keys[gid] = (route, key)
                active.setdefault(gid, {})[name] = state.acknowledged_by is not None
        hushed = {
            name: m.silence
            for name, m in members.items()
            if not m.state.is_firing and m.silence is not None
        }
        resolved = frozenset(
            name for name, m in members.items() if not m.state.is_firing and name not in hushed
        )
        stored = {group.id: group for group in self.table.groups()}
        for gid in sorted(set(stored) | set(active)):
            current = stored.get(gid)
            if gid in keys:
                route, key = keys[gid]
            elif current is not None and current.route in routes:
                route, key = routes[current.route], current.key
            else:
                continue  # a route that left the policy: its group is forgotten
            if current is None:
                current = GroupState(id=gid, route=route.path, key=key)
            gone = resolved | frozenset(n for n in current.notified if n not in members)
            flush = decide_flush(route, current, active=active.get(gid, {}), resolved=gone,
                                 now=self.now)  # fmt: skip
            if flush is None:
                continue
            send = flush.send
            events: list[NewEvent] = [
                NewEvent(*_split(name), "silenced",
                         f"resolved notification suppressed by silence {hushed[name]}")
                for name in current.notified
                if name in hushed
            ]  # fmt: skip
            if send and route.muted_at(self.now, self.settings.time_intervals):
                send = False
                events.extend(
                    NewEvent(*_split(name), "muted", f"route {route.describe()} is muted now")
                    for name in flush.firing + flush.resolved
                )
            notified = [_split(name) for name in flush.firing] if send else []
            won = self.table.apply_group(flush.state, expected_version=current.version,
                                         notified=notified, events=events, at=self.now)  # fmt: skip
            if not won or not send:
                continue
            listed.update(flush.firing)
            firing = [members[n].view(members[n].state) for n in flush.firing if n in members]
            ended = [members[n].view(members[n].state) for n in flush.resolved if n in members]
            if not firing and not ended:
                continue
            rendered = render(firing, ended)
            level: NotifyLevel = _LEVELS.get(firing[0].severity, "warning") if firing else "success"
            notice = "firing" if firing else "resolved"
            names = list(flush.firing + flush.resolved)
            self._send(route.notify, rendered, level, notice, names, firing, ended)
        return listed

    def escalate(self, member: Member, chain: EscalationChain, level: int) -> list[str]:
        """Send level ``level`` of ``chain`` for ``member``; return the notifiers told."""
        step = chain.level(level)
        targets = list(step.notify)
        if step.schedule is not None:
            on_call = self.settings.schedules[step.schedule].on_call(self.now)
            if on_call not in targets:
                targets.append(on_call)
        view = member.view(member.state)
        rendered = render([view], [], heading=f"ESCALATED level {level}")
        self._send(tuple(targets), rendered, _LEVELS.get(view.severity, "warning"),
                   f"escalation level {level}", [member.state.name], [view], [])  # fmt: skip
        return targets

    def _send(  # noqa: PLR0917 - one notification's parts, in the order they are built
        self,
        targets: tuple[str, ...] | list[str],
        rendered: Rendered,
        level: NotifyLevel,
        notice: str,
        names: list[str],
        firing: list[AlertView],
        resolved: list[AlertView],
    ) -> None:
        payload = {
            "title": rendered.title, "text": rendered.text, "html": rendered.html,
            "level": level, "notice": notice,
            "firing": [_view_dict(view) for view in firing],
            "resolved": [_view_dict(view) for view in resolved],
        }  # fmt: skip
        events: list[NewEvent] = []
        for target in targets:
            notifier = self.notifiers.get(target)
            if notifier is None:
                continue
            delivery = notifier.send(
                title=rendered.title,
                body=rendered.text,
                level=level,
                payload=payload,
                timestamp=int(self.now.timestamp()),
            )
            for name in names:
                events.extend(delivery_events(*_split(name), notice, delivery))
        self.table.add_events(events, at=self.now)


def delivery_events(rule: str, tool: str, notice: str, delivery: Delivery) -> list[NewEvent]:
    """Return the events recording ``delivery`` of a ``notice`` about ``rule`` on ``tool``."""
    events: list[NewEvent] = []
    if delivery.sent:
        detail = f"{delivery.notifier}: {notice} notification sent to {delivery.sent} URL(s)"
        events.append(NewEvent(rule, tool, "notified", detail))
    for failure in delivery.failures:
        detail = f"{delivery.notifier}: {notice} notification failed: {failure}"
        log.warning("alert %s on %s: %s", rule, tool, detail)
        events.append(NewEvent(rule, tool, "notify_failed", detail))
    return events


def _split(name: str) -> tuple[str, str]:
    rule, _, tool = name.partition("/")
    return rule, tool


def _view_dict(view: AlertView) -> dict[str, object]:
    return {
        "rule": view.rule, "tool": view.tool, "severity": view.severity, "state": view.state,
        "summary": view.summary, "condition": view.condition,
        "since": view.since.isoformat() if view.since else None, "calls": view.calls,
        "errors": view.errors, "last_error": view.last_error,
        "acknowledged_by": view.acknowledged_by, "link": view.link,
    }  # fmt: skip
