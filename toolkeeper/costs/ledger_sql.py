"""A ledger in the SQL store (SQLite or PostgreSQL): spend survives restarts and is shared.

Each reservation that reaches the database is one write transaction under the
store's budget lock (see :mod:`toolkeeper.store.spend`), so the
read-check-insert cannot interleave with another writer's, whichever process
it runs in. Settles of wrapped calls are queued and written in batches, one
transaction each (:mod:`toolkeeper.costs.ledger_batch`).

Leases: while a budget is far from its limit (at least :data:`LEASE_HEADROOM`
leases of room left on every blocking budget of the call), a reservation that
reaches the database holds a *lease* of :data:`LEASE_CALLS` times the call's
estimate instead of the estimate alone, and the next calls of the same
budgets in this process draw their reservations from it in memory, with no
transaction. The lease is one reservation row per budget, so every process
counts the whole of it as reserved: nothing can be overspent. Each settle of
a drawn call adds its spend and shrinks the lease's row by what the call
drew; a lease stops serving calls after :data:`LEASE_SECONDS`, or once too
small, and what no call drew is given back by the next transaction, by a timer
when the process has gone quiet, or on close. Near a limit no lease is taken,
and a call this process would refuse first gives back its own leases and looks
again, so every call near a limit is checked against the database alone.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from toolkeeper._errors import StoreError
from toolkeeper.costs.budgets import Charge, admits, thresholds_reached
from toolkeeper.costs.ledger import ADMITTED, Fired, Overshoot, Verdict
from toolkeeper.costs.ledger_batch import PendingSettle, QueuedLedger
from toolkeeper.store.spend import BudgetTables, BudgetTransaction
from toolkeeper.store.sql import Store

__all__ = ["LEASE_CALLS", "LEASE_HEADROOM", "LEASE_SECONDS", "SqlLedger"]

_log = logging.getLogger("toolkeeper.costs")

#: A lease holds this many times the estimate of the call that takes it.
LEASE_CALLS = 64
#: A lease is taken only while every blocking budget has room for this many more of it.
LEASE_HEADROOM = 16
#: How long a lease serves new calls before what is left of it is given back.
LEASE_SECONDS = 2.0


@dataclass(slots=True, eq=False)
class _Lease:
    """A block of budget held in the database, from which this process's calls draw."""

    id: str
    charges: tuple[tuple[str, int, int], ...]
    left: int
    until: float


