"""The cost tables of ``toolkeeper.toml``: ``[costs]``, ``[prices."model"]`` and ``[[budgets]]``.

::

    [costs]
    time_zone = "Europe/Paris"     # budgets reset at midnight here (default UTC)
    ledger = "redis://localhost"   # where budget spend is kept (default: the store)
    rate_limits = "memory://"      # where rate-limit windows are kept (default memory://)

    [prices."my-finetune"]         # overrides the maintained catalog
    input_per_mtok = "0.30"
    output_per_mtok = "1.20"

    [[budgets]]                    # budgets beyond a tool's daily_budget / monthly_budget
    scope = "label:team=search"    # or "global": every call
    limit = "$50/day"              # "$1500/month", "$5/24h"
    policy = "refuse"              # refuse, fallback or warn
    thresholds = [0.8, 0.95]

:func:`cost_settings` reads them into typed values (:class:`CostSettings`) and
reports every problem as a :class:`~toolkeeper.ConfigIssue` naming the key,
the value and the rule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from toolkeeper._errors import ConfigIssue
from toolkeeper._schemes import LEDGER_SCHEMES, LIMIT_SCHEMES, listed, scheme_of
from toolkeeper.costs.budgets import Budget
from toolkeeper.costs.money import parse_budget
from toolkeeper.costs.periods import Period
from toolkeeper.costs.prices import Price, PriceCatalog

if TYPE_CHECKING:
    from toolkeeper._toml import TomlDocument

__all__ = ["GLOBAL_SCOPE", "CostSettings", "cost_settings"]

#: The budget scope every call belongs to (written ``scope = "global"`` in the file).
GLOBAL_SCOPE = "global:all"
COSTS_KEYS = ("time_zone", "ledger", "rate_limits")
BUDGET_KEYS = ("scope", "limit", "policy", "thresholds")
_POLICIES = ("refuse", "fallback", "warn")

Issue = Callable[..., ConfigIssue]


@dataclass(frozen=True, slots=True, kw_only=True)
class CostSettings:
    """What the file's cost tables say, parsed and checked.

    ``ledger`` is ``None`` when the file names none (the store keeps spend);
    ``prices`` are the overrides only: :meth:`catalog` adds the maintained package.
    """

    time_zone: str = "UTC"
    ledger: str | None = None
    rate_limits: str = "memory://"
    prices: tuple[Price, ...] = ()
    budgets: tuple[Budget, ...] = field(default=())

    def catalog(self, *, package: bool) -> PriceCatalog:
        """Return the price catalog: the overrides, then the package when ``package`` is on."""
        return PriceCatalog(self.prices, package=package)


def cost_settings(file: TomlDocument) -> tuple[CostSettings, list[ConfigIssue]]:
    """Read the cost tables of ``file``; return the settings and every problem found.

    The settings leave out whatever had a problem, so they are usable either way.
    """
    issues: list[ConfigIssue] = []
    time_zone, ledger, limits = _costs_table(file, issues)
    prices = _prices(file, issues)
    budgets = _budgets(file, time_zone, issues)
    settings = CostSettings(
        time_zone=time_zone, ledger=ledger, rate_limits=limits, prices=prices, budgets=budgets
    )
    return settings, issues


def _costs_table(file: TomlDocument, issues: list[ConfigIssue]) -> tuple[str, str | None, str]:
    table = file.data.get("costs", {})
    time_zone, ledger, limits = "UTC", None, "memory://"
    if not isinstance(table, dict):
        return time_zone, ledger, limits
    for key, value in table.items():
        where = ("costs", key)
        if key not in COSTS_KEYS:
            rule = "unknown key in [costs]; expected one of " + ", ".join(COSTS_KEYS)
            issues.append(file.issue(where, rule, has_value=False))
        elif not isinstance(value, str):
            issues.append(file.issue(where, "must be a string", value))
        elif key == "time_zone":
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                issues.append(file.issue(where, "must be an IANA time zone such as 'UTC'", value))
            else:
                time_zone = value
        elif key == "ledger":
            if scheme_of(value) in LEDGER_SCHEMES:
                ledger = value
            else:
                rule = "must be a URI: " + listed(LEDGER_SCHEMES)
                issues.append(file.issue(where, rule, value))
        elif scheme_of(value) in LIMIT_SCHEMES:
            limits = value
        else:
            rule = "must be a URI: " + listed(LIMIT_SCHEMES)
            issues.append(file.issue(where, rule, value))
    return time_zone, ledger, limits


def _prices(file: TomlDocument, issues: list[ConfigIssue]) -> tuple[Price, ...]:
    table = file.data.get("prices", {})
    if not isinstance(table, dict):
        return ()
    prices: list[Price] = []
    for model, entry in table.items():
        entries = entry if isinstance(entry, list) else [entry]
        found: list[Price] = []
        for index, item in enumerate(entries):
            where = ("prices", model) if len(entries) == 1 else ("prices", model, str(index))
            if not isinstance(item, dict):
                issues.append(file.issue(where, "must be a table of prices", item))
                continue
            try:
                found.append(Price.from_data(model, item))
            except (TypeError, ValueError) as exc:
                issues.append(file.issue(where, str(exc), has_value=False))
        try:
            PriceCatalog(found, package=False)
        except ValueError as exc:
            issues.append(file.issue(("prices", model), str(exc), has_value=False))
            continue
        prices.extend(found)
    return tuple(prices)


def _budgets(file: TomlDocument, time_zone: str, issues: list[ConfigIssue]) -> tuple[Budget, ...]:
    entries = file.data.get("budgets", [])
    if not isinstance(entries, list):
        return ()
    budgets: dict[str, Budget] = {}
    for index, entry in enumerate(entries):
        where = ("budgets", str(index))
        if not isinstance(entry, dict):
            issues.append(file.issue(where, "must be a table ([[budgets]])", entry))
            continue
        budget = _budget(file, where, entry, time_zone, issues)
        if budget is None:
            continue
        if budget.key in budgets:
            rule = f"repeats the scope and period of another budget ({budget.key})"
            issues.append(file.issue(where, rule, has_value=False))
            continue
        budgets[budget.key] = budget
    return tuple(budgets.values())


def _budget(
    file: TomlDocument,
    where: tuple[str, ...],
    entry: dict[str, Any],
    time_zone: str,
    issues: list[ConfigIssue],
) -> Budget | None:
    before = len(issues)
    for key in entry:
        if key not in BUDGET_KEYS:
            rule = "unknown key in a budget; expected one of " + ", ".join(BUDGET_KEYS)
            issues.append(file.issue((*where, key), rule, has_value=False))
    scope = _scope(file, where, entry.get("scope"), issues)
    limit_text = entry.get("limit")
    parsed = None
    if not isinstance(limit_text, str):
        rule = "must be an amount per period such as '$50/day', '$1500/month' or '$5/24h'"
        issues.append(file.issue((*where, "limit"), rule, limit_text, has_value="limit" in entry))
    else:
        try:
            parsed = parse_budget(limit_text)
        except ValueError as exc:
            issues.append(file.issue((*where, "limit"), str(exc), limit_text))
    policy = entry.get("policy", "refuse")
    if policy not in _POLICIES:
        rule = "must be one of " + ", ".join(repr(p) for p in _POLICIES)
        issues.append(file.issue((*where, "policy"), rule, policy))
    thresholds = entry.get("thresholds", [0.8, 0.95])
    if not (
        isinstance(thresholds, list)
        and all(isinstance(t, int | float) and not isinstance(t, bool) for t in thresholds)
        and all(0 < t < 1 for t in thresholds)
    ):
        rule = "must be a list of fractions between 0 and 1, such as [0.8, 0.95]"
        issues.append(file.issue((*where, "thresholds"), rule, thresholds))
    if len(issues) > before or scope is None or parsed is None:
        return None
    amount, period = parsed
    return Budget(
        scope=scope,
        limit=amount,
        period=Period.parse(period, time_zone=time_zone),
        thresholds=tuple(float(t) for t in thresholds),
        policy=policy,
    )


def _scope(
    file: TomlDocument, where: tuple[str, ...], scope: Any, issues: list[ConfigIssue]
) -> str | None:
    rule = "must be 'global' or 'label:NAME=VALUE' (a tool's own budget is its daily_budget)"
    if scope == "global":
        return GLOBAL_SCOPE
    if isinstance(scope, str) and scope.startswith("label:") and "|" not in scope:
        name, equals, value = scope.removeprefix("label:").partition("=")
        if equals and name.strip() and value.strip():
            return f"label:{name.strip()}={value.strip()}"
    issues.append(file.issue((*where, "scope"), rule, scope, has_value=scope is not None))
    return None
