"""A ledger in the SQL store (SQLite or PostgreSQL): spend survives restarts and is shared.

Each reservation that reaches the database is one write transaction under the
store's budget lock (see :mod:`toolkeeper.store.spend`), so the
read-check-insert cannot interleave with another writer's, whichever process
it runs in. Settles of wrapped calls are queued and written in batches, one
transaction each (:mod:`toolkeeper.costs.ledger_batch`).

Far from a limit, a reservation that reaches the database holds a lease for
this process's next calls (:mod:`toolkeeper.costs.leases`): one reservation row
per budget of the lease's size; a drawn call's settle shrinks the row by what
it drew, and what no call drew is given back in the next transaction.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timedelta

from toolkeeper.costs.budgets import Charge, admits, thresholds_reached
from toolkeeper.costs.leases import LEASE_CALLS, LEASE_HEADROOM, LEASE_SECONDS, Lease
from toolkeeper.costs.ledger import ADMITTED, Fired, Overshoot, Verdict
from toolkeeper.costs.ledger_batch import Ask, PendingSettle, QueuedLedger
from toolkeeper.store.spend import BudgetTables, BudgetTransaction
from toolkeeper.store.sql import Store

# The lease constants are named here too, where the SQL ledger first took leases.
__all__ = ["LEASE_CALLS", "LEASE_HEADROOM", "LEASE_SECONDS", "SqlLedger"]


class SqlLedger(QueuedLedger[BudgetTransaction]):
    """Keep spend in the budget tables of ``store``; ``owns_store`` closes it with the ledger."""

    def __init__(
        self,
        store: Store,
        *,
        owns_store: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Use ``store``'s budget tables; ``clock`` (monotonic seconds) times the leases."""
        self._tables = BudgetTables(store)
        self._owns_store = owns_store
        self.uri = store.uri
        super().__init__(name="store", clock=clock)
        # This process's budget writes queue here rather than in SQLite's busy handler,
        # whose backoff sleeps (up to 100 ms) would stall a call behind a batch of settles.
        self._write_lock = threading.Lock()

    def _reserving(self) -> AbstractContextManager[BudgetTransaction]:
        """Return a budget write transaction: a reservation and its retry run in one."""
        return self._writing()

    def _reserve_once(
        self, tx: BudgetTransaction, ask: Ask, size: int, returned: list[Lease]
    ) -> Verdict:
        """Give back ``returned``, check every blocking charge, then hold a lease or the amount."""
        _give_back_in(tx, returned)
        leasable = size > 0
        for index, charge in enumerate(ask.charges):
            if not charge.blocking:
                continue
            tx.drop_expired(charge.key, now=ask.now)
            spent = tx.spent(charge.key, since=charge.since, until=charge.bucket)
            reserved = tx.reserved(charge.key, now=ask.now)
            if not admits(limit=charge.limit, spent=spent, reserved=reserved, amount=ask.amount):
                return Verdict(False, index, spent, reserved)
            room = charge.limit - spent - reserved
            leasable = leasable and room >= self._leases.room_for(size)
        if not leasable:
            for charge in ask.charges:
                tx.add_reservation(ask.rid, charge.key, amount=ask.amount, expires=ask.expires)
            return ADMITTED
        lease_id = self._leases.new_id()
        until = ask.expires + timedelta(seconds=LEASE_SECONDS)
        for charge in ask.charges:
            tx.add_reservation(lease_id, charge.key, amount=size, expires=until)
        self._leases.taken(ask.which, lease_id, size, ask.amount, ask.rid)
        return ADMITTED

    @contextmanager
    def _writing(self) -> Iterator[BudgetTransaction]:
        """Yield a budget write transaction, one at a time in this process."""
        with self._write_lock, self._tables.writing() as tx:
            yield tx

    def _give_back(self, leases: list[Lease]) -> None:
        """Shrink the rows of ``leases`` by what no call drew, in one transaction."""
        with self._writing() as tx:
            _give_back_in(tx, leases)

    def _settle(
        self, charges: Sequence[Charge], amount: int, rid: str | None, now: datetime
    ) -> list[Fired]:
        """Drop the reservation, add the spend and mark the warnings it reached."""
        drawn = self._leases.undraw(rid)
        with self._writing() as tx:
            return _settle_in(tx, charges, amount, rid, now, drawn)

    def _write_batch(self, batch: list[PendingSettle]) -> list[list[Fired]]:
        """Write a batch in one transaction, its settles summed per lease and per budget set.

        Spend is added once per set of charges (the sum of the batch's), so warnings
        fire on the batch's final spend: they go to the last settle of each set.
        """
        shrinks: dict[tuple[str, str], int] = {}
        drops: list[tuple[str, Sequence[Charge]]] = []
        last: dict[tuple[tuple[str, int], ...], int] = {}
        sums: dict[tuple[tuple[str, int], ...], int] = {}
        for position, item in enumerate(batch):
            if item.lease is not None:
                for charge in item.charges:
                    held = (item.lease[0], charge.key)
                    shrinks[held] = shrinks.get(held, 0) + item.lease[1]
            elif item.reservation_id is not None:
                drops.append((item.reservation_id, item.charges))
            which = tuple((charge.key, charge.bucket) for charge in item.charges)
            sums[which] = sums.get(which, 0) + item.amount
            last[which] = position
        results: list[list[Fired]] = [[] for _ in batch]
        with self._writing() as tx:
            for (lease_id, budget), amount in shrinks.items():
                tx.shrink_reservation(lease_id, budget, amount)
            for reservation_id, charges in drops:
                for charge in charges:
                    tx.drop_reservation(reservation_id, charge.key)
            for which, position in last.items():
                item = batch[position]
                results[position] = _settle_in(tx, item.charges, sums[which], None, item.now, None)
        return results

    def _usage(self, charge: Charge, now: datetime) -> tuple[int, int]:
        """Return (spend in the charge's window, live reservations).

        Reservations include leases: money held for this process's next calls.
        """
        with self._tables.reading() as tx:
            spent = tx.spent(charge.key, since=charge.since, until=charge.bucket)
            return spent, tx.reserved(charge.key, now=now)

    def add_overshoot(self, tool: str, amount: int, *, now: datetime) -> None:
        """Add one call and ``amount`` to ``tool``'s overshoot totals, under the budget lock."""
        with self._writing() as tx:
            tx.add_overshoot(tool, amount=amount, now=now)

    def overshoots(self) -> dict[str, Overshoot]:
        """Return every tool's overshoot totals, as every process sharing the store counted them."""
        with self._tables.reading() as tx:
            rows = tx.overshoots()
        return {
            tool: Overshoot.from_nanos(calls, amount, largest)
            for tool, calls, amount, largest in rows
        }

    def close(self) -> None:
        """Write queued settles, give leases back, and close the store if this ledger opened it."""
        super().close()
        if self._owns_store:
            self._tables.store.close()


def _give_back_in(tx: BudgetTransaction, leases: list[Lease]) -> None:
    for lease in leases:
        for key, _, _ in lease.charges:
            tx.shrink_reservation(lease.id, key, lease.left)


def _settle_in(  # noqa: PLR0917 - one settle's parts
    tx: BudgetTransaction,
    charges: Sequence[Charge],
    amount: int,
    reservation_id: str | None,
    now: datetime,
    lease: tuple[str, int] | None,
) -> list[Fired]:
    fired: list[Fired] = []
    for index, charge in enumerate(charges):
        if lease is not None:
            tx.shrink_reservation(lease[0], charge.key, lease[1])
        elif reservation_id is not None:
            tx.drop_reservation(reservation_id, charge.key)
        if amount:
            tx.add_spend(charge.key, bucket=charge.bucket, amount=amount, now=now)
        spent = tx.spent(charge.key, since=charge.since, until=charge.bucket)
        fired.extend(
            Fired(index, label, spent)
            for label in thresholds_reached(charge, spent)
            if tx.mark_warning(
                charge.key, period=charge.period, threshold=label, spent=spent, now=now
            )
        )
    return fired
