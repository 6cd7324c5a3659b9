"""Budget enforcement on every ledger: reserve before, settle after, never overspend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from toolkeeper._clock import FakeClock
from toolkeeper._errors import BudgetExceeded
from toolkeeper.config import ExternalToolConfig
from toolkeeper.costs import (
    Budget,
    BudgetEvent,
    BudgetGuard,
    Ledger,
    Period,
    budgets_from_config,
    open_ledger,
)

from ._workers import CENT, dollar_a_day, hammer

DOLLAR = Decimal("1.00")


def test_sixteen_threads_admit_exactly_one_hundred_cent_calls(ledger: Ledger) -> None:
    """Admit exactly 100 of 16 x 20 one-cent calls against $1.00 and refuse the other 220."""
    guard = BudgetGuard([dollar_a_day()], ledger=ledger)
    assert hammer(guard, threads=16, calls=20) == (100, 220)
    (status,) = guard.status()
    assert status.spent == DOLLAR
    assert status.reserved == 0


def test_spend_survives_reopening_the_ledger(ledger_uri: str) -> None:
    """Find $1.00 spent after the ledger is closed and opened again (memory starts afresh)."""
    with open_ledger(ledger_uri) as ledger:
        assert hammer(BudgetGuard([dollar_a_day()], ledger=ledger), threads=16, calls=20)[0] == 100
    with open_ledger(ledger_uri) as reopened:
        guard = BudgetGuard([dollar_a_day()], ledger=reopened)
        (status,) = guard.status()
        if ledger_uri == "memory://":
            assert status.spent == 0
            return
        assert status.spent == DOLLAR
        with pytest.raises(BudgetExceeded):
            guard.reserve(CENT, tool="openai")


def test_refusal_names_budget_limit_spend_and_period_end(ledger: Ledger) -> None:
    """Say which budget refused, its limit, the spend and when the period ends, in local time."""
    clock = FakeClock(datetime(2026, 1, 15, 20, 0, tzinfo=UTC))
    budget = Budget(
        scope="tool:openai", limit=DOLLAR, period=Period("daily", time_zone="Europe/Paris")
    )
    guard = BudgetGuard([budget], ledger=ledger, clock=clock)
    guard.settle(guard.reserve(Decimal("0.95"), tool="openai"), Decimal("0.95"))
    held = guard.reserve(Decimal("0.04"), tool="openai")
    with pytest.raises(BudgetExceeded) as raised:
        guard.reserve(Decimal("0.02"), tool="openai")
    message = str(raised.value)
    assert raised.value.tool == "openai"
    for part in ("tool:openai|daily@Europe/Paris", "limit $1.00", "spent $0.95", "reserved $0.04"):
        assert part in message
    assert "2026-01-16T00:00:00+01:00" in message
    guard.release(held)


def test_settle_releases_the_difference_and_records_the_true_cost(ledger: Ledger) -> None:
    """Return estimate minus actual from settle, negative when the call cost more."""
    guard = BudgetGuard([dollar_a_day()], ledger=ledger)
    cheaper = guard.settle(guard.reserve(Decimal("0.30"), tool="openai"), Decimal("0.10"))
    dearer = guard.settle(guard.reserve(Decimal("0.10"), tool="openai"), Decimal("0.25"))
    assert cheaper.released == Decimal("0.20")
    assert dearer.released == Decimal("-0.15")
    (status,) = guard.status()
    assert status.spent == Decimal("0.35")
    assert status.reserved == 0


def test_release_gives_everything_back(ledger: Ledger) -> None:
    """Leave no spend and no reservation after a failed call is released."""
    guard = BudgetGuard([dollar_a_day()], ledger=ledger)
    reservation = guard.reserve(Decimal("0.90"), tool="openai")
    assert guard.status()[0].reserved == Decimal("0.90")
    with pytest.raises(BudgetExceeded):
        guard.reserve(Decimal("0.20"), tool="openai")
    guard.release(reservation)
    (status,) = guard.status()
    assert (status.spent, status.reserved) == (Decimal(0), Decimal(0))
    with pytest.raises(ValueError, match="already settled"):
        guard.settle(reservation, CENT)


def test_reservation_of_a_dead_caller_expires(ledger: Ledger) -> None:
    """Stop counting a reservation that was never settled once its time to live has passed."""
    clock = FakeClock(datetime(2026, 1, 15, 10, 0, tzinfo=UTC))
    guard = BudgetGuard(
        [dollar_a_day()], ledger=ledger, clock=clock, reservation_ttl=timedelta(minutes=5)
    )
    guard.reserve(DOLLAR, tool="openai")
    with pytest.raises(BudgetExceeded):
        guard.reserve(CENT, tool="openai")
    clock.advance(301)
    guard.settle(guard.reserve(CENT, tool="openai"), CENT)
    assert guard.status()[0].reserved == 0


def test_every_budget_of_a_call_must_afford_it(ledger: Ledger) -> None:
    """Refuse a call that its team's budget cannot afford though its tool's budget can."""
    team = Budget(scope="label:team=search", limit=Decimal("0.05"), period=Period("daily"))
    guard = BudgetGuard([dollar_a_day(), team], ledger=ledger)
    labels = {"team": "search"}
    for _ in range(5):
        guard.settle(guard.reserve(CENT, tool="openai", labels=labels), CENT)
    with pytest.raises(BudgetExceeded, match="label:team=search"):
        guard.reserve(CENT, tool="openai", labels=labels)
    guard.settle(guard.reserve(CENT, tool="openai", labels={"team": "ads"}), CENT)
    spent = {status.budget.scope: status.spent for status in guard.status()}
    assert spent == {"tool:openai": Decimal("0.06"), "label:team=search": Decimal("0.05")}


def test_fallback_policy_routes_instead_of_raising(ledger: Ledger) -> None:
    """Return a reservation marked fallback, holding nothing, when a fallback budget is spent."""
    budget = Budget(scope="tool:openai", limit=CENT, period=Period("daily"), policy="fallback")
    guard = BudgetGuard([budget], ledger=ledger)
    guard.settle(guard.reserve(CENT, tool="openai"), CENT)
    routed = guard.reserve(CENT, tool="openai")
    assert routed.fallback
    assert routed.refusal is not None
    assert "tool:openai" in routed.refusal
    assert guard.settle(routed, Decimal(0)).events == ()
    assert guard.status()[0].spent == CENT


def test_warn_policy_admits_over_the_limit_and_says_so_once(ledger: Ledger) -> None:
    """Admit calls beyond a warn budget's limit and emit its limit event once."""
    events: list[BudgetEvent] = []
    budget = Budget(
        scope="tool:openai", limit=Decimal("0.02"), period=Period("daily"), policy="warn"
    )
    guard = BudgetGuard([budget], ledger=ledger, on_event=events.append)
    for _ in range(4):
        guard.settle(guard.reserve(CENT, tool="openai"), CENT)
    assert guard.status()[0].spent == Decimal("0.04")
    assert [event.kind for event in events] == ["threshold", "threshold", "limit"]
    assert events[-1].spent == Decimal("0.02")


