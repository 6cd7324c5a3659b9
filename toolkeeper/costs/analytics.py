"""Cost analytics: pure functions over an iterable of :class:`CostRecord`.

Nothing here reads a store or a clock, so the monitoring store, a test or an
export can feed them. An unpriced record (``cost is None``) is never summed
as zero: every total here is over priced records, and the unpriced ones are
counted beside it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal

from toolkeeper.costs.money import NANO, usd
from toolkeeper.costs.periods import Period
from toolkeeper.costs.usage import TokenCounts, Usage

__all__ = [
    "BurnRate",
    "CostGroup",
    "CostRecord",
    "CostSummary",
    "Waste",
    "burn_rate",
    "cost_by",
    "cost_per_success",
    "in_range",
    "summarize",
    "tokens_of",
    "waste",
]

GroupBy = Literal["tool", "model", "operation", "label"]
_NONE = "(none)"


@dataclass(frozen=True, slots=True, kw_only=True)
class CostRecord:
    """The cost of one operation; ``cost`` is ``None`` when its model has no price.

    ``retries`` counts the attempts after the first; ``cost`` covers them all.
    """

    tool: str
    operation: str
    at: datetime
    cost: Decimal | None
    model: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    status: Literal["success", "error"] = "success"
    retries: int = 0
    usage: Usage | None = None

    @property
    def priced(self) -> bool:
        """Return whether the cost is known."""
        return self.cost is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class CostGroup:
    """The records sharing one value of the grouping key, and the tokens of every kind they used."""

    key: str
    cost: Decimal
    calls: int
    priced_calls: int
    unpriced_calls: int
    failures: int
    tokens: TokenCounts = field(default_factory=TokenCounts)


@dataclass(frozen=True, slots=True, kw_only=True)
class Waste:
    """Spend that bought nothing: failed operations, and retries of successful ones.

    ``retry_cost_estimate`` assumes a successful operation's attempts cost the
    same, so ``retries / (retries + 1)`` of its cost went to attempts that failed.
    """

    failed_cost: Decimal
    failed_calls: int
    retry_cost_estimate: Decimal
    retried_calls: int

    @property
    def total(self) -> Decimal:
        """Return failed cost plus the estimated retry cost."""
        return self.failed_cost + self.retry_cost_estimate


@dataclass(frozen=True, slots=True, kw_only=True)
class BurnRate:
    """Spend so far in a period, its hourly rate, and the spend projected at the period's end."""

    period_start: datetime
    period_end: datetime
    spent: Decimal
    per_hour: Decimal | None
    projected: Decimal | None


@dataclass(frozen=True, slots=True, kw_only=True)
class CostSummary:
    """Everything ``toolkeeper costs`` shows for one range and one grouping."""

    since: datetime | None
    until: datetime | None
    total: Decimal
    calls: int
    priced_calls: int
    unpriced_calls: int
    unpriced_models: dict[str, int]
    groups: list[CostGroup]
    cost_per_success: Decimal | None
    waste: Waste
    tokens: TokenCounts = field(default_factory=TokenCounts)


def in_range(
    records: Iterable[CostRecord], since: datetime | None = None, until: datetime | None = None
) -> list[CostRecord]:
    """Return the records with ``since <= at < until`` (either bound may be open)."""
    return [
        record
        for record in records
        if (since is None or record.at >= since) and (until is None or record.at < until)
    ]


def cost_by(
    records: Iterable[CostRecord], by: GroupBy, *, label: str | None = None
) -> list[CostGroup]:
    """Group records by tool, model, operation or label (``name=value``), costliest first.

    A record with several labels counts in each of its label groups; ``label``
    keeps only that label's groups. Records without a model group under ``(none)``.
    """
    keys: Callable[[CostRecord], list[str]] = {
        "tool": lambda r: [r.tool],
        "model": lambda r: [r.model or _NONE],
        "operation": lambda r: [r.operation],
        "label": lambda r: [
            f"{name}={value}"
            for name, value in sorted(r.labels.items())
            if label is None or name == label
        ],
    }[by]
    grouped: dict[str, list[CostRecord]] = defaultdict(list)
    for record in records:
        for key in keys(record):
            grouped[key].append(record)
    groups = [
        CostGroup(
            key=key,
            cost=_total(members),
            calls=len(members),
            priced_calls=sum(member.priced for member in members),
            unpriced_calls=sum(not member.priced for member in members),
            failures=sum(member.status == "error" for member in members),
            tokens=tokens_of(members),
        )
        for key, members in grouped.items()
    ]
    return sorted(groups, key=lambda group: (-group.cost, group.key))


