"""Leases of the shared ledgers (SQL, Redis): calls far from a limit draw from a held block."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from toolkeeper import FakeClock
from toolkeeper._errors import BudgetExceeded
from toolkeeper.config import ExternalToolConfig
from toolkeeper.costs import Budget, BudgetEvent, BudgetGuard, Ledger, Period, open_ledger
from toolkeeper.costs.leases import LEASE_SECONDS, Leases
from toolkeeper.costs.ledger_sql import LEASE_CALLS
from toolkeeper.costs.money import to_nanos
from toolkeeper.costs.settings import CostSettings
from toolkeeper.costs.tracker import CostTracker
from toolkeeper.store import open_store

MILLI = Decimal("0.001")


@pytest.fixture(params=["sqlite", "postgresql", "redis"])
def sql_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Return the URI of each shared ledger that leases: an SQLite file, PostgreSQL, Redis."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    url: str = request.getfixturevalue(
        "postgres_url" if request.param == "postgresql" else "redis_url"
    )
    return url


@pytest.fixture
def sql_ledger(sql_uri: str) -> Iterator[Ledger]:
    """Open the SQL ledger at ``sql_uri`` and close it afterwards."""
    opened = open_ledger(sql_uri)
    yield opened
    opened.close()


def _budget(limit: str) -> Budget:
    return Budget(scope="tool:openai", limit=Decimal(limit), period=Period("daily"))


def test_another_process_counts_the_whole_lease_as_reserved(sql_uri: str) -> None:
    """Show another connection the lease a call took, far from the limit, as reserved money."""
    with open_ledger(sql_uri) as first, open_ledger(sql_uri) as second:
        guard = BudgetGuard([_budget("100")], ledger=first)
        guard.reserve(MILLI, tool="openai")
        guard.reserve(MILLI, tool="openai")  # drawn from the lease: no new row
        seen = BudgetGuard([_budget("100")], ledger=second).status()[0]
        assert seen.reserved == MILLI * LEASE_CALLS
        assert seen.spent == 0


def test_near_its_limit_a_budget_holds_each_call_alone(sql_uri: str) -> None:
    """Hold exactly a call's estimate, no lease, when the budget has little room left."""
    with open_ledger(sql_uri) as first, open_ledger(sql_uri) as second:
        guard = BudgetGuard([_budget("1.00")], ledger=first)
        guard.reserve(Decimal("0.01"), tool="openai")
        assert BudgetGuard([_budget("1.00")], ledger=second).status()[0].reserved == Decimal("0.01")


def test_settled_lease_calls_show_exact_spend_and_closing_gives_the_rest_back(
    sql_uri: str,
) -> None:
    """Record 300 leased calls' exact spend, and hold nothing once the ledger is closed."""
    ledger = open_ledger(sql_uri)
    guard = BudgetGuard([_budget("100")], ledger=ledger)
    for _ in range(300):
        guard.settle_later(guard.reserve(MILLI, tool="openai"), to_nanos(Decimal("0.0005")))
    assert guard.status()[0].spent == Decimal("0.15")
    ledger.close()
    with open_ledger(sql_uri) as reopened:
        status = BudgetGuard([_budget("100")], ledger=reopened).status()[0]
        assert status.spent == Decimal("0.15")
        assert status.reserved == 0


def test_a_released_leased_call_spends_nothing(sql_ledger: Ledger) -> None:
    """Give back a leased call that failed: no spend, and the lease holds what no call drew."""
    guard = BudgetGuard([_budget("100")], ledger=sql_ledger)
    guard.release(guard.reserve(MILLI, tool="openai"))
    guard.settle(guard.reserve(MILLI, tool="openai"), MILLI)
    status = guard.status()[0]
    assert status.spent == MILLI
    assert status.reserved == MILLI * (LEASE_CALLS - 2)


def test_sixteen_threads_through_leases_then_alone_admit_exactly_the_limit(
    sql_ledger: Ledger,
) -> None:
    """Admit exactly 1,300 of 16 threads x 100 calls of $0.001 against $1.30, leases then not."""
    guard = BudgetGuard([_budget("1.30")], ledger=sql_ledger)
    admitted: list[int] = []

    def worker() -> None:
        count = 0
        for _ in range(100):
            try:
                reservation = guard.reserve(MILLI, tool="openai")
            except BudgetExceeded:
                continue
            count += 1
            guard.settle_later(reservation, to_nanos(MILLI))
        admitted.append(count)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(admitted) == 1300
    status = guard.status()[0]
    assert status.spent == Decimal("1.30")
    assert status.reserved == 0


def test_a_call_refused_only_by_its_own_lease_gives_the_lease_back_and_runs(sql_uri: str) -> None:
    """Admit $1.25 of $1.30 after a lease took $0.064: the lease's unused part is given back."""
    with open_ledger(sql_uri) as first, open_ledger(sql_uri) as second:
        guard = BudgetGuard([_budget("1.30")], ledger=first)
        guard.reserve(MILLI, tool="openai")
        other = BudgetGuard([_budget("1.30")], ledger=second)
        assert other.status()[0].reserved == MILLI * LEASE_CALLS
        guard.reserve(Decimal("1.25"), tool="openai")
        assert other.status()[0].reserved == Decimal("1.251")


