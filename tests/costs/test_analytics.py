"""Cost analytics over records: groups, cost per success, waste, burn rate, recommendations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from toolkeeper.costs import (
    CostRecord,
    Period,
    PriceCatalog,
    Usage,
    burn_rate,
    cost_by,
    cost_per_success,
    recommend,
    summarize,
    waste,
)

START = datetime(2026, 1, 15, 8, 0, tzinfo=UTC)  # midnight in Los Angeles


def _record(
    cost: str | None,
    *,
    tool: str = "openai",
    model: str | None = "big",
    operation: str = "chat",
    minutes: int = 0,
    status: str = "success",
    retries: int = 0,
    labels: dict[str, str] | None = None,
    usage: Usage | None = None,
) -> CostRecord:
    return CostRecord(
        tool=tool,
        operation=operation,
        at=START + timedelta(minutes=minutes),
        cost=None if cost is None else Decimal(cost),
        model=model,
        labels=labels or {},
        status=status,  # type: ignore[arg-type]
        retries=retries,
        usage=usage,
    )


RECORDS = [
    _record("0.10", labels={"team": "search"}),
    _record("0.30", status="error", labels={"team": "search"}),
    _record("0.20", retries=1, labels={"team": "ads"}, operation="embed"),
    _record("0.05", tool="cohere", model="small"),
    _record(None, tool="cohere", model="mystery"),
    _record(None, tool="cohere", model="mystery", minutes=2000),
]


def test_cost_by_groups_costliest_first_and_counts_unpriced() -> None:
    """Sum priced cost per tool, model, operation and label, counting unpriced calls beside it."""
    tools = cost_by(RECORDS, "tool")
    assert [(g.key, g.cost, g.calls, g.unpriced_calls) for g in tools] == [
        ("openai", Decimal("0.60"), 3, 0),
        ("cohere", Decimal("0.05"), 3, 2),
    ]
    models = {g.key: g.cost for g in cost_by(RECORDS, "model")}
    assert models == {"big": Decimal("0.60"), "small": Decimal("0.05"), "mystery": 0}
    assert [g.key for g in cost_by(RECORDS, "operation")] == ["chat", "embed"]
    teams = cost_by(RECORDS, "label", label="team")
    assert [(g.key, g.cost, g.failures) for g in teams] == [
        ("team=search", Decimal("0.40"), 1),
        ("team=ads", Decimal("0.20"), 0),
    ]


def test_cost_per_success_includes_what_failures_cost() -> None:
    """Divide all priced spend, failures included, by the successful operations."""
    assert cost_per_success(RECORDS) == Decimal("0.65") / 5
    assert cost_per_success([_record("1", status="error")]) is None


def test_waste_counts_failed_calls_and_retries() -> None:
    """Count failed calls whole and half of a once-retried success."""
    found = waste(RECORDS)
    assert (found.failed_cost, found.failed_calls) == (Decimal("0.30"), 1)
    assert (found.retry_cost_estimate, found.retried_calls) == (Decimal("0.10"), 1)
    assert found.total == Decimal("0.40")


def test_burn_rate_projects_to_the_local_end_of_day() -> None:
    """Project six hours' spend at the same rate to the end of the Los Angeles day."""
    period = Period("daily", time_zone="America/Los_Angeles")
    records = [_record("0.50", minutes=60), _record("1.00", minutes=300)]
    rate = burn_rate(records, period, at=START + timedelta(hours=6))
    assert rate.spent == Decimal("1.50")
    assert rate.per_hour == Decimal("0.25")
    assert rate.projected == Decimal("6.00")
    assert rate.period_end == START + timedelta(days=1)
    assert burn_rate(records, period, at=START).projected is None


def test_summary_reports_unpriced_models_over_a_range() -> None:
    """Report totals within the range and name the unpriced models with their counts."""
    summary = summarize(RECORDS, since=START, until=START + timedelta(hours=1), by="model")
    assert summary.total == Decimal("0.65")
    assert (summary.calls, summary.priced_calls, summary.unpriced_calls) == (5, 4, 1)
    assert summary.unpriced_models == {"mystery": 1}
    assert summary.groups[0].key == "big"


def test_recommends_the_weak_model_for_short_calls_with_evidence() -> None:
    """Recommend sending a dominant model's short calls to its weak model, priced by the catalog."""
    catalog = PriceCatalog.from_overrides(
        {
            "big": {"input_per_mtok": "10", "output_per_mtok": "30"},
            "small": {"input_per_mtok": "1", "output_per_mtok": "3"},
        },
        package=False,
    )
    short = Usage(input_tokens=500, output_tokens=100)  # $0.008 on big, $0.0008 on small
    long = Usage(input_tokens=20_000, output_tokens=2_000)  # $0.26 on big
    records = [
        *[_record("0.008", usage=short) for _ in range(8)],
        *[_record("0.26", usage=long) for _ in range(2)],
        _record("0.05", model="small", usage=long),
    ]
    found = recommend(records, catalog, weak_models={"big": "small"})
    (advice,) = [item for item in found if item.kind == "weak_model"]
    assert advice.estimated_savings == Decimal("0.0576")  # 8 x (0.008 - 0.0008)
    assert advice.evidence["short_calls"] == 8
    assert advice.evidence["calls_with_usage"] == 10
    assert advice.evidence["share_of_spend"] == "0.9211"  # 0.584 of 0.634
    assert "big" in advice.title
    assert "small" in advice.title


def test_recommends_fixing_failures_and_pricing_unknown_models() -> None:
    """Point at failure waste over a tenth of spend and at models that have no price."""
    found = recommend(RECORDS, PriceCatalog(package=False), weak_models={})
    kinds = {item.kind: item for item in found}
    assert set(kinds) == {"failures", "unpriced"}
    assert kinds["failures"].estimated_savings == Decimal("0.40")
    assert kinds["unpriced"].evidence == {"unpriced_calls_by_model": {"mystery": 2}}
    assert kinds["unpriced"].estimated_savings is None
