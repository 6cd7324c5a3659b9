"""Parse the policy tables of ``[alerts]``: the routing tree, inhibition, time intervals,
escalation chains and on-call schedules. Each problem is a :class:`~toolkeeper.ConfigIssue`
naming the key, the value and the rule; what has a problem is left out.

::

    [alerts.policy]                    # the root route: every alert enters here
    notify = ["ops"]
    group_by = ["tool"]                # "..." groups by every label
    group_wait = "30s"
    group_interval = "5m"
    repeat_interval = "4h"

    [[alerts.policy.routes]]           # children: the first that matches takes the alert
    matchers = ['severity="critical"']
    notify = ["pager"]
    continue = true                    # ...and the search goes on to its next sibling
    escalation = "critical"
    mute_time_intervals = ["maintenance"]

    [[alerts.inhibit]]
    source_matchers = ['rule="circuit-open"']
    target_matchers = ['severity="warning"']
    equal = ["tool"]
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from toolkeeper._errors import ConfigIssue
from toolkeeper._units import parse_duration
from toolkeeper.alerts.escalation import (
    EscalationChain,
    EscalationLevel,
    OnCallSchedule,
    Override,
)
from toolkeeper.alerts.intervals import TimeInterval, time_interval
from toolkeeper.alerts.matchers import LABEL_NAME, Matcher, parse_matcher
from toolkeeper.alerts.policies import ALL_LABELS, InhibitRule, Route

if TYPE_CHECKING:
    from toolkeeper._toml import TomlDocument

__all__ = [
    "ROUTE_KEYS",
    "escalations",
    "inhibit_rules",
    "policy",
    "schedules",
    "seconds",
    "time_intervals",
]

ROUTE_KEYS = (
    "matchers", "notify", "continue", "group_by", "group_wait", "group_interval",
    "repeat_interval", "mute_time_intervals", "active_time_intervals", "escalation", "routes",
)  # fmt: skip
INHIBIT_KEYS = ("source_matchers", "target_matchers", "equal")
_MAX_DEPTH = 10
Where = tuple[str, ...]


def seconds(value: Any) -> float | None:
    """Return a duration written as text ('90s') or as a number of seconds, else ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return parse_duration(value).total_seconds()
        except (ValueError, OverflowError):
            return None
    return None


class _Context:
    """What a route may name, and where problems go."""

    def __init__(
        self,
        file: TomlDocument,
        issues: list[ConfigIssue],
        *,
        notifiers: tuple[str, ...],
        intervals: dict[str, TimeInterval],
        chains: dict[str, EscalationChain],
    ) -> None:
        self.file = file
        self.issues = issues
        self.notifiers = notifiers
        self.intervals = intervals
        self.chains = chains

    def problem(
        self, where: Where, rule: str, value: Any = None, *, has_value: bool = True
    ) -> None:
        self.issues.append(self.file.issue(where, rule, value, has_value=has_value))


def policy(
    file: TomlDocument,
    table: Any,
    issues: list[ConfigIssue],
    *,
    notifiers: tuple[str, ...],
    default_notify: tuple[str, ...],
    repeat_interval: float,
    intervals: dict[str, TimeInterval],
    chains: dict[str, EscalationChain],
) -> Route:
    """Return the root route of ``[alerts.policy]`` (Alertmanager's defaults where unwritten)."""
    context = _Context(file, issues, notifiers=notifiers, intervals=intervals, chains=chains)
    parent = Route(notify=default_notify, repeat_interval_seconds=repeat_interval)
    where = ("alerts", "policy")
    if not isinstance(table, dict):
        context.problem(where, "must be a table (the root route)", table)
        return parent
    for key in ("matchers", "continue"):
        if key in table:
            context.problem((*where, key), "the root route takes every alert; no " + key,
                            has_value=False)  # fmt: skip
    return _route(context, where, table, parent, path="0", depth=0)


