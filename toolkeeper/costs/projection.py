"""Where a budget is heading: the recent burn rate beside the period's average, and its end.

The average (spend over the hours since the period began) says little about
now: a budget idle all morning and burning $6/h since noon averages cents. The
recent rate is the spend of the last hour (:data:`RECENT`, or since the period
began when that is shorter) over that time, and the projection follows it and
the budget's policy: under ``refuse`` (or ``fallback``) spend stops at the limit,
so the projection is the limit and the moment calls start being refused (or
sent to their fallback); under ``warn`` spend goes on past it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from toolkeeper.costs.analytics import CostRecord
from toolkeeper.costs.budgets import BudgetStatus, scopes_for
from toolkeeper.costs.money import usd
from toolkeeper.costs.settings import GLOBAL_SCOPE

__all__ = ["RECENT", "Projection", "project", "recent_spend"]

#: The window of the recent burn rate.
RECENT = timedelta(hours=1)
_HOUR = Decimal(3600)
_VERBS = {"refuse": "refused", "fallback": "sent to their fallback"}


@dataclass(frozen=True, slots=True, kw_only=True)
class Projection:
    """A budget's burn rates (dollars an hour) and where the recent one takes it.

    ``projected`` is the spend at the period's end (``None`` for a rolling
    period); ``limit_at`` when the limit is reached before that end, if it is.
    """

    average_per_hour: Decimal | None
    recent_per_hour: Decimal | None
    projected: Decimal | None
    limit_at: datetime | None
    summary: str

    @property
    def over_limit(self) -> bool:
        """Return whether spend is projected past the limit (only a ``warn`` budget goes there)."""
        return self.limit_at is not None and self.summary.startswith("over")


def recent_spend(
    records: Iterable[CostRecord],
    status: BudgetStatus,
    *,
    now: datetime,
    window: timedelta = RECENT,
) -> tuple[Decimal, timedelta]:
    """Return the spend the budget was charged over the recent window, and the window's length."""
    start = max(now - window, status.period_start)
    scope = status.budget.scope
    total = Decimal(0)
    for record in records:
        if record.cost is None or not start <= record.at <= now:
            continue
        if scope == GLOBAL_SCOPE or scope in scopes_for(record.tool, dict(record.labels)):
            total += record.cost
    return total, max(now - start, timedelta(0))


def project(
    status: BudgetStatus, recent: Decimal, window: timedelta, *, now: datetime
) -> Projection:
    """Return the rates and the policy-aware projection of one budget at ``now``."""
    budget = status.budget
    elapsed = Decimal(repr(max((now - status.period_start).total_seconds(), 0.0)))
    if budget.period.kind == "rolling":
        assert budget.period.hours is not None
        elapsed = Decimal(budget.period.hours) * _HOUR
    average = usd(status.spent / elapsed * _HOUR) if elapsed else None
    seconds = Decimal(repr(window.total_seconds()))
    rate = recent / seconds if seconds else None  # dollars a second
    recent_per_hour = None if rate is None else usd(rate * _HOUR)
    if budget.period.kind == "rolling" or rate is None:
        return Projection(
            average_per_hour=average, recent_per_hour=recent_per_hour, projected=None,
            limit_at=None, summary="no projection for a rolling period"
            if budget.period.kind == "rolling" else "no spend to project from",
        )  # fmt: skip
    left = Decimal(repr(max((status.period_end - now).total_seconds(), 0.0)))
    projected = usd(status.spent + rate * left)
    if projected <= budget.limit or rate <= 0:
        return Projection(
            average_per_hour=average, recent_per_hour=recent_per_hour, projected=projected,
            limit_at=None, summary="within the limit at this rate",
        )  # fmt: skip
    to_limit = max(budget.limit - status.spent, Decimal(0)) / rate
    limit_at = now + timedelta(seconds=float(to_limit))
    local = limit_at.astimezone(budget.period.zone).strftime("%H:%M")
    if budget.policy in _VERBS:
        summary = f"calls {_VERBS[budget.policy]} from about {local}"
        projected = budget.limit
    else:
        summary = f"over the limit from about {local}"
    return Projection(
        average_per_hour=average, recent_per_hour=recent_per_hour, projected=projected,
        limit_at=limit_at, summary=summary,
    )  # fmt: skip
