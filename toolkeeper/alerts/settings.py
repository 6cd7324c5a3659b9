"""The ``[alerts]`` tables of ``toolkeeper.toml``, parsed into :class:`AlertSettings`.

::

    [alerts]
    evaluate_every = "15s"            # >= 1s
    repeat_every = "4h"               # re-notify a firing alert this often
    notify = ["ops"]                  # default notifiers of rules naming none (default: all)

    [alerts.notifiers.ops]            # Apprise URLs; env:/file:/enc: references allowed
    urls = ["json://127.0.0.1:8080/hook", "env:SLACK_WEBHOOK_URL"]

    [[alerts.rules]]                  # see toolkeeper.alerts.rules; none: the built-in two
    name = "openai-errors"
    tool = "openai"
    metric = "error_rate"
    op = ">"
    threshold = 0.2
    window = "5m"
    for = "1m"

:func:`alert_settings` reports every problem as a :class:`~toolkeeper.ConfigIssue`
naming the key, the value and the rule. Notifier URLs are secrets: an issue
shows a literal URL masked, and a reference (``env:NAME``) as written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from toolkeeper._errors import ConfigIssue, SecretError
from toolkeeper._secrets import is_encrypted, is_reference, mask, resolve_secret
from toolkeeper._units import parse_duration
from toolkeeper.alerts import policy_settings
from toolkeeper.alerts.escalation import EscalationChain, OnCallSchedule
from toolkeeper.alerts.intervals import TimeInterval
from toolkeeper.alerts.matchers import Matcher
from toolkeeper.alerts.policies import InhibitRule, Route
from toolkeeper.alerts.rules import AlertRule, builtin_rules, field_problem

if TYPE_CHECKING:
    from toolkeeper._secrets import Keyring
    from toolkeeper._toml import TomlDocument

__all__ = [
    "ALERTS_KEYS",
    "RULE_KEYS",
    "RUNTIME_KEYS",
    "AlertSettings",
    "NotifierSettings",
    "alert_settings",
    "reference_issues",
]

ALERTS_KEYS = (
    "evaluate_every", "repeat_every", "notify", "notifiers", "rules", "policy", "inhibit",
    "time_intervals", "escalations", "schedules", "alertmanager", "external_url",
)  # fmt: skip
#: The keys of ``[alerts]`` that runtime versions may replace.
RUNTIME_KEYS = (
    "rules", "policy", "inhibit", "time_intervals", "escalations", "schedules", "notifiers",
)  # fmt: skip
RULE_KEYS = (
    "name", "tool", "metric", "op", "threshold", "expr", "window", "for", "keep_firing_for",
    "severity", "notify", "min_calls", "labels", "no_data", "on_error", "matchers",
)  # fmt: skip
NOTIFIER_KEYS = ("urls", "webhook", "secret")
MIN_EVALUATE_EVERY_SECONDS = 1.0
#: What a notifier's name, URL and webhook may be. The API's schema declares these very
#: patterns and they are applied as JSON Schema does (``re.match`` with the anchors).
NOTIFIER_NAME_PATTERN = r"^[a-z0-9_-]{1,200}$"
NOTIFIER_URL_PATTERN = r"^(env:|file:|enc:|[A-Za-z][A-Za-z0-9+.-]*://)\S+$"
WEBHOOK_PATTERN = r"^(env:|file:|enc:|https?://)\S+$"
_NOTIFIER_NAME = re.compile(NOTIFIER_NAME_PATTERN)
_WEBHOOK = re.compile(WEBHOOK_PATTERN)
_URL = re.compile(NOTIFIER_URL_PATTERN)


def shown_url(raw: str) -> str:
    """Return how a notifier URL as written may be shown: a reference as is, a URL masked."""
    if is_reference(raw) or is_encrypted(raw):
        return raw if is_reference(raw) else raw[:8] + "…"
    scheme, separator, rest = raw.partition("://")
    return f"{scheme}://{mask(rest)}" if separator else mask(raw)


@dataclass(frozen=True, slots=True, kw_only=True)
class NotifierSettings:
    """A named notifier: Apprise URLs as written (URLs, ``env:``/``file:`` refs or ``enc:``),
    and/or a signed ``webhook`` (an http(s) address) with the ``secret`` that signs it.

    ``urls``, ``webhook`` and ``secret`` are secrets: they stay out of the repr.
    """

    name: str
    urls: tuple[str, ...] = field(default=(), repr=False)
    webhook: str | None = field(default=None, repr=False)
    secret: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not _NOTIFIER_NAME.match(self.name):
            raise ValueError(
                f"notifier name={self.name!r} must be lowercase letters, digits, '-' and '_'"
            )
        if not (self.urls or self.webhook) or not all(
            isinstance(url, str) and url for url in self.urls
        ):
            raise ValueError(
                f"notifier {self.name!r}: urls must be a non-empty list of URLs (or give webhook)"
            )
        if (self.webhook is None) != (self.secret is None):
            raise ValueError(f"notifier {self.name!r}: webhook and secret go together")
        object.__setattr__(self, "urls", tuple(self.urls))

    def __repr__(self) -> str:
        signed = ", webhook=signed" if self.webhook else ""
        return f"NotifierSettings(name={self.name!r}, urls={len(self.urls)}{signed})"


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertSettings:
    """What ``[alerts]`` says: timing, notifiers, rules and policies, checked.

    ``notify`` is the default notifiers (``None``: every notifier): those of the
    root route when ``policy`` is ``None``. ``rules=None`` means the built-in
    rules. Without a policy, every alert is its own group, notified at once and
    repeated every ``repeat_every``; a rule naming notifiers is routed to them.
    ``alertmanager_url`` forwards alerts to a Prometheus Alertmanager;
    ``external_url`` is the server's address, for links in notifications.
    """

    evaluate_every_seconds: float = 15.0
    repeat_every_seconds: float = 4 * 3600.0
    notify: tuple[str, ...] | None = None
    notifiers: tuple[NotifierSettings, ...] = ()
    rules: tuple[AlertRule, ...] | None = None
    policy: Route | None = None
    inhibit_rules: tuple[InhibitRule, ...] = ()
    time_intervals: Mapping[str, TimeInterval] = field(default_factory=dict)
    escalations: Mapping[str, EscalationChain] = field(default_factory=dict)
    schedules: Mapping[str, OnCallSchedule] = field(default_factory=dict)
    alertmanager_url: str | None = None
    external_url: str | None = None

    def __post_init__(self) -> None:
        if not self.evaluate_every_seconds >= MIN_EVALUATE_EVERY_SECONDS:
            raise ValueError(f"evaluate_every_seconds={self.evaluate_every_seconds!r} must be >= 1")
        if not self.repeat_every_seconds > 0:
            raise ValueError(f"repeat_every_seconds={self.repeat_every_seconds!r} must be > 0")
        names = [notifier.name for notifier in self.notifiers]
        if len(set(names)) != len(names):
            raise ValueError(f"notifiers={names!r} must have unique names")
        unknown = [name for name in self.notify or () if name not in names]
        if unknown:
            shown = list(self.notify or ())
            raise ValueError(f"notify={shown!r} names unknown notifiers {unknown}")
        if self.rules is None:
            object.__setattr__(self, "rules", builtin_rules(()))
        rules = tuple(self.rules or ())
        object.__setattr__(self, "rules", rules)
        rule_names = [rule.name for rule in rules]
        if len(set(rule_names)) != len(rule_names):
            raise ValueError(f"rules={rule_names!r} must have unique names")
        for rule in rules:
            missing = [name for name in rule.notify if name not in names]
            if missing:
                raise ValueError(
                    f"alert rule {rule.name!r}: notify={list(rule.notify)!r} names unknown "
                    f"notifiers {missing}"
                )

    @property
    def default_notify(self) -> tuple[str, ...]:
        """Return the notifiers of a rule that names none."""
        if self.notify is not None:
            return self.notify
        return tuple(notifier.name for notifier in self.notifiers)

    @property
    def root_route(self) -> Route:
        """Return the routing tree: the policy (or the default route), and before its children
        a route per rule that names its notifiers (``rule="name"``)."""
        root = self.policy or Route(
            notify=self.default_notify, group_by=("rule", "tool"), group_wait_seconds=0.0,
            group_interval_seconds=0.0, repeat_interval_seconds=self.repeat_every_seconds,
        )  # fmt: skip
        direct = tuple(
            replace(
                root,
                path=f"rule:{rule.name}",
                matchers=(Matcher("rule", "=", rule.name),),
                notify=rule.notify,
                continue_=False,
                routes=(),
            )
            for rule in self.alert_rules
            if rule.notify
        )
        return replace(root, routes=direct + root.routes) if direct else root

    @property
    def alert_rules(self) -> tuple[AlertRule, ...]:
        """Return the rules (the built-in ones when the file writes none)."""
        assert self.rules is not None  # set by __post_init__
        return self.rules


def alert_settings(file: TomlDocument) -> tuple[AlertSettings, list[ConfigIssue]]:
    """Read ``[alerts]`` of ``file``; return the settings and every problem found.

    The settings leave out whatever had a problem, so they are usable either way.
    """
    issues: list[ConfigIssue] = []
    table = file.data.get("alerts", {})
    if not isinstance(table, dict):
        return AlertSettings(), issues
    for key in table:
        if key not in ALERTS_KEYS:
            rule = "unknown key in [alerts]; expected one of " + ", ".join(ALERTS_KEYS)
            issues.append(file.issue(("alerts", key), rule, has_value=False))
    evaluate = _duration(file, ("alerts", "evaluate_every"), table, 15.0, issues, minimum=1.0)
    repeat = _duration(file, ("alerts", "repeat_every"), table, 4 * 3600.0, issues, minimum=None)
    notifiers = _notifiers(file, table.get("notifiers", {}), issues)
    names = tuple(notifier.name for notifier in notifiers)
    notify = None
    if "notify" in table:
        notify = _names(file, ("alerts", "notify"), table["notify"], names, issues)
    default = notify if notify is not None else names
    rules = None
    if "rules" in table:
        rules = _rules(file, table["rules"], names, issues)
    intervals = policy_settings.time_intervals(file, table.get("time_intervals", {}), issues)
    schedules = policy_settings.schedules(file, table.get("schedules", {}), issues, notifiers=names)
    chains = policy_settings.escalations(
        file, table.get("escalations", {}), issues, notifiers=names,
        schedule_names=tuple(schedules),
    )  # fmt: skip
    policy = None
    if "policy" in table:
        policy = policy_settings.policy(
            file, table["policy"], issues, notifiers=names, default_notify=default,
            repeat_interval=repeat, intervals=intervals, chains=chains,
        )  # fmt: skip
    inhibit = policy_settings.inhibit_rules(file, table.get("inhibit", []), issues)
    settings = AlertSettings(
        evaluate_every_seconds=evaluate,
        repeat_every_seconds=repeat,
        notify=notify,
        notifiers=notifiers,
        rules=rules,
        policy=policy,
        inhibit_rules=inhibit,
        time_intervals=intervals,
        escalations=chains,
        schedules=schedules,
        alertmanager_url=_url(file, ("alerts", "alertmanager"), table, issues),
        external_url=_url(file, ("alerts", "external_url"), table, issues),
    )
    return settings, issues


def _url(
    file: TomlDocument, where: tuple[str, ...], table: dict[str, Any], issues: list[ConfigIssue]
) -> str | None:
    value = table.get(where[-1])
    if value is None:
        return None
    if isinstance(value, str) and re.fullmatch(r"https?://[^\s/]+(/\S*)?", value):
        return value.rstrip("/")
    issues.append(file.issue(where, "must be an http:// or https:// address", value))
    return None


def reference_issues(
    file: TomlDocument, *, keyring: Keyring | None, environ: Mapping[str, str] | None = None
) -> list[ConfigIssue]:
    """Report each notifier URL written as a reference or ciphertext that cannot be opened now.

    ``toolkeeper config validate`` checks tool secrets the same way. The issue
    shows the reference (``env:NAME``), never what it resolves to.
    """
    issues = []
    for notifier in alert_settings(file)[0].notifiers:
        for index, written in enumerate(notifier.urls):
            if not (is_reference(written) or is_encrypted(written)):
                continue
            try:
                resolve_secret(written, keyring=keyring, environ=environ)
            except SecretError as exc:
                where = ("alerts", "notifiers", notifier.name, "urls", str(index))
                issues.append(file.issue(where, str(exc), shown_url(written)))
    return issues


def _duration(
    file: TomlDocument,
    where: tuple[str, ...],
    table: dict[str, Any],
    default: float,
    issues: list[ConfigIssue],
    *,
    minimum: float | None,
) -> float:
    """Return the duration at ``where`` in seconds (> 0, or >= ``minimum``), else ``default``."""
    key = where[-1]
    if key not in table:
        return default
    seconds = _seconds(table[key])
    bound = f">= {minimum:g}s" if minimum is not None else "> 0s"
    if seconds is None or (seconds < minimum if minimum is not None else seconds <= 0):
        rule = f"must be a duration {bound}, such as '15s', '5m' or '4h'"
        issues.append(file.issue(where, rule, table[key]))
        return default
    return seconds


def _seconds(value: Any) -> float | None:
    """Return a duration written as text ('90s') or as a number of seconds, else ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return parse_duration(value).total_seconds()
        except ValueError:
            return None
    return None


