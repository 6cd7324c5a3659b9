"""Property tests of budget arithmetic: admitted spend never passes the limit."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from toolkeeper._clock import FakeClock
from toolkeeper._errors import BudgetExceeded
from toolkeeper.costs import Budget, BudgetGuard, Period, Reservation
from toolkeeper.costs.budgets import admits

nanos = st.integers(min_value=0, max_value=10**12)
money = st.decimals(min_value=0, max_value=Decimal("2"), places=9, allow_nan=False)


@given(limit=nanos, spent=nanos, reserved=nanos, amount=nanos)
def test_admission_never_commits_beyond_the_limit(
    limit: int, spent: int, reserved: int, amount: int
) -> None:
    """Admit only when spend, reservations and the amount fit, and never at a full budget."""
    if admits(limit=limit, spent=spent, reserved=reserved, amount=amount):
        assert spent + reserved + amount <= limit
        assert spent + reserved < limit
    elif spent + reserved < limit:
        assert spent + reserved + amount > limit


@settings(max_examples=200, deadline=None)
@given(
    limit=st.decimals(min_value=0, max_value=Decimal("5"), places=2, allow_nan=False),
    steps=st.lists(
        st.tuples(st.sampled_from(["reserve", "settle", "release"]), money, st.floats(0, 1)),
        max_size=60,
    ),
)
def test_settling_at_most_the_estimate_keeps_spend_within_the_limit(
    limit: Decimal, steps: list[tuple[str, Decimal, float]]
) -> None:
    """Keep settled spend within the limit when calls cost no more than their estimate."""
    clock = FakeClock(datetime(2026, 1, 15, 12, tzinfo=UTC))
    guard = BudgetGuard([Budget(scope="tool:t", limit=limit, period=Period("daily"))], clock=clock)
    open_reservations: list[Reservation] = []
    admitted_spend = Decimal(0)
    for action, amount, share in steps:
        if action == "reserve":
            try:
                open_reservations.append(guard.reserve(amount, tool="t"))
            except BudgetExceeded:
                (status,) = guard.status()
                assert status.spent + status.reserved + amount > limit or (
                    status.spent + status.reserved >= limit
                )
        elif open_reservations:
            reservation = open_reservations.pop(int(share * (len(open_reservations) - 1)))
            actual = (
                Decimal(0)
                if action == "release"
                else (reservation.estimate * Decimal(repr(share))).quantize(Decimal("1e-9"))
            )
            settlement = guard.settle(reservation, actual)
            assert settlement.released == reservation.estimate - actual
            admitted_spend += actual
        (status,) = guard.status()
        assert status.spent == admitted_spend
        assert status.spent + status.reserved <= limit
