"""The Redis ledger's running total of reservations."""

from __future__ import annotations

from decimal import Decimal

import redis

from toolkeeper.costs import Budget, BudgetGuard, Period, open_ledger


def test_reservations_written_before_the_running_total_still_count(redis_url: str) -> None:
    """Count holds whose running total is missing (keys of an older version) once, exactly."""
    budget = Budget(scope="tool:openai", limit=Decimal("1.00"), period=Period("daily"))
    with open_ledger(redis_url) as ledger:
        guard = BudgetGuard([budget], ledger=ledger)
        first = guard.reserve(Decimal("0.30"), tool="openai")
        guard.reserve(Decimal("0.20"), tool="openai")
        client = redis.Redis.from_url(redis_url)
        try:
            totals = list(client.scan_iter(match="toolkeeper:budget:*|rt"))
            assert len(totals) == 1
            client.delete(*totals)
        finally:
            client.close()
        assert guard.status()[0].reserved == Decimal("0.50")
        guard.settle(first, Decimal("0.10"))
        status = guard.status()[0]
        assert (status.spent, status.reserved) == (Decimal("0.10"), Decimal("0.20"))
