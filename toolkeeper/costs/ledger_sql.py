"""A ledger in the SQL store (SQLite or PostgreSQL): spend survives restarts and is shared.

Each reserve and settle is one write transaction under the store's budget
lock (see :mod:`toolkeeper.store.spend`), so the read-check-insert cannot
interleave with another writer's, whichever process it runs in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from toolkeeper.costs.budgets import Charge, admits, thresholds_reached
from toolkeeper.costs.ledger import Fired, Ledger, Overshoot, Verdict
from toolkeeper.costs.ledger_batch import DeferredSettles, PendingSettle
from toolkeeper.store.spend import BudgetTables, BudgetTransaction
from toolkeeper.store.sql import Store

__all__ = ["SqlLedger"]


class SqlLedger(Ledger):
    """Keep spend in the budget tables of ``store``; ``owns_store`` closes it with the ledger."""

    def __init__(self, store: Store, *, owns_store: bool = False) -> None:
        self._tables = BudgetTables(store)
        self._owns_store = owns_store
        self.uri = store.uri
        self._deferred = DeferredSettles(self._write_batch, name="store")

    def reserve(
        self,
        charges: Sequence[Charge],
        amount: int,
        *,
        reservation_id: str,
        now: datetime,
        expires: datetime,
    ) -> Verdict:
        """Check every blocking charge and, if all admit ``amount``, reserve it on each."""
        mark = self._deferred.written
        verdict = self._reserve(charges, amount, reservation_id, now, expires)
        if not verdict.admitted and self._deferred.changed_since(mark):
            # Settles still queued may free what refused it: write them and look again.
            self._deferred.flush()
            verdict = self._reserve(charges, amount, reservation_id, now, expires)
        return verdict

    def _reserve(
        self,
        charges: Sequence[Charge],
        amount: int,
        reservation_id: str,
        now: datetime,
        expires: datetime,
    ) -> Verdict:
        with self._tables.writing() as tx:
            for index, charge in enumerate(charges):
                if not charge.blocking:
                    continue
                tx.drop_expired(charge.key, now=now)
                spent = tx.spent(charge.key, since=charge.since, until=charge.bucket)
                reserved = tx.reserved(charge.key, now=now)
                if not admits(limit=charge.limit, spent=spent, reserved=reserved, amount=amount):
                    return Verdict(False, index, spent, reserved)
            for charge in charges:
                tx.add_reservation(reservation_id, charge.key, amount=amount, expires=expires)
        return Verdict(True)

    def settle(
        self,
        charges: Sequence[Charge],
        amount: int,
        *,
        reservation_id: str | None,
        now: datetime,
    ) -> list[Fired]:
        """Drop the reservation, add the spend and mark the warnings it reached."""
        with self._tables.writing() as tx:
            return _settle(tx, charges, amount, reservation_id, now)

    def settle_later(
        self,
        charges: Sequence[Charge],
        amount: int,
        *,
        reservation_id: str,
        now: datetime,
        then: Callable[[list[Fired]], object] | None = None,
    ) -> None:
        """Queue the settle: a background thread writes the queue in one transaction."""
        self._deferred.add(PendingSettle(charges, amount, reservation_id, now, then))

    def flush(self) -> None:
        """Write every queued settle before returning."""
        self._deferred.flush()

    def _write_batch(self, batch: list[PendingSettle]) -> list[list[Fired]]:
        with self._tables.writing() as tx:
            return [
                _settle(tx, item.charges, item.amount, item.reservation_id, item.now)
                for item in batch
            ]

    def usage(self, charge: Charge, *, now: datetime) -> tuple[int, int]:
        """Return (spend in the charge's window, live reservations), queued settles written."""
        self._deferred.flush()
        with self._tables.reading() as tx:
            spent = tx.spent(charge.key, since=charge.since, until=charge.bucket)
            return spent, tx.reserved(charge.key, now=now)

    def add_overshoot(self, tool: str, amount: int, *, now: datetime) -> None:
        """Add one call and ``amount`` to ``tool``'s overshoot totals, under the budget lock."""
        with self._tables.writing() as tx:
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
        """Write the queued settles; close the store if this ledger opened it."""
        self._deferred.close()
        if self._owns_store:
            self._tables.store.close()


def _settle(
    tx: BudgetTransaction,
    charges: Sequence[Charge],
    amount: int,
    reservation_id: str | None,
    now: datetime,
) -> list[Fired]:
    fired: list[Fired] = []
    for index, charge in enumerate(charges):
        if reservation_id is not None:
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