def _notifiers(  # noqa: PLR0912 - one branch per notifier key
    file: TomlDocument, table: Any, issues: list[ConfigIssue]
) -> tuple[NotifierSettings, ...]:
    where = ("alerts", "notifiers")
    if not isinstance(table, dict):
        issues.append(file.issue(where, "must be a table of notifiers", table))
        return ()
    found: list[NotifierSettings] = []
    for name, entry in table.items():
        here = (*where, name)
        if not isinstance(name, str) or not _NOTIFIER_NAME.match(name):
            rule = "a notifier name must be lowercase letters, digits, '-' and '_'"
            issues.append(file.issue(here, rule, name))
            continue
        if not isinstance(entry, dict):
            issues.append(file.issue(here, "must be a table with urls = [...]", has_value=False))
            continue
        for key in entry:
            if key not in NOTIFIER_KEYS:
                rule = "unknown key in a notifier; expected urls"
                issues.append(file.issue((*here, key), rule, has_value=False))
        webhook, secret = entry.get("webhook"), entry.get("secret")
        if webhook is not None or secret is not None:
            written = isinstance(webhook, str) and _WEBHOOK.match(webhook)
            if not written:
                rule = "must be an http(s) address (or env:/file:/enc:), with secret"
                shown = shown_url(webhook) if isinstance(webhook, str) else webhook
                issues.append(file.issue((*here, "webhook"), rule, shown))
                continue
            if not isinstance(secret, str) or not secret:
                rule = "is required with webhook: the key signing it (env:NAME, file:, enc:)"
                issues.append(file.issue((*here, "secret"), rule, has_value=False))
                continue
        urls = entry.get("urls", [] if webhook is not None else None)
        if not isinstance(urls, list) or (not urls and webhook is None):
            rule = "must be a non-empty list of Apprise URLs (or env:/file:/enc: references)"
            issues.append(file.issue((*here, "urls"), rule, has_value=False))
            continue
        bad = False
        for index, url in enumerate(urls):
            if isinstance(url, str) and _URL.match(url):
                continue
            bad = True
            rule = "must be an Apprise URL such as 'json://host/path', or env:, file:, enc:"
            shown = shown_url(url) if isinstance(url, str) else type(url).__name__
            issues.append(file.issue((*here, "urls", str(index)), rule, shown))
        if not bad:
            found.append(
                NotifierSettings(name=name, urls=tuple(urls), webhook=webhook, secret=secret)
            )
    return tuple(found)


