"""Settles written off the caller's thread: exact on every read, never overspending a budget."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest

from toolkeeper._errors import BudgetExceeded
from toolkeeper.costs import Budget, BudgetEvent, BudgetGuard, Ledger, Period, open_ledger
from toolkeeper.costs.money import to_nanos

CENT = Decimal("0.01")


def _dollar() -> Budget:
    return Budget(scope="tool:openai", limit=Decimal("1.00"), period=Period("daily"))


def test_a_read_of_spend_includes_every_settle_queued_before_it(ledger: Ledger) -> None:
    """Show the exact spend of 50 settles queued off the caller's thread as soon as it is read."""
    guard = BudgetGuard([_dollar()], ledger=ledger)
    for _ in range(50):
        guard.settle_later(guard.reserve(Decimal("0.02"), tool="openai"), to_nanos(CENT))
    status = guard.status()[0]
    assert status.spent == Decimal("0.50")
    assert status.reserved == 0


def test_a_refusal_waits_for_queued_settles_that_free_the_budget(ledger: Ledger) -> None:
    """Admit a call that fits once a queued settle has given back most of its reservation."""
    guard = BudgetGuard([_dollar()], ledger=ledger)
    guard.settle_later(guard.reserve(Decimal("0.90"), tool="openai"), to_nanos(CENT))
    reservation = guard.reserve(Decimal("0.50"), tool="openai")
    guard.settle(reservation, Decimal("0.50"))
    assert guard.status()[0].spent == Decimal("0.51")


def test_queued_settles_reach_another_ledger_once_flushed(ledger_uri: str) -> None:
    """Show another connection the spend of queued settles after the first ledger flushes."""
    with open_ledger(ledger_uri) as first:
        guard = BudgetGuard([_dollar()], ledger=first)
        for _ in range(10):
            guard.settle_later(guard.reserve(CENT, tool="openai"), to_nanos(CENT))
        first.flush()
        if ledger_uri == "memory://":
            other = guard  # a memory ledger is this process's only
        else:
            other = BudgetGuard([_dollar()], ledger=open_ledger(ledger_uri))
        try:
            assert other.status()[0].spent == Decimal("0.10")
            assert other.status()[0].reserved == 0
        finally:
            if other is not guard:
                other.ledger.close()


def test_closing_a_ledger_writes_its_queued_settles(ledger_uri: str) -> None:
    """Keep the spend of settles still queued when their ledger is closed."""
    ledger = open_ledger(ledger_uri)
    guard = BudgetGuard([_dollar()], ledger=ledger)
    for _ in range(5):
        guard.settle_later(guard.reserve(CENT, tool="openai"), to_nanos(Decimal("0.03")))
    ledger.close()
    if ledger_uri == "memory://":
        return  # nothing outlives a memory ledger; it settles at once
    with open_ledger(ledger_uri) as reopened:
        status = BudgetGuard([_dollar()], ledger=reopened).status()[0]
        assert status.spent == Decimal("0.15")
        assert status.reserved == 0


def test_warnings_of_queued_settles_reach_on_event_once_written(ledger: Ledger) -> None:
    """Emit the 80% warning and the limit of queued settles, each once, by the next read."""
    events: list[BudgetEvent] = []
    guard = BudgetGuard([_dollar()], ledger=ledger, on_event=events.append)
    for _ in range(10):
        guard.settle_later(guard.reserve(Decimal("0.10"), tool="openai"), to_nanos(Decimal("0.10")))
    assert guard.status()[0].spent == Decimal("1.00")
    assert sorted(event.kind for event in events) == ["limit", "threshold", "threshold"]
    with pytest.raises(BudgetExceeded, match="cannot afford"):
        guard.reserve(CENT, tool="openai")


def test_sixteen_threads_settling_later_never_overspend(ledger: Ledger) -> None:
    """Admit exactly 100 of 16 threads x 20 one-cent calls settled later; $1.00 is spent."""
    guard = BudgetGuard([_dollar()], ledger=ledger)
    admitted: list[int] = []

    def worker() -> None:
        count = 0
        for _ in range(20):
            try:
                reservation = guard.reserve(CENT, tool="openai")
            except BudgetExceeded:
                continue
            count += 1
            guard.settle_later(reservation, to_nanos(CENT))
        admitted.append(count)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(admitted) == 100
    assert guard.status()[0].spent == Decimal("1.00")
