"""Burn rates over the last hour beside the period average, and projections that obey the policy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from toolkeeper.costs import Budget, BudgetStatus, CostRecord, Period
from toolkeeper.costs.projection import project, recent_spend

NOW = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)
MIDNIGHT = datetime(2026, 3, 10, tzinfo=UTC)


def status(policy: str, spent: str = "0.80") -> BudgetStatus:
    """Return a $1.00 daily budget of tool openai that spent ``spent`` by 14:00."""
    budget = Budget(scope="tool:openai", limit=Decimal("1.00"), period=Period("daily"),
                    policy=policy)  # type: ignore[arg-type]  # fmt: skip
    return BudgetStatus(budget=budget, spent=Decimal(spent), reserved=Decimal(0),
                        period_start=MIDNIGHT, period_end=MIDNIGHT + timedelta(days=1))  # fmt: skip


def burst() -> list[CostRecord]:
    """Return $0.30 of openai calls in the last hour, $0.50 in the morning, and another tool's."""
    recent = [CostRecord(tool="openai", operation="chat", at=NOW - timedelta(minutes=m),
                         cost=Decimal("0.005")) for m in range(60)]  # fmt: skip
    morning = [CostRecord(tool="openai", operation="chat", at=MIDNIGHT + timedelta(hours=9),
                          cost=Decimal("0.50"))]  # fmt: skip
    other = [CostRecord(tool="search", operation="q", at=NOW, cost=Decimal("9"))]
    return recent + morning + other


def test_the_recent_rate_is_the_last_hour_of_the_budgets_own_calls() -> None:
    """Only the last hour of the budget's scope counts: $0.30 over one hour."""
    spent, window = recent_spend(burst(), status("refuse"), now=NOW)
    assert (spent, window) == (Decimal("0.300"), timedelta(hours=1))


def test_under_refuse_the_projection_stops_at_the_limit_and_says_when() -> None:
    """$0.20 left at $0.30/h: calls are refused from about 14:40, and spend ends at $1.00."""
    spent, window = recent_spend(burst(), status("refuse"), now=NOW)
    found = project(status("refuse"), spent, window, now=NOW)
    assert found.recent_per_hour == Decimal("0.3")
    assert found.average_per_hour == Decimal("0.057142857")  # $0.80 over 14 hours
    assert found.projected == Decimal("1.00")
    assert found.summary == "calls refused from about 14:40"
    assert found.limit_at == NOW + timedelta(minutes=40)
    assert not found.over_limit


def test_under_warn_the_projection_goes_past_the_limit() -> None:
    """A warn budget keeps spending: $0.80 + 10 h x $0.30 = $3.80, over the limit from 14:40."""
    spent, window = recent_spend(burst(), status("warn"), now=NOW)
    found = project(status("warn"), spent, window, now=NOW)
    assert found.projected == Decimal("3.80")
    assert found.summary == "over the limit from about 14:40"
    assert found.over_limit


@pytest.mark.parametrize("policy", ["refuse", "fallback", "warn"])
def test_a_slow_burn_stays_within_the_limit(policy: str) -> None:
    """$0.01 in the last hour projects $0.90 by midnight: within the limit, no time given."""
    records = [CostRecord(tool="openai", operation="chat", at=NOW, cost=Decimal("0.01"))]
    spent, window = recent_spend(records, status(policy), now=NOW)
    found = project(status(policy), spent, window, now=NOW)
    assert found.projected == Decimal("0.90")
    assert (found.limit_at, found.summary) == (None, "within the limit at this rate")
