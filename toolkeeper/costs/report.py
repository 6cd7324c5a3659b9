"""The cost report of ``toolkeeper costs`` and ``keeper.costs.report()``, from stored operations.

:func:`cost_report` is a pure function of the operations, the catalog and the
budgets' state; :func:`read_operations` is the one read from the store. An
operation marked ``unpriced`` becomes a record whose cost is ``None``: it is
listed and counted as unpriced, never summed as $0. Routing decisions are the
operations whose labels name a router (``router``, ``routed_model``,
``strong_model``, ``weak_model``, as ``op.route(...)`` records them) and that
carry usage; their savings are priced from the catalog against the strong model.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, cast, get_args

from toolkeeper.costs.analytics import (
    CostGroup,
    CostRecord,
    GroupBy,
    cost_by,
    in_range,
    summarize,
)
from toolkeeper.costs.budgets import BudgetStatus
from toolkeeper.costs.ledger import Overshoot
from toolkeeper.costs.money import usd
from toolkeeper.costs.prices import PriceCatalog
from toolkeeper.costs.projection import project, recent_spend
from toolkeeper.costs.recommendations import recommend
from toolkeeper.costs.report_model import (
    BudgetRow,
    CostReport,
    GroupRow,
    OvershootRow,
    UnpricedModel,
)
from toolkeeper.costs.routing import RoutingDecision, savings_report
from toolkeeper.costs.usage import TokenCounts, Usage

if TYPE_CHECKING:
    from toolkeeper.monitor.ranges import RangeTotal
    from toolkeeper.monitor.records import WrapperOperationMetrics
    from toolkeeper.store.sql import Store

__all__ = [
    "GROUPINGS",
    "ROUTE_LABELS",
    "cost_records",
    "cost_report",
    "inherited_labels",
    "overshoot_rows",
    "read_operations",
    "routing_decisions",
    "with_exact_totals",
]

#: The labels ``op.route(...)`` records; an operation with all of them is a routing decision.
ROUTE_LABELS = ("router", "routed_model", "strong_model", "weak_model")
GROUPINGS: tuple[str, ...] = get_args(GroupBy)
_FAILED = frozenset({"error", "timeout", "cancelled"})
_NONE_KEY = "(none)"  # the group of operations that named no model, as analytics names it
_PAGE = 5000
_MAX_NESTING = 32  # deeper lineages stop inheriting (a cycle in bad data cannot loop)


def read_operations(
    store: Store, *, since: datetime, until: datetime | None = None, limit: int = 1_000_000
) -> tuple[list[WrapperOperationMetrics], bool]:
    """Return up to ``limit`` operations in the range (newest first) and whether more matched."""
    # Deferred: the store's readers load SQLAlchemy; a report of given operations does not.
    from toolkeeper.monitor.persist import stored_operations

    found: list[WrapperOperationMetrics] = []
    total = None
    while len(found) < limit and (total is None or len(found) < total):
        page, total = stored_operations(
            store, since=since, until=until, limit=min(_PAGE, limit - len(found)), offset=len(found)
        )
        if not page:
            break
        found.extend(page)
    return found, total is not None and total > len(found)


def inherited_labels(
    operations: Iterable[WrapperOperationMetrics],
) -> dict[str, dict[str, str]]:
    """Return each operation's labels with those of the operations it ran inside.

    An operation started inside another (``parent_id``) inherits its labels, its
    own winning, as OpenTelemetry baggage does: a model call made inside a
    ``router`` operation is counted under the route, a template's label reaches
    the call that used it. Parents outside ``operations`` add nothing.
    """
    ops = {op.operation_id: op for op in operations}
    merged: dict[str, dict[str, str]] = {}

    def labels_of(op: WrapperOperationMetrics, depth: int) -> dict[str, str]:
        known = merged.get(op.operation_id)
        if known is not None:
            return known
        parent = ops.get(op.parent_id) if op.parent_id else None
        if parent is None or depth > _MAX_NESTING:
            labels = dict(op.labels)
        else:
            labels = {**labels_of(parent, depth + 1), **op.labels}
        merged[op.operation_id] = labels
        return labels

    for op in ops.values():
        labels_of(op, 0)
    return merged


def cost_records(operations: Iterable[WrapperOperationMetrics]) -> list[CostRecord]:
    """Return the cost record of each operation (``cost`` is ``None`` for an unpriced one).

    Labels include those inherited from parent operations (:func:`inherited_labels`),
    except ``model``, which is always the operation's own.
    """
    operations = list(operations)
    lineage = inherited_labels(operations)
    records = []
    for op in operations:
        labels = dict(lineage[op.operation_id])
        labels.pop("model", None)
        model = op.labels.get("model")
        tokens = op.input_tokens or op.output_tokens
        records.append(
            CostRecord(
                tool=op.wrapper_name,
                operation=op.operation_type,
                at=op.end_time or op.start_time,
                cost=None if op.unpriced else usd(op.cost_estimate),
                model=model,
                labels=labels,
                status="error" if op.status.value in _FAILED else "success",
                retries=int(op.custom_metrics.get("retries", 0) or 0),
                usage=_usage(model, op) if tokens else None,
            )
        )
    return records


def routing_decisions(
    operations: Iterable[WrapperOperationMetrics],
) -> tuple[list[RoutingDecision], int]:
    """Return the routing decisions that carry usage, and how many carried none.

    A decision is an operation with the :data:`ROUTE_LABELS` (``op.route(...)``).
    Its usage is its own, or else that of the model calls made inside it (its
    children): the router that also dispatches, as RouteLLM's controller does.
    """
    operations = list(operations)
    children: dict[str, list[WrapperOperationMetrics]] = {}
    for op in operations:
        if op.parent_id and (op.input_tokens or op.output_tokens):
            children.setdefault(op.parent_id, []).append(op)
    decisions, without_usage = [], 0
    for op in operations:
        labels = op.labels
        if not all(labels.get(name) for name in ROUTE_LABELS):
            continue
        used = _decision_usage(op, children.get(op.operation_id, ()))
        if used is None:
            without_usage += 1
            continue
        usage, cost = used
        score = op.custom_metrics.get("route_score")
        decisions.append(
            RoutingDecision(
                router=labels["router"],
                threshold=float(op.custom_metrics.get("route_threshold", 0.0)),
                chosen_model=labels["routed_model"],
                strong_model=labels["strong_model"],
                weak_model=labels["weak_model"],
                usage=usage,
                at=op.end_time or op.start_time,
                score=None if score is None else float(score),
                request_id=op.request_id or op.operation_id,
                cost=cost,
            )
        )
    return decisions, without_usage


def _decision_usage(
    decision: WrapperOperationMetrics, calls: Iterable[WrapperOperationMetrics]
) -> tuple[Usage, Decimal | None] | None:
    """Return what a decision used (its own tokens, else its calls') and what that cost.

    The cost is the one recorded (a fallback's model included), ``None`` when any
    of the operations counted was unpriced.
    """
    own = decision.input_tokens or decision.output_tokens
    counted = [decision] if own else list(calls)
    if not counted:
        return None
    usage = Usage(
        model=decision.labels["routed_model"],
        input_tokens=sum(op.input_tokens for op in counted),
        output_tokens=sum(op.output_tokens for op in counted),
    )
    priced = not any(op.unpriced for op in counted)
    return usage, sum((usd(op.cost_estimate) for op in counted), Decimal(0)) if priced else None


def cost_report(
    operations: list[WrapperOperationMetrics],
    *,
    catalog: PriceCatalog,
    statuses: Iterable[BudgetStatus] = (),
    weak_models: Mapping[str, str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    by: str = "tool",
    also_by: Iterable[str] = (),
    label: str | None = None,
    now: datetime,
) -> CostReport:
    """Return totals, the breakdown, waste, budgets, routing savings and recommendations.

    A group whose calls are all unpriced has ``cost`` ``None``. ``weak_models``
    maps strong models to weak ones, for the recommendations (routing decisions
    add their own). ``also_by`` names more groupings to compute from the same
    records (:meth:`CostReport.groups_by`).
    """
    bys = _groupings(by, also_by)
    records = cost_records(operations)
    summary = summarize(records, since=since, until=until, by=cast(GroupBy, by), label=label)
    items = in_range(records, since, until)  # what summarize() groups, grouped other ways
    regrouped = {
        other: tuple(_group(group) for group in cost_by(items, cast(GroupBy, other), label=label))
        for other in bys[1:]
    }
    decisions, without_usage = routing_decisions(operations)
    weak = dict(weak_models or {})
    weak.update({d.strong_model: d.weak_model for d in decisions})
    return CostReport(
        since=since,
        until=until,
        by=by,
        label=label,
        total=summary.total,
        tokens=summary.tokens,
        calls=summary.calls,
        priced_calls=summary.priced_calls,
        unpriced_calls=summary.unpriced_calls,
        unpriced=tuple(UnpricedModel(model=m, calls=n) for m, n in summary.unpriced_models.items()),
        groups=tuple(_group(group) for group in summary.groups),
        cost_per_success=summary.cost_per_success,
        waste=summary.waste,
        budgets=tuple(_budget(status, now, records) for status in statuses),
        routing=savings_report(decisions, catalog),
        decisions_without_usage=without_usage,
        recommendations=tuple(recommend(records, catalog, weak_models=weak)),
        catalog_version=catalog.version,
        regrouped=regrouped,
    )


def _groupings(by: str, also_by: Iterable[str]) -> tuple[str, ...]:
    """Return ``by`` then the other groupings asked for, each once, or say which is unknown."""
    bys = tuple(dict.fromkeys([by, *also_by]))
    for name in bys:
        if name not in GROUPINGS:
            raise ValueError(f"cannot group costs by {name!r}; use one of {', '.join(GROUPINGS)}")
    return bys


def with_exact_totals(report: CostReport, totals: Iterable[RangeTotal]) -> CostReport:
    """Return ``report`` with its counts and spend from the exact rollups (``range_totals``).

    The total, the calls (priced, unpriced, by model), cost per success, and the
    groups by tool, model or operation then count every operation of the range,
    including those whose raw rows were shed; groups by label, waste, routing and
    advice still read the raw rows (the detail), and ``detail_calls`` says how
    many of those were read.
    """
    items = list(totals)
    calls = sum(t.calls for t in items)
    unpriced = sum(t.unpriced for t in items)
    cost = usd(sum(t.cost for t in items))
    successes = sum(t.successes for t in items)
    unpriced_models: dict[str, int] = {}
    for t in items:
        if t.unpriced:
            model = t.model or _NONE_KEY
            unpriced_models[model] = unpriced_models.get(model, 0) + t.unpriced
    regrouped = {
        by: _exact_groups(items, by) if by in _EXACT_GROUPINGS else groups
        for by, groups in report.regrouped.items()
    }
    return replace(
        report,
        detail_calls=report.calls,
        total=cost,
        tokens=_range_tokens(items),
        calls=calls,
        priced_calls=calls - unpriced,
        unpriced_calls=unpriced,
        unpriced=tuple(UnpricedModel(model=m, calls=n) for m, n in sorted(unpriced_models.items())),
        cost_per_success=usd(cost / successes) if successes else None,
        groups=_exact_groups(items, report.by) if report.by in _EXACT_GROUPINGS else report.groups,
        regrouped=regrouped,
    )


_EXACT_GROUPINGS = ("tool", "model", "operation")


def _exact_groups(items: list[RangeTotal], by: str) -> tuple[GroupRow, ...]:
    """Return the groups by tool, model or operation as the rollups count them, costliest first."""
    grouped: dict[str, list[RangeTotal]] = {}
    for t in items:
        key = {"tool": t.tool, "model": t.model or _NONE_KEY, "operation": t.operation}[by]
        grouped.setdefault(key, []).append(t)
    groups = [
        CostGroup(
            key=key,
            cost=usd(sum(m.cost for m in members)),
            calls=sum(m.calls for m in members),
            priced_calls=sum(m.calls - m.unpriced for m in members),
            unpriced_calls=sum(m.unpriced for m in members),
            failures=sum(m.failures for m in members),
            tokens=_range_tokens(members),
        )
        for key, members in grouped.items()
    ]
    return tuple(_group(g) for g in sorted(groups, key=lambda group: (-group.cost, group.key)))


def _usage(model: str | None, op: WrapperOperationMetrics) -> Usage:
    """Return an operation's usage, every token kind kept (parts cut to fit their whole)."""
    cached = min(op.cached_tokens, op.input_tokens)
    written = min(op.cache_write_tokens, op.input_tokens - cached)
    return Usage(
        model=model, input_tokens=op.input_tokens, output_tokens=op.output_tokens,
        cached_tokens=cached, cache_write_tokens=written,
        reasoning_tokens=min(op.reasoning_tokens, op.output_tokens),
    )  # fmt: skip


def _range_tokens(totals: Iterable[RangeTotal]) -> TokenCounts:
    """Return the tokens of every kind the rollups counted."""
    return sum(
        (
            TokenCounts(
                input_tokens=t.input_tokens,
                output_tokens=t.output_tokens,
                cached_tokens=t.cached_tokens,
                cache_write_tokens=t.cache_write_tokens,
                reasoning_tokens=t.reasoning_tokens,
            )
            for t in totals
        ),
        TokenCounts(),
    )


def overshoot_rows(overshoots: Mapping[str, Overshoot]) -> tuple[OvershootRow, ...]:
    """Describe each tool's budget overshoots (all-time, from the ledger), by tool."""
    return tuple(
        OvershootRow(tool=tool, calls=found.calls, amount=found.amount, largest=found.largest)
        for tool, found in sorted(overshoots.items())
    )


def _group(group: CostGroup) -> GroupRow:
    return GroupRow(
        key=group.key,
        cost=group.cost if group.priced_calls else None,
        calls=group.calls,
        priced_calls=group.priced_calls,
        unpriced_calls=group.unpriced_calls,
        failures=group.failures,
        tokens=group.tokens,
    )


def _budget(status: BudgetStatus, now: datetime, records: list[CostRecord]) -> BudgetRow:
    """Describe one budget: spend, burn rates (period average, last hour) and where it heads."""
    budget = status.budget
    recent, window = recent_spend(records, status, now=now)
    projection = project(status, recent, window, now=now)
    used = status.used_fraction
    return BudgetRow(
        scope=budget.scope,
        period=budget.period.key,
        policy=budget.policy,
        limit=budget.limit,
        spent=status.spent,
        reserved=status.reserved,
        remaining=status.remaining,
        used_fraction=None if used is None else used.quantize(Decimal("0.0001")),
        period_start=status.period_start,
        period_end=status.period_end,
        burn_per_hour=projection.average_per_hour,
        burn_per_hour_recent=projection.recent_per_hour,
        recent_window_seconds=int(window.total_seconds()),
        projected=projection.projected,
        projected_over_limit=projection.over_limit,
        limit_reached_at=projection.limit_at,
        projection=projection.summary,
    )
