"""RouteLLM savings against the strong-model baseline, checked by hand from catalog prices."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from toolkeeper.costs import (
    PriceCatalog,
    RoutingDecision,
    RoutingTally,
    Usage,
    savings_report,
)

AT = datetime(2026, 3, 1, tzinfo=UTC)
CATALOG = PriceCatalog.from_overrides(
    {
        "strong-llm": {"input_per_mtok": "5", "output_per_mtok": "15"},
        "weak-llm": {"input_per_mtok": "0.25", "output_per_mtok": "1.25"},
    },
    package=False,
)


def _decision(
    chosen: str, input_tokens: int, output_tokens: int, *, weak: str = "weak-llm"
) -> RoutingDecision:
    return RoutingDecision(
        router="mf",
        threshold=0.11593,
        chosen_model=chosen,
        strong_model="strong-llm",
        weak_model=weak,
        score=0.3 if chosen == "strong-llm" else 0.05,
        usage=Usage(input_tokens=input_tokens, output_tokens=output_tokens),
        at=AT,
        request_id=f"{chosen}-{input_tokens}",
    )


DECISIONS = [
    _decision("strong-llm", 1000, 200),
    _decision("weak-llm", 2000, 500),
    _decision("weak-llm", 400, 100),
    _decision("mystery-llm", 300, 30, weak="mystery-llm"),
]


def test_savings_equal_a_hand_computation() -> None:
    """Match baseline, actual, savings and percent worked out by hand from the override prices."""
    report = savings_report(DECISIONS, CATALOG)
    # Baseline, all on strong-llm ($5 in, $15 out per million tokens):
    #   1000x5 + 200x15 = 8000; 2000x5 + 500x15 = 17500; 400x5 + 100x15 = 3500 -> $0.029
    # Actual: 8000 (strong), then on weak-llm ($0.25 in, $1.25 out):
    #   2000x0.25 + 500x1.25 = 1125; 400x0.25 + 100x1.25 = 225 -> $0.00935
    assert report.baseline_cost == Decimal("0.029")
    assert report.actual_cost == Decimal("0.00935")
    assert report.savings == Decimal("0.01965")
    assert report.savings_percent == Decimal("67.76")  # 0.01965 / 0.029 = 67.758...%
    assert report.requests == 4
    assert report.priced_requests == 3
    assert report.by_model == {"mystery-llm": 1, "strong-llm": 1, "weak-llm": 2}
    assert (report.strong_requests, report.weak_requests) == (1, 3)


def test_unpriced_decisions_are_listed_apart_from_both_sums() -> None:
    """List a decision whose model has no price separately and leave it out of both sums."""
    report = savings_report(DECISIONS, CATALOG)
    assert report.unpriced_count == 1
    (unpriced,) = report.unpriced
    assert unpriced.decision.request_id == "mystery-llm-300"
    assert unpriced.missing == ("mystery-llm",)
    data = report.to_dict()
    assert data["savings_percent"] == "67.76"
    assert data["unpriced"] == [{"request_id": "mystery-llm-300", "missing": ["mystery-llm"]}]
    assert "3 of 4 requests priced" in str(report)


def test_a_running_tally_matches_the_report_and_bounds_what_it_keeps() -> None:
    """Give the same totals recorded one by one, keeping at most the unpriced decisions asked."""
    tally = RoutingTally(CATALOG, keep_unpriced=1)
    for decision in [*DECISIONS, _decision("mystery-llm", 1, 1, weak="mystery-llm")]:
        tally.record(decision)
    report = tally.report()
    assert report.baseline_cost == Decimal("0.029")
    assert report.unpriced_count == 2
    assert len(report.unpriced) == 1


def test_no_priced_requests_give_no_percentage() -> None:
    """Report no savings percentage rather than dividing by a zero baseline."""
    report = savings_report([], CATALOG)
    assert report.savings == 0
    assert report.savings_percent is None


def test_a_recorded_cost_is_the_actual_one_when_a_fallback_answered() -> None:
    """Routed to the strong model but served by the weak one: actual is what was recorded."""
    served_by_weak = RoutingDecision(
        router="mf", threshold=0.11593, chosen_model="strong-llm", strong_model="strong-llm",
        weak_model="weak-llm", usage=Usage(input_tokens=1000, output_tokens=200), at=AT,
        cost=Decimal("0.0005"),  # 1000x0.25 + 200x1.25 per million, on weak-llm
    )  # fmt: skip
    report = savings_report([served_by_weak], CATALOG)
    assert report.baseline_cost == Decimal("0.008")  # 1000x5 + 200x15 per million
    assert report.actual_cost == Decimal("0.0005")
    assert report.savings == Decimal("0.0075")
    assert report.strong_requests == 1  # the router's choice, whoever answered