def test_unreserved_spend_is_recorded_and_counts(ledger: Ledger) -> None:
    """Count a cost recorded after the fact against the budget without refusing it."""
    guard = BudgetGuard([dollar_a_day()], ledger=ledger)
    events = guard.record(Decimal("0.85"), tool="openai")
    assert [event.threshold for event in events] == [0.8]
    with pytest.raises(BudgetExceeded):
        guard.reserve(Decimal("0.20"), tool="openai")


def test_calls_outside_every_budget_pass_untouched() -> None:
    """Admit a call of a tool without budgets and record nothing."""
    guard = BudgetGuard([dollar_a_day()])
    reservation = guard.reserve(Decimal("100"), tool="other")
    assert not reservation.charges
    assert guard.settle(reservation, Decimal("100")).spent == Decimal("100")
    assert guard.status()[0].spent == 0


def test_budgets_come_from_a_tool_configuration() -> None:
    """Build daily and monthly budgets with the tool's thresholds from ExternalToolConfig."""
    config = ExternalToolConfig(
        daily_budget=Decimal("5"), monthly_budget=Decimal("100"), budget_alert_thresholds=[0.5]
    )
    budgets = budgets_from_config("openai", config, time_zone="Asia/Tokyo", policy="fallback")
    assert [(b.period.key, b.limit, b.thresholds, b.policy) for b in budgets] == [
        ("daily@Asia/Tokyo", Decimal("5"), (0.5,), "fallback"),
        ("monthly@Asia/Tokyo", Decimal("100"), (0.5,), "fallback"),
    ]


def test_budget_rejects_bad_settings() -> None:
    """Name the rule broken by a bad scope, a negative limit, a threshold or a policy."""
    daily = Period("daily")
    with pytest.raises(ValueError, match="kind:name"):
        Budget(scope="openai", limit=DOLLAR, period=daily)
    with pytest.raises(ValueError, match=r"from \$0\.00 to"):
        Budget(scope="tool:openai", limit=Decimal(-1), period=daily)
    with pytest.raises(ValueError, match="fraction"):
        Budget(scope="tool:openai", limit=DOLLAR, period=daily, thresholds=(80,))
    with pytest.raises(ValueError, match="policy"):
        Budget(scope="tool:openai", limit=DOLLAR, period=daily, policy="pray")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="share a scope"):
        BudgetGuard([dollar_a_day(), dollar_a_day()])


def test_open_ledger_names_supported_schemes() -> None:
    """Refuse an unknown ledger scheme, listing the supported ones."""
    with pytest.raises(ValueError, match=r"memory://.*redis://.*sqlite://"):
        open_ledger("mongodb://localhost")


def test_a_rolling_window_frees_spend_after_its_hours(ledger: Ledger) -> None:
    """Refuse within an hour of spending a rolling hour's budget, and admit once it has passed."""
    clock = FakeClock(datetime(2026, 1, 15, 10, 0, 30, tzinfo=UTC))
    budget = Budget(scope="tool:openai", limit=DOLLAR, period=Period("rolling", hours=1))
    guard = BudgetGuard([budget], ledger=ledger, clock=clock)
    guard.settle(guard.reserve(DOLLAR, tool="openai"), DOLLAR)
    clock.advance(59 * 60)
    with pytest.raises(BudgetExceeded, match="rolling 1h window"):
        guard.reserve(CENT, tool="openai")
    # The spend fell in the bucket 10:00-10:01, which counts until 11:01 (an hour and a bucket).
    clock.advance(89)
    with pytest.raises(BudgetExceeded):
        guard.reserve(CENT, tool="openai")
    clock.advance(1)
    guard.settle(guard.reserve(CENT, tool="openai"), CENT)
    assert guard.status()[0].spent == CENT