def _names(
    file: TomlDocument,
    where: tuple[str, ...],
    value: Any,
    known: tuple[str, ...],
    issues: list[ConfigIssue],
) -> tuple[str, ...] | None:
    """Return a list of notifier names that all exist, else report it and return ``None``."""
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        issues.append(file.issue(where, "must be a list of notifier names", value))
        return None
    unknown = [name for name in value if name not in known]
    if unknown:
        listed = ", ".join(known) or "none"
        rule = f"names notifiers that are not declared in [alerts.notifiers] (declared: {listed})"
        issues.append(file.issue(where, rule, value))
        return None
    return tuple(value)


def _rules(
    file: TomlDocument,
    entries: Any,
    known: tuple[str, ...],
    issues: list[ConfigIssue],
) -> tuple[AlertRule, ...]:
    if not isinstance(entries, list):
        issues.append(file.issue(("alerts", "rules"), "must be an array of tables", entries))
        return ()
    rules: dict[str, AlertRule] = {}
    for index, entry in enumerate(entries):
        where = ("alerts", "rules", str(index))
        if not isinstance(entry, dict):
            issues.append(file.issue(where, "must be a table ([[alerts.rules]])", entry))
            continue
        rule = _rule(file, where, entry, known=known, issues=issues)
        if rule is None:
            continue
        if rule.name in rules:
            issues.append(
                file.issue((*where, "name"), "repeats the name of another rule", rule.name)
            )
            continue
        rules[rule.name] = rule
    return tuple(rules.values())