def _route(  # noqa: PLR0912 - one branch per route key
    context: _Context, where: Where, table: dict[str, Any], parent: Route, *, path: str, depth: int
) -> Route:
    for key in table:
        if key not in ROUTE_KEYS:
            rule = "unknown key in a route; expected one of " + ", ".join(ROUTE_KEYS)
            context.problem((*where, key), rule, has_value=False)
    values: dict[str, Any] = {
        "path": path,
        "notify": parent.notify,
        "group_by": parent.group_by,
        "group_wait_seconds": parent.group_wait_seconds,
        "group_interval_seconds": parent.group_interval_seconds,
        "repeat_interval_seconds": parent.repeat_interval_seconds,
        "mute_time_intervals": parent.mute_time_intervals,
        "active_time_intervals": parent.active_time_intervals,
        "escalation": parent.escalation,
    }
    if "matchers" in table:
        values["matchers"] = _matchers(context, (*where, "matchers"), table["matchers"])
    if "notify" in table:
        values["notify"] = _known(
            context, (*where, "notify"), table["notify"], context.notifiers,
            "notifiers declared in [alerts.notifiers]",
        )  # fmt: skip
    if "continue" in table:
        if isinstance(table["continue"], bool):
            values["continue_"] = table["continue"]
        else:
            context.problem((*where, "continue"), "must be true or false", table["continue"])
    if "group_by" in table:
        values["group_by"] = _group_by(context, (*where, "group_by"), table["group_by"])
    for key in ("group_wait", "group_interval", "repeat_interval"):
        if key in table:
            found = seconds(table[key])
            if found is None or found < 0 or (key == "repeat_interval" and found <= 0):
                bound = "> 0s" if key == "repeat_interval" else ">= 0s"
                context.problem((*where, key), f"must be a duration {bound}, such as '30s' or '5m'",
                                table[key])  # fmt: skip
            else:
                values[f"{key}_seconds"] = found
    for key in ("mute_time_intervals", "active_time_intervals"):
        if key in table:
            values[key] = _known(context, (*where, key), table[key], tuple(context.intervals),
                                 "time intervals declared in [alerts.time_intervals]")  # fmt: skip
    if "escalation" in table:
        chain = table["escalation"]
        if isinstance(chain, str) and chain in context.chains:
            values["escalation"] = chain
        else:
            listed = ", ".join(context.chains) or "none"
            context.problem((*where, "escalation"),
                            f"must name an escalation of [alerts.escalations] (declared: {listed})",
                            chain)  # fmt: skip
    node = Route(**values)
    children = table.get("routes", [])
    if not isinstance(children, list) or not all(isinstance(c, dict) for c in children):
        context.problem((*where, "routes"), "must be an array of tables ([[...routes]])",
                        has_value=False)  # fmt: skip
        return node
    if children and depth >= _MAX_DEPTH:
        context.problem(
            (*where, "routes"), f"routes nest at most {_MAX_DEPTH} deep", has_value=False
        )
        return node
    routes = tuple(
        _route(
            context, (*where, "routes", str(i)), child, node, path=f"{path}.{i}", depth=depth + 1
        )
        for i, child in enumerate(children)
    )
    return Route(**{**values, "routes": routes})


def _matchers(context: _Context, where: Where, value: Any) -> tuple[Matcher, ...]:
    if not isinstance(value, list):
        context.problem(where, "must be a list of matchers such as 'severity=\"critical\"'", value)
        return ()
    found = []
    for index, text in enumerate(value):
        try:
            found.append(parse_matcher(text))
        except ValueError as exc:
            context.problem((*where, str(index)), str(exc), text)
    return tuple(found)


def _known(
    context: _Context, where: Where, value: Any, known: tuple[str, ...], what: str
) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        context.problem(where, "must be a list of names", value)
        return ()
    unknown = [name for name in value if name not in known]
    if unknown:
        listed = ", ".join(known) or "none"
        context.problem(where, f"names {unknown} that are not {what} (declared: {listed})", value)
        return tuple(name for name in value if name in known)
    return tuple(value)


def _group_by(context: _Context, where: Where, value: Any) -> tuple[str, ...]:
    if isinstance(value, list) and all(
        isinstance(n, str) and (n == ALL_LABELS or LABEL_NAME.fullmatch(n)) for n in value
    ):
        return tuple(value)
    context.problem(where, 'must be a list of label names, or ["..."] for every label', value)
    return ()


def inhibit_rules(
    file: TomlDocument, value: Any, issues: list[ConfigIssue]
) -> tuple[InhibitRule, ...]:
    """Return the ``[[alerts.inhibit]]`` rules."""
    context = _Context(file, issues, notifiers=(), intervals={}, chains={})
    where: Where = ("alerts", "inhibit")
    if not isinstance(value, list):
        context.problem(where, "must be an array of tables ([[alerts.inhibit]])", has_value=False)
        return ()
    rules = []
    for index, entry in enumerate(value):
        here = (*where, str(index))
        if not isinstance(entry, dict):
            context.problem(here, "must be a table", entry)
            continue
        before = len(issues)
        for key in entry:
            if key not in INHIBIT_KEYS:
                context.problem((*here, key), "unknown key in an inhibit rule; expected one of "
                                + ", ".join(INHIBIT_KEYS), has_value=False)  # fmt: skip
        for key in ("source_matchers", "target_matchers"):
            if not entry.get(key):
                context.problem((*here, key), "is required: a non-empty list of matchers",
                                has_value=False)  # fmt: skip
        source = _matchers(context, (*here, "source_matchers"), entry.get("source_matchers", []))
        target = _matchers(context, (*here, "target_matchers"), entry.get("target_matchers", []))
        equal = entry.get("equal", [])
        if not isinstance(equal, list) or not all(
            isinstance(n, str) and LABEL_NAME.fullmatch(n) for n in equal
        ):
            context.problem((*here, "equal"), "must be a list of label names", equal)
        if len(issues) == before:
            rules.append(InhibitRule(source=source, target=target, equal=tuple(equal)))
    return tuple(rules)


