"""Recommendations on spend, each with the evidence it rests on and, where priced, its saving.

Three findings, each a pure function of the records (and the catalog, to price
the alternative):

- ``weak_model``: one model carries at least ``share`` of priced spend and most
  of its calls are short; the saving is those short calls' recorded cost less
  the same usage priced on the weak model, at the time of each call;
- ``failures``: failed calls and retries waste at least ``waste_share`` of spend;
- ``unpriced``: calls whose model has no price, so their spend is unknown.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from toolkeeper._units import format_money, money_json
from toolkeeper.costs.analytics import CostRecord, waste
from toolkeeper.costs.prices import PriceCatalog

__all__ = ["Recommendation", "recommend"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Recommendation:
    """One finding: what to do, why (``evidence``), and the saving if it can be priced."""

    kind: str
    title: str
    detail: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    estimated_savings: Decimal | None = None


def recommend(
    records: Iterable[CostRecord],
    catalog: PriceCatalog,
    *,
    weak_models: Mapping[str, str],
    share: float = 0.7,
    short_tokens: int = 1000,
    waste_share: float = 0.1,
) -> list[Recommendation]:
    """Return the recommendations the records support, largest saving first.

    ``weak_models`` maps a model to its cheaper alternative (a RouteLLM strong
    model to its weak one). A call is short when its input and output tokens
    total at most ``short_tokens``.
    """
    items = list(records)
    found = [
        *_weak_model(items, catalog, weak_models, share=share, short_tokens=short_tokens),
        *_failures(items, waste_share=waste_share),
        *_unpriced(items),
    ]
    return sorted(found, key=lambda item: -(item.estimated_savings or Decimal(0)))


def _weak_model(
    records: list[CostRecord],
    catalog: PriceCatalog,
    weak_models: Mapping[str, str],
    *,
    share: float,
    short_tokens: int,
) -> list[Recommendation]:
    spend: dict[str, Decimal] = defaultdict(Decimal)
    for record in records:
        if record.cost is not None and record.model is not None:
            spend[record.model] += record.cost
    total = sum(spend.values(), Decimal(0))
    if not total:
        return []
    model, model_spend = max(spend.items(), key=lambda item: item[1])
    weak = weak_models.get(model)
    model_share = model_spend / total
    if weak is None or model_share < Decimal(repr(share)):
        return []
    calls = [r for r in records if r.model == model and r.cost is not None]
    measured = [r for r in calls if r.usage is not None]
    short = [r for r in measured if r.usage is not None and r.usage.total_tokens <= short_tokens]
    if len(short) * 2 <= len(measured):
        return []
    current = Decimal(0)
    on_weak = Decimal(0)
    unpriced_on_weak = 0
    for record in short:
        assert record.usage is not None
        assert record.cost is not None
        alternative = catalog.price(weak, record.usage, at=record.at).cost
        if alternative is None:
            unpriced_on_weak += 1
            continue
        current += record.cost
        on_weak += alternative
    if unpriced_on_weak == len(short):
        return []
    saving = current - on_weak
    evidence = {
        "model": model,
        "weak_model": weak,
        "share_of_spend": str(model_share.quantize(Decimal("0.0001"))),
        "model_spend": money_json(model_spend),
        "total_spend": money_json(total),
        "calls": len(calls),
        "calls_with_usage": len(measured),
        "short_calls": len(short),
        "short_tokens": short_tokens,
        "short_calls_cost": money_json(current),
        "short_calls_cost_on_weak_model": money_json(on_weak),
        "short_calls_unpriced_on_weak_model": unpriced_on_weak,
        "catalog_version": catalog.version,
    }
    return [
        Recommendation(
            kind="weak_model",
            title=f"Send short {model} calls to {weak}",
            detail=(
                f"{model} carries {model_share:.0%} of spend and {len(short)} of its "
                f"{len(measured)} measured calls use at most {short_tokens} tokens; on {weak} "
                f"they would have cost {format_money(on_weak)} instead of {format_money(current)}."
            ),
            evidence=evidence,
            estimated_savings=saving,
        )
    ]


def _failures(records: list[CostRecord], *, waste_share: float) -> list[Recommendation]:
    spent = waste(records)
    total = sum((r.cost for r in records if r.cost is not None), Decimal(0))
    if not total or spent.total / total < Decimal(repr(waste_share)):
        return []
    by_tool = Counter(r.tool for r in records if r.status == "error")
    return [
        Recommendation(
            kind="failures",
            title="Reduce spend on failed calls and retries",
            detail=(
                f"{format_money(spent.total)} of {format_money(total)} went to "
                f"{spent.failed_calls} failed calls and the retries of "
                f"{spent.retried_calls} others."
            ),
            evidence={
                "failed_cost": money_json(spent.failed_cost),
                "failed_calls": spent.failed_calls,
                "retry_cost_estimate": money_json(spent.retry_cost_estimate),
                "retried_calls": spent.retried_calls,
                "total_spend": money_json(total),
                "failures_by_tool": dict(by_tool.most_common()),
            },
            estimated_savings=spent.total,
        )
    ]


def _unpriced(records: list[CostRecord]) -> list[Recommendation]:
    missing = Counter(r.model or "(none)" for r in records if r.cost is None)
    if not missing:
        return []
    listed = ", ".join(f"{model} ({count})" for model, count in missing.most_common())
    return [
        Recommendation(
            kind="unpriced",
            title="Add prices for unpriced models",
            detail=f"{sum(missing.values())} calls have no known cost: {listed}.",
            evidence={"unpriced_calls_by_model": dict(missing.most_common())},
        )
    ]
