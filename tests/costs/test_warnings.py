"""Warning thresholds fire once each per period, on calendar days of a non-UTC time zone."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from toolkeeper._clock import FakeClock
from toolkeeper.costs import Budget, BudgetEvent, BudgetGuard, Ledger, Period

from ._workers import run_workers, spend_cents

LOS_ANGELES = "America/Los_Angeles"


def _spend(guard: BudgetGuard, amount: str) -> None:
    guard.settle(guard.reserve(Decimal(amount), tool="openai"), Decimal(amount))


def test_thresholds_fire_once_per_local_day_across_midnight(ledger: Ledger) -> None:
    """Fire 80% and 95% once on each Los Angeles day; spend after local midnight starts afresh."""
    # 23:00 in Los Angeles on 14 January is 07:00 UTC on the 15th; local midnight is 08:00 UTC.
    clock = FakeClock(datetime(2026, 1, 15, 7, 0, tzinfo=UTC))
    events: list[BudgetEvent] = []
    budget = Budget(
        scope="tool:openai",
        limit=Decimal("1.00"),
        period=Period("daily", time_zone=LOS_ANGELES),
        thresholds=(0.8, 0.95),
    )
    guard = BudgetGuard([budget], ledger=ledger, clock=clock, on_event=events.append)

    _spend(guard, "0.50")
    _spend(guard, "0.35")  # 0.85: passes 80%
    _spend(guard, "0.01")  # 0.86: nothing new
    _spend(guard, "0.10")  # 0.96: passes 95%
    _spend(guard, "0.01")  # 0.97: nothing new
    assert [(e.threshold, e.spent) for e in events] == [
        (0.8, Decimal("0.85")),
        (0.95, Decimal("0.96")),
    ]
    old_day = events[0]
    assert old_day.period_start == datetime(2026, 1, 14, 8, 0, tzinfo=UTC)
    assert old_day.period_end == datetime(2026, 1, 15, 8, 0, tzinfo=UTC)

    clock.advance(59 * 60)  # 23:59 local, still the 14th
    _spend(guard, "0.02")  # 0.99 on the old day
    assert len(events) == 2
    assert guard.status()[0].spent == Decimal("0.99")

    clock.advance(2 * 60)  # 00:01 local on the 15th: still 15 January in UTC too
    assert guard.status()[0].spent == 0
    _spend(guard, "0.79")
    assert len(events) == 2
    _spend(guard, "0.01")  # 0.80 exactly: passes 80% of the new day
    _spend(guard, "0.20")  # 1.00: passes 95% and reaches the limit
    new_day = events[2:]
    assert [(e.kind, e.threshold, e.spent) for e in new_day] == [
        ("threshold", 0.8, Decimal("0.80")),
        ("threshold", 0.95, Decimal("1.00")),
        ("limit", 1.0, Decimal("1.00")),
    ]
    assert new_day[0].period_start == datetime(2026, 1, 15, 8, 0, tzinfo=UTC)


def test_a_threshold_fires_once_across_four_processes(redis_url: str) -> None:
    """Emit each warning once in total though four processes share the Redis ledger."""
    outcomes = run_workers(spend_cents, 4, redis_url, 2, 20)
    assert sum(admitted for admitted, _, _ in outcomes) == 100
    fired = sorted(label for _, _, labels in outcomes for label in labels)
    assert fired == ["0.8", "0.95", "limit"]


def test_monthly_periods_follow_the_local_calendar(ledger: Ledger) -> None:
    """Start a Tokyo month at local midnight, while it is still the previous month in UTC."""
    clock = FakeClock(datetime(2026, 1, 31, 14, 59, tzinfo=UTC))  # 23:59 on 31 January in Tokyo
    budget = Budget(
        scope="tool:openai", limit=Decimal("10"), period=Period("monthly", time_zone="Asia/Tokyo")
    )
    guard = BudgetGuard([budget], ledger=ledger, clock=clock)
    _spend(guard, "9.50")
    clock.advance(120)  # 00:01 on 1 February in Tokyo, 15:01 on 31 January in UTC
    (status,) = guard.status()
    assert status.spent == 0
    assert status.period_start == datetime(2026, 1, 31, 15, 0, tzinfo=UTC)
    assert status.period_end == datetime(2026, 2, 28, 15, 0, tzinfo=UTC)
    _spend(guard, "9.50")
