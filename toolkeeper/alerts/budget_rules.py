"""Budget thresholds as built-in alert rules: each tool's ``budget_alert_thresholds`` notify.

A tool with a ``daily_budget`` or ``monthly_budget`` gets one rule per
threshold, ``budget_burn >= threshold`` on that tool (``budget-<tool>-80`` for
0.8), and one for the limit itself (``budget-<tool>-100``, critical). They are
ordinary rules: routed by the policies (label ``kind="budget"``), stored as
alert states (so of several processes crossing the threshold together, one
notifies), resolved when the period resets. A rule written with the same name
takes precedence.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from glob import escape

from toolkeeper.alerts.rules import AlertRule
from toolkeeper.costs.tool_fields import CostFields

__all__ = ["budget_rules"]

_SLUG = re.compile(r"[^a-z0-9_-]+")


def budget_rules(tools: Iterable[tuple[str, CostFields]]) -> tuple[AlertRule, ...]:
    """Return the budget rules of ``(tool, config)`` pairs (configs without budgets add none)."""
    found: list[AlertRule] = []
    for tool, config in tools:
        if config.daily_budget is None and config.monthly_budget is None:
            continue
        slug = _SLUG.sub("-", tool.lower()).strip("-")[:150] or "tool"
        fractions = sorted({*(float(t) for t in config.budget_alert_thresholds), 1.0})
        for fraction in fractions:
            percent = round(fraction * 100)
            found.append(
                AlertRule(
                    name=f"budget-{slug}-{percent}",
                    tool=escape(tool),
                    metric="budget_burn",
                    op=">=",
                    threshold=fraction,
                    severity="critical" if fraction >= 1 else "warning",
                    labels={"kind": "budget"},
                )
            )
    return tuple(found)