def test_closing_gives_a_live_lease_back_to_other_processes(sql_uri: str) -> None:
    """Show another ledger nothing reserved once the ledger holding a lease is closed."""
    with open_ledger(sql_uri) as second:
        first = open_ledger(sql_uri)
        guard = BudgetGuard([_budget("100")], ledger=first)
        reservation = guard.reserve(MILLI, tool="openai")
        other = BudgetGuard([_budget("100")], ledger=second)
        # Read before the settle is queued: the writer thread may write it at any moment.
        assert other.status()[0].reserved == MILLI * LEASE_CALLS
        guard.settle_later(reservation, to_nanos(MILLI))
        first.close()
        status = other.status()[0]
        assert (status.spent, status.reserved) == (MILLI, 0)


def test_spend_and_the_lease_left_are_exact_in_another_ledger_once_flushed(
    sql_uri: str,
) -> None:
    """Read 40 drawn calls' exact spend and the lease's remaining hold from another ledger."""
    with open_ledger(sql_uri) as first, open_ledger(sql_uri) as second:
        guard = BudgetGuard([_budget("100")], ledger=first)
        for _ in range(40):
            guard.settle_later(guard.reserve(MILLI, tool="openai"), to_nanos(Decimal("0.0004")))
        first.flush()
        status = BudgetGuard([_budget("100")], ledger=second).status()[0]
        assert status.spent == Decimal("0.016")
        assert status.reserved == MILLI * (LEASE_CALLS - 40)


def test_two_processes_with_eight_threads_each_never_overshoot(sql_uri: str) -> None:
    """Two ledgers x 8 threads x 100 calls of $0.001 against $1.30: at most 1,300, spent exactly."""
    first, second = open_ledger(sql_uri), open_ledger(sql_uri)
    guards = [BudgetGuard([_budget("1.30")], ledger=ledger) for ledger in (first, second)]
    admitted: list[int] = []

    def worker(guard: BudgetGuard) -> None:
        count = 0
        for _ in range(100):
            try:
                reservation = guard.reserve(MILLI, tool="openai")
            except BudgetExceeded:
                continue
            count += 1
            guard.settle_later(reservation, to_nanos(MILLI))
        admitted.append(count)

    threads = [threading.Thread(target=worker, args=(guards[i % 2],)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    first.close()
    second.close()
    assert 0 < sum(admitted) <= 1300
    with open_ledger(sql_uri) as reopened:
        status = BudgetGuard([_budget("1.30")], ledger=reopened).status()[0]
        assert status.spent == MILLI * sum(admitted)
        assert status.reserved == 0


def test_warnings_of_leased_calls_fire_once(sql_ledger: Ledger) -> None:
    """Emit the 80% warning and the limit once each over 1,000 leased calls of $0.001."""
    events: list[BudgetEvent] = []
    guard = BudgetGuard([_budget("1.00")], ledger=sql_ledger, on_event=events.append)
    for _ in range(1000):
        guard.settle_later(guard.reserve(MILLI, tool="openai"), to_nanos(MILLI))
    assert guard.status()[0].spent == Decimal("1.00")
    assert sorted(event.kind for event in events) == ["limit", "threshold", "threshold"]


def test_a_lease_stops_serving_draws_once_its_seconds_pass_on_the_injected_clock() -> None:
    """Serve draws until LEASE_SECONDS on a fake clock, then none; give back what none drew."""
    clock = FakeClock()
    leases = Leases(lambda _: None, clock=clock.monotonic)
    which = (("tool:openai", 0, 1000),)
    try:
        leases.taken(which, "lease-1", 64, 1, "r0")
        clock.advance(LEASE_SECONDS / 2)
        assert leases.draw(which, 1, "r1")
        clock.advance(LEASE_SECONDS / 2)
        assert not leases.draw(which, 1, "r2")
        [returned] = leases.to_give_back()
        assert (returned.id, returned.left) == ("lease-1", 62)
    finally:
        leases.close()


def test_a_lease_past_its_seconds_on_the_ledgers_clock_is_given_back(sql_uri: str) -> None:
    """Give back a lease's unused part once the ledger's fake clock passes LEASE_SECONDS."""
    clock = FakeClock()
    with open_ledger(sql_uri, clock=clock.monotonic) as first, open_ledger(sql_uri) as second:
        guard = BudgetGuard([_budget("100")], ledger=first, clock=clock)
        other = BudgetGuard([_budget("100")], ledger=second, clock=clock)
        guard.reserve(MILLI, tool="openai")
        guard.reserve(MILLI, tool="openai")
        assert other.status()[0].reserved == MILLI * LEASE_CALLS
        clock.advance(LEASE_SECONDS)
        # The old lease holds its two drawn calls; what none drew is given back; a new one serves.
        guard.reserve(MILLI, tool="openai")
        assert other.status()[0].reserved == MILLI * (2 + LEASE_CALLS)


def test_a_cost_trackers_clock_times_the_leases_of_the_ledger_it_opens(tmp_path: Path) -> None:
    """Give back a lease once the tracker's fake clock passes LEASE_SECONDS, as its ledger's."""
    clock = FakeClock()
    with open_store(f"sqlite:///{tmp_path / 'state.db'}") as store:
        tracker = CostTracker.open(
            CostSettings(), config_of=lambda _: ExternalToolConfig(), tools=list,
            store=store, clock=clock,
        )  # fmt: skip
        try:
            guard = BudgetGuard([_budget("100")], ledger=tracker.ledger, clock=clock)
            guard.reserve(MILLI, tool="openai")
            guard.reserve(MILLI, tool="openai")
            clock.advance(LEASE_SECONDS)
            guard.reserve(MILLI, tool="openai")
            assert guard.status()[0].reserved == MILLI * (2 + LEASE_CALLS)
        finally:
            tracker.close()