def time_intervals(
    file: TomlDocument, value: Any, issues: list[ConfigIssue]
) -> dict[str, TimeInterval]:
    """Return the ``[alerts.time_intervals.NAME]`` tables by name."""
    where: Where = ("alerts", "time_intervals")
    if not isinstance(value, dict):
        issues.append(file.issue(where, "must be a table of named time intervals", value))
        return {}
    found = {}
    for name, table in value.items():
        if not isinstance(table, dict):
            issues.append(file.issue((*where, name), "must be a table", table))
            continue
        try:
            found[name] = time_interval(name, table)
        except ValueError as exc:
            issues.append(file.issue((*where, name), str(exc), has_value=False))
    return found


def schedules(
    file: TomlDocument, value: Any, issues: list[ConfigIssue], *, notifiers: tuple[str, ...]
) -> dict[str, OnCallSchedule]:
    """Return the ``[alerts.schedules.NAME]`` on-call schedules by name."""
    context = _Context(file, issues, notifiers=notifiers, intervals={}, chains={})
    where: Where = ("alerts", "schedules")
    if not isinstance(value, dict):
        context.problem(where, "must be a table of named schedules", value)
        return {}
    found = {}
    for name, table in value.items():
        here = (*where, name)
        if not isinstance(table, dict):
            context.problem(here, "must be a table", table)
            continue
        before = len(issues)
        for key in table:
            if key not in ("members", "rotation", "start", "overrides"):
                context.problem((*here, key), "unknown key; expected members, rotation, start, "
                                "overrides", has_value=False)  # fmt: skip
        members = _known(context, (*here, "members"), table.get("members"), notifiers,
                         "notifiers declared in [alerts.notifiers]")  # fmt: skip
        rotation = seconds(table.get("rotation", "1w"))
        if rotation is None or rotation <= 0:
            context.problem((*here, "rotation"), "must be a duration > 0s such as '1w'",
                            table.get("rotation"))  # fmt: skip
        start = _moment(context, (*here, "start"), table.get("start"))
        overrides = []
        for index, entry in enumerate(table.get("overrides", [])):
            spot = (*here, "overrides", str(index))
            if not isinstance(entry, dict) or entry.get("notifier") not in notifiers:
                context.problem(spot, "must be { notifier = NAME, start = TIME, end = TIME } "
                                "naming a declared notifier", has_value=False)  # fmt: skip
                continue
            begin = _moment(context, (*spot, "start"), entry.get("start"))
            end = _moment(context, (*spot, "end"), entry.get("end"))
            if begin is not None and end is not None:
                overrides.append(Override(notifier=entry["notifier"], start=begin, end=end))
        if len(issues) > before or start is None or rotation is None:
            continue
        try:
            found[name] = OnCallSchedule(name=name, members=members, rotation_seconds=rotation,
                                         start=start, overrides=tuple(overrides))  # fmt: skip
        except ValueError as exc:
            context.problem(here, str(exc), has_value=False)
    return found


def escalations(
    file: TomlDocument,
    value: Any,
    issues: list[ConfigIssue],
    *,
    notifiers: tuple[str, ...],
    schedule_names: tuple[str, ...],
) -> dict[str, EscalationChain]:
    """Return the ``[alerts.escalations.NAME]`` chains by name."""
    context = _Context(file, issues, notifiers=notifiers, intervals={}, chains={})
    where: Where = ("alerts", "escalations")
    if not isinstance(value, dict):
        context.problem(where, "must be a table of named escalation chains", value)
        return {}
    found = {}
    for name, table in value.items():
        here = (*where, name, "levels")
        levels_written = table.get("levels") if isinstance(table, dict) else None
        if not isinstance(levels_written, list) or not levels_written:
            context.problem(here, "must be a non-empty array of { after, notify | schedule }",
                            has_value=False)  # fmt: skip
            continue
        levels = []
        before = len(issues)
        for index, entry in enumerate(levels_written):
            spot = (*here, str(index))
            if not isinstance(entry, dict):
                context.problem(spot, "must be a table { after, notify, schedule }", entry)
                continue
            after = seconds(entry.get("after"))
            if after is None or after <= 0:
                context.problem((*spot, "after"), "must be a duration > 0s such as '15m'",
                                entry.get("after"))  # fmt: skip
                continue
            notify = _known(context, (*spot, "notify"), entry.get("notify", []), notifiers,
                            "notifiers declared in [alerts.notifiers]")  # fmt: skip
            schedule = entry.get("schedule")
            if schedule is not None and schedule not in schedule_names:
                listed = ", ".join(schedule_names) or "none"
                context.problem((*spot, "schedule"),
                                f"must name a schedule of [alerts.schedules] (declared: {listed})",
                                schedule)  # fmt: skip
                continue
            try:
                levels.append(
                    EscalationLevel(after_seconds=after, notify=notify, schedule=schedule)
                )
            except ValueError as exc:
                context.problem(spot, str(exc), has_value=False)
        if len(issues) > before:
            continue
        try:
            found[name] = EscalationChain(name=name, levels=tuple(levels))
        except ValueError as exc:
            context.problem(here, str(exc), has_value=False)
    return found


def _moment(context: _Context, where: Where, value: Any) -> datetime | None:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            moment = None
        if moment is not None and moment.tzinfo is not None:
            return moment
    context.problem(where, "must be a date and time with a time zone, such as "
                    "'2026-01-05T09:00:00+00:00'", value)  # fmt: skip
    return None