def _rule(
    file: TomlDocument,
    where: tuple[str, ...],
    entry: dict[str, Any],
    *,
    known: tuple[str, ...],
    issues: list[ConfigIssue],
) -> AlertRule | None:
    before = len(issues)
    for key in entry:
        if key not in RULE_KEYS:
            rule = "unknown key in an alert rule; expected one of " + ", ".join(RULE_KEYS)
            issues.append(file.issue((*where, key), rule, has_value=False))
    values: dict[str, Any] = {"tool": "*", "window": "5m", "severity": "warning", "min_calls": 5}
    required = ("name", "expr") if "expr" in entry else ("name", "metric", "op", "threshold")
    issues.extend(
        file.issue((*where, key), "is required (or write expr)" if key != "name" else "is required",
                   has_value=False)
        for key in required
        if key not in entry
    )  # fmt: skip
    if "expr" in entry:
        issues.extend(
            file.issue((*where, key), "write either expr or metric/op/threshold", has_value=False)
            for key in ("metric", "op", "threshold")
            if key in entry
        )
    fields = (
        "name", "tool", "metric", "op", "threshold", "expr", "window", "severity", "min_calls",
        "labels", "no_data", "on_error", "matchers",
    )  # fmt: skip
    for key in fields:
        if key not in entry:
            continue
        problem = field_problem(key, entry[key])
        if problem is not None:
            issues.append(file.issue((*where, key), problem, entry[key]))
        values[key] = entry[key]
    for key, attribute in (("for", "for_seconds"), ("keep_firing_for", "keep_firing_for_seconds")):
        values[attribute] = 0.0
        if key in entry:
            seconds = _seconds(entry[key])
            if seconds is None or seconds < 0:
                rule = "must be a duration >= 0s, such as '0s', '1m' or '10m'"
                issues.append(file.issue((*where, key), rule, entry[key]))
            else:
                values[attribute] = seconds
    values["notify"] = ()
    if "notify" in entry:
        values["notify"] = _names(file, (*where, "notify"), entry["notify"], known, issues)
    if len(issues) > before:
        return None
    return _built(file, where, values, issues)


def _built(
    file: TomlDocument, where: tuple[str, ...], values: dict[str, Any], issues: list[ConfigIssue]
) -> AlertRule | None:
    """Return the rule of checked ``values``; a combination no single key breaks is an issue."""
    try:
        return AlertRule(**values)
    except ValueError as exc:  # a per-tool metric with operation or model matchers
        issues.append(file.issue((*where, "matchers"), str(exc), list(values.get("matchers", ()))))
        return None