class SqlLedger(QueuedLedger):
    """Keep spend in the budget tables of ``store``; ``owns_store`` closes it with the ledger."""

    def __init__(self, store: Store, *, owns_store: bool = False) -> None:
        self._tables = BudgetTables(store)
        self._owns_store = owns_store
        self.uri = store.uri
        super().__init__(name="store")
        self._leases_lock = threading.Lock()
        # Per set of charges (key, bucket, limit): the lease calls draw from now.
        self._leases: dict[tuple[tuple[str, int, int], ...], _Lease] = {}
        # Leases that stopped serving calls, whose unused part is not yet given back.
        self._retired: list[_Lease] = []
        # Reservation id -> (lease id, amount) of a reservation drawn from a lease.
        self._drawn: dict[str, tuple[str, int]] = {}
        self._watch: threading.Timer | None = None
        # This process's budget writes queue here rather than in SQLite's busy handler,
        # whose backoff sleeps (up to 100 ms) would stall a call behind a batch of settles.
        self._write_lock = threading.Lock()
        self._closed = False

    def _check_and_hold(
        self, charges: Sequence[Charge], amount: int, rid: str, now: datetime, expires: datetime
    ) -> Verdict:
        """Draw ``amount`` from this process's lease, else check and hold in one transaction."""
        which = tuple((charge.key, charge.bucket, charge.limit) for charge in charges)
        with self._leases_lock:
            if self._draw(which, amount, rid):
                return ADMITTED
            with self._writing() as tx:
                return self._check_in(
                    tx, charges, which, amount, amount * LEASE_CALLS, rid, now, expires
                )

    def _draw(self, which: tuple[tuple[str, int, int], ...], amount: int, rid: str) -> bool:
        """Draw ``amount`` from the lease of ``which`` if it can serve it (holding the lock)."""
        lease = self._leases.get(which)
        if lease is None:
            return False
        if lease.left >= amount and time.monotonic() < lease.until:
            lease.left -= amount
            self._drawn[rid] = (lease.id, amount)
            return True
        del self._leases[which]
        self._retired.append(lease)
        return False

    def _check_in(  # noqa: PLR0917 - one reservation's parts
        self,
        tx: BudgetTransaction,
        charges: Sequence[Charge],
        which: tuple[tuple[str, int, int], ...],
        amount: int,
        size: int,
        reservation_id: str,
        now: datetime,
        expires: datetime,
    ) -> Verdict:
        """Check every blocking charge; hold a lease far from the limits, else the amount alone."""
        self._give_back(tx)
        leasable = size > 0
        for index, charge in enumerate(charges):
            if not charge.blocking:
                continue
            tx.drop_expired(charge.key, now=now)
            spent = tx.spent(charge.key, since=charge.since, until=charge.bucket)
            reserved = tx.reserved(charge.key, now=now)
            if not admits(limit=charge.limit, spent=spent, reserved=reserved, amount=amount):
                if self._leases:
                    # This process's own leases may hold what is missing: give them back first.
                    self._retired.extend(self._leases.values())
                    self._leases.clear()
                    return self._check_in(
                        tx, charges, which, amount, 0, reservation_id, now, expires
                    )
                return Verdict(False, index, spent, reserved)
            leasable = leasable and charge.limit - spent - reserved >= size * LEASE_HEADROOM
        if not leasable:
            for charge in charges:
                tx.add_reservation(reservation_id, charge.key, amount=amount, expires=expires)
            return ADMITTED
        lease = _Lease(
            id=f"lease-{uuid.uuid4().hex}",
            charges=which,
            left=size - amount,
            until=time.monotonic() + LEASE_SECONDS,
        )
        until = expires + timedelta(seconds=LEASE_SECONDS)
        for charge in charges:
            tx.add_reservation(lease.id, charge.key, amount=size, expires=until)
        self._leases[which] = lease
        self._drawn[reservation_id] = (lease.id, amount)
        self._watch_leases()
        return ADMITTED

    @contextmanager
    def _writing(self) -> Iterator[BudgetTransaction]:
        """Yield a budget write transaction, one at a time in this process."""
        with self._write_lock, self._tables.writing() as tx:
            yield tx

    def _watch_leases(self) -> None:
        """Give back, once they stop serving calls, the leases of a process gone quiet."""
        if self._watch is None:
            self._watch = threading.Timer(LEASE_SECONDS, self._retire_stale)
            self._watch.daemon = True
            self._watch.start()

    def _retire_stale(self) -> None:
        with self._leases_lock:
            self._watch = None
            moment = time.monotonic()
            for which, lease in list(self._leases.items()):
                if moment >= lease.until:
                    del self._leases[which]
                    self._retired.append(lease)
            try:
                if self._retired and not self._closed:
                    with self._writing() as tx:
                        self._give_back(tx)
            except StoreError:
                _log.exception("could not give back budget leases; they expire on their own")
            if self._leases:
                self._watch_leases()

    def _give_back(self, tx: BudgetTransaction) -> None:
        """Shrink the rows of retired leases by what no call drew (holding the leases lock)."""
        for lease in self._retired:
            if lease.left:
                for key, _, _ in lease.charges:
                    tx.shrink_reservation(lease.id, key, lease.left)
                lease.left = 0
        self._retired.clear()

    def _settle(
        self, charges: Sequence[Charge], amount: int, rid: str | None, now: datetime
    ) -> list[Fired]:
        """Drop the reservation, add the spend and mark the warnings it reached."""
        drawn = self._undraw(rid)
        with self._writing() as tx:
            return _settle_in(tx, charges, amount, rid, now, drawn)

    def _lease_of(self, rid: str) -> tuple[str, int] | None:
        """Return (lease id, amount) when the reservation was drawn from a lease."""
        return self._undraw(rid)

    def _undraw(self, reservation_id: str | None) -> tuple[str, int] | None:
        """Return (lease id, amount) when the reservation was drawn from a lease."""
        if reservation_id is None:
            return None
        with self._leases_lock:
            return self._drawn.pop(reservation_id, None)

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
        with self._leases_lock:
            self._closed = True
            if self._watch is not None:
                self._watch.cancel()
            self._retired.extend(self._leases.values())
            self._leases.clear()
            if self._retired:
                with self._writing() as tx:
                    self._give_back(tx)
        if self._owns_store:
            self._tables.store.close()


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