def cost_per_success(records: Iterable[CostRecord]) -> Decimal | None:
    """Return all priced spend (failures included) per successful operation, or ``None``.

    This is what one success really costs: failed calls are part of its price.
    """
    items = list(records)
    successes = sum(record.status == "success" for record in items)
    if not successes:
        return None
    return (_total(items) / successes).quantize(NANO)


def waste(records: Iterable[CostRecord]) -> Waste:
    """Return the spend on failed operations and on the retries of successful ones."""
    failed_cost = Decimal(0)
    failed_calls = 0
    retry_cost = Decimal(0)
    retried_calls = 0
    for record in records:
        if record.cost is None:
            continue
        if record.status == "error":
            failed_cost += record.cost
            failed_calls += 1
        elif record.retries > 0:
            retry_cost += record.cost * record.retries / (record.retries + 1)
            retried_calls += 1
    return Waste(
        failed_cost=failed_cost,
        failed_calls=failed_calls,
        retry_cost_estimate=usd(retry_cost),
        retried_calls=retried_calls,
    )


def burn_rate(records: Iterable[CostRecord], period: Period, *, at: datetime) -> BurnRate:
    """Return the spend of the period containing ``at`` and its projection to the period's end.

    The rate is the spend so far over the time elapsed so far; the projection
    assumes it holds for the rest of the period. For a rolling period the rate
    is over the last N hours and there is no end to project to (``None``).
    """
    if period.kind == "rolling":
        assert period.hours is not None
        start, end = at - timedelta(hours=period.hours), at
    else:
        slot = period.slot(at)
        start, end = slot.starts, slot.ends
    spent = _total(in_range(records, start, at))
    elapsed = Decimal(repr((at - start).total_seconds()))
    if elapsed <= 0:
        return BurnRate(
            period_start=start, period_end=end, spent=spent, per_hour=None, projected=None
        )
    per_second = spent / elapsed
    projected = None
    if period.kind != "rolling":
        projected = usd(spent + per_second * Decimal(repr((end - at).total_seconds())))
    return BurnRate(
        period_start=start,
        period_end=end,
        spent=spent,
        per_hour=usd(per_second * 3600),
        projected=projected,
    )


def summarize(
    records: Iterable[CostRecord],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    by: GroupBy = "tool",
    label: str | None = None,
) -> CostSummary:
    """Return totals, groups, cost per success and waste of the records in the range."""
    items = in_range(records, since, until)
    unpriced: dict[str, int] = defaultdict(int)
    for record in items:
        if not record.priced:
            unpriced[record.model or _NONE] += 1
    return CostSummary(
        since=since,
        until=until,
        total=_total(items),
        calls=len(items),
        priced_calls=sum(record.priced for record in items),
        unpriced_calls=sum(unpriced.values()),
        unpriced_models=dict(sorted(unpriced.items())),
        groups=cost_by(items, by, label=label),
        cost_per_success=cost_per_success(items),
        waste=waste(items),
        tokens=tokens_of(items),
    )


def tokens_of(records: Iterable[CostRecord]) -> TokenCounts:
    """Return the tokens of every kind the records used (those with usage)."""
    return sum(
        (TokenCounts.of(record.usage) for record in records if record.usage is not None),
        TokenCounts(),
    )


def _total(records: Iterable[CostRecord]) -> Decimal:
    return sum((record.cost for record in records if record.cost is not None), Decimal(0))
