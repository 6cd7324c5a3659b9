"""The cost report as typed values: what ``toolkeeper costs``, the costs page and the API show.

:class:`CostReport` is built by :func:`toolkeeper.costs.report.cost_report` and
read by attribute (the CLI, the costs page); :meth:`CostReport.to_dict` is its
JSON (``toolkeeper costs --json``, ``GET /api/v1/costs``), with money as exact
decimal strings (docs/money.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from toolkeeper._units import money_json
from toolkeeper.costs.analytics import Waste
from toolkeeper.costs.recommendations import Recommendation
from toolkeeper.costs.routing import SavingsReport
from toolkeeper.costs.usage import TokenCounts

__all__ = ["BudgetRow", "CostReport", "GroupRow", "OvershootRow", "UnpricedModel"]


@dataclass(frozen=True, slots=True, kw_only=True)
class UnpricedModel:
    """How many calls of the range named a model the catalog has no price for."""

    model: str
    calls: int

    def to_dict(self) -> dict[str, Any]:
        """Return the row as JSON-ready data."""
        return {"model": self.model, "calls": self.calls}


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupRow:
    """The calls sharing one value of the grouping; ``cost`` is ``None`` when none was priced."""

    key: str
    cost: Decimal | None
    calls: int
    priced_calls: int
    unpriced_calls: int
    failures: int
    tokens: TokenCounts = field(default_factory=TokenCounts)

    def to_dict(self) -> dict[str, Any]:
        """Return the row as JSON-ready data (money as a decimal string)."""
        return {
            "key": self.key,
            "cost": _money(self.cost),
            "calls": self.calls,
            "priced_calls": self.priced_calls,
            "unpriced_calls": self.unpriced_calls,
            "failures": self.failures,
            "tokens": self.tokens.to_dict(),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class BudgetRow:
    """One budget: spend, burn rates (period average, last hour) and where it heads."""

    scope: str
    period: str
    policy: str
    limit: Decimal
    spent: Decimal
    reserved: Decimal
    remaining: Decimal
    used_fraction: Decimal | None
    period_start: datetime
    period_end: datetime
    burn_per_hour: Decimal | None
    burn_per_hour_recent: Decimal | None
    recent_window_seconds: int
    projected: Decimal | None
    projected_over_limit: bool
    limit_reached_at: datetime | None
    projection: str

    def to_dict(self) -> dict[str, Any]:
        """Return the row as JSON-ready data (money as decimal strings, moments ISO 8601)."""
        return {
            "scope": self.scope,
            "period": self.period,
            "policy": self.policy,
            "limit": _money(self.limit),
            "spent": _money(self.spent),
            "reserved": _money(self.reserved),
            "remaining": _money(self.remaining),
            "used_fraction": None if self.used_fraction is None else str(self.used_fraction),
            "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
            "burn_per_hour": _money(self.burn_per_hour),
            "burn_per_hour_recent": _money(self.burn_per_hour_recent),
            "recent_window_seconds": self.recent_window_seconds,
            "projected": _money(self.projected),
            "projected_over_limit": self.projected_over_limit,
            "limit_reached_at": _moment(self.limit_reached_at),
            "projection": self.projection,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class OvershootRow:
    """A tool's calls that cost more than they had reserved (all-time, every process)."""

    tool: str
    calls: int
    amount: Decimal
    largest: Decimal

    def to_dict(self) -> dict[str, Any]:
        """Return the row as JSON-ready data (money as decimal strings)."""
        return {
            "tool": self.tool,
            "calls": self.calls,
            "amount": _money(self.amount),
            "largest": _money(self.largest),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class CostReport:
    """Totals, the groups, waste, budgets, routing savings and advice over one range.

    ``groups`` are by ``by``; ``regrouped`` holds the same range's groups by the
    other groupings asked for (the costs page shows tool, model and label groups
    from one read). ``detail_calls``, ``overshoots``, ``prices`` and ``truncated``
    are set by the tracker's report (``keeper.costs.report()``), which counts the
    totals from the exact rollups and reads the ledger; a report of given
    operations leaves them ``None`` and its JSON without them.
    """

    since: datetime | None
    until: datetime | None
    by: str
    label: str | None
    total: Decimal
    tokens: TokenCounts
    calls: int
    priced_calls: int
    unpriced_calls: int
    unpriced: tuple[UnpricedModel, ...]
    groups: tuple[GroupRow, ...]
    cost_per_success: Decimal | None
    waste: Waste
    budgets: tuple[BudgetRow, ...]
    routing: SavingsReport
    decisions_without_usage: int
    recommendations: tuple[Recommendation, ...]
    catalog_version: str
    regrouped: Mapping[str, tuple[GroupRow, ...]] = field(default_factory=dict, repr=False)
    detail_calls: int | None = None
    overshoots: tuple[OvershootRow, ...] | None = None
    prices: str | None = None
    truncated: bool | None = None

    def groups_by(self, by: str) -> tuple[GroupRow, ...]:
        """Return the groups by ``by`` (``self.by`` or one of those asked for in ``regrouped``)."""
        if by == self.by:
            return self.groups
        try:
            return self.regrouped[by]
        except KeyError:
            known = ", ".join([self.by, *self.regrouped])
            raise ValueError(f"this report has no groups by {by!r}; it has: {known}") from None

    def to_dict(self) -> dict[str, Any]:
        """Return the report as JSON (``toolkeeper costs --json``, ``GET /api/v1/costs``)."""
        routing = self.routing.to_dict()
        routing["decisions_without_usage"] = self.decisions_without_usage
        data: dict[str, Any] = {
            "since": _moment(self.since),
            "until": _moment(self.until),
            "by": self.by,
            "label": self.label,
            "total": _money(self.total),
            "tokens": self.tokens.to_dict(),
            "calls": self.calls,
            "priced_calls": self.priced_calls,
            "unpriced_calls": self.unpriced_calls,
            "unpriced": [item.to_dict() for item in self.unpriced],
            "groups": [group.to_dict() for group in self.groups],
            "cost_per_success": _money(self.cost_per_success),
            "waste": {
                "total": _money(self.waste.total),
                "failed_cost": _money(self.waste.failed_cost),
                "failed_calls": self.waste.failed_calls,
                "retry_cost_estimate": _money(self.waste.retry_cost_estimate),
                "retried_calls": self.waste.retried_calls,
            },
            "budgets": [budget.to_dict() for budget in self.budgets],
            "routing": routing,
            "recommendations": [
                {
                    "kind": item.kind,
                    "title": item.title,
                    "detail": item.detail,
                    "evidence": dict(item.evidence),
                    "estimated_savings": _money(item.estimated_savings),
                }
                for item in self.recommendations
            ],
            "catalog_version": self.catalog_version,
        }
        if self.detail_calls is not None:
            data["detail_calls"] = self.detail_calls
        if self.overshoots is not None:
            data["overshoots"] = [item.to_dict() for item in self.overshoots]
        if self.prices is not None:
            data["prices"] = self.prices
        if self.truncated is not None:
            data["truncated"] = self.truncated
        return data


def _money(amount: Decimal | None) -> str | None:
    """Write dollars as an exact decimal string (``"0"``, never ``"0E-9"``)."""
    return None if amount is None else money_json(amount)


def _moment(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()
