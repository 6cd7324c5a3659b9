"""Budget spend in the SQL store: the queries behind :mod:`toolkeeper.costs`' SQL ledger.

Every write runs inside :meth:`BudgetTables.writing`: one transaction that
takes SQLite's write lock up front (``BEGIN IMMEDIATE``) or, on PostgreSQL, the
advisory lock :data:`BUDGET_LOCK_KEY` until it commits. A read-check-write
inside it is therefore atomic against every other budget writer, in this
process or any other sharing the database. Amounts are whole nano-dollars.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import Connection, delete, func, insert, select, update

from toolkeeper.store.sql import Store
from toolkeeper.store.tables import (
    budget_overshoots,
    budget_reservations,
    budget_spend,
    budget_warnings,
)

__all__ = ["BUDGET_LOCK_KEY", "BudgetTables", "BudgetTransaction"]

#: PostgreSQL advisory lock held by every budget write: one budget writer at a time.
BUDGET_LOCK_KEY = 0x746B_6275_6467  # "tkbudg"

_s = budget_spend
_r = budget_reservations
_w = budget_warnings
_o = budget_overshoots


class BudgetTransaction:
    """The budget queries, run on one connection inside one transaction."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def spent(self, budget: str, *, since: int, until: int) -> int:
        """Return the spend of ``budget`` in the buckets starting from ``since`` to ``until``."""
        query = select(func.coalesce(func.sum(_s.c.spent_nanos), 0)).where(
            (_s.c.budget == budget) & (_s.c.bucket >= since) & (_s.c.bucket <= until)
        )
        return int(self._conn.execute(query).scalar_one())

    def reserved(self, budget: str, *, now: datetime) -> int:
        """Return the sum of ``budget``'s reservations that have not expired at ``now``."""
        query = select(func.coalesce(func.sum(_r.c.amount_nanos), 0)).where(
            (_r.c.budget == budget) & (_r.c.expires_at > now)
        )
        return int(self._conn.execute(query).scalar_one())

    def drop_expired(self, budget: str, *, now: datetime) -> None:
        """Delete ``budget``'s reservations that expired at or before ``now``."""
        self._conn.execute(delete(_r).where((_r.c.budget == budget) & (_r.c.expires_at <= now)))

    def add_reservation(
        self, reservation_id: str, budget: str, *, amount: int, expires: datetime
    ) -> None:
        """Hold ``amount`` of ``budget`` for the reservation until ``expires``."""
        row = {
            "id": reservation_id,
            "budget": budget,
            "amount_nanos": amount,
            "expires_at": expires,
        }
        self._conn.execute(insert(_r).values(row))

    def drop_reservation(self, reservation_id: str, budget: str) -> None:
        """Delete the reservation's hold on ``budget``, if it is still there."""
        self._conn.execute(delete(_r).where((_r.c.id == reservation_id) & (_r.c.budget == budget)))

    def shrink_reservation(self, reservation_id: str, budget: str, amount: int) -> None:
        """Take ``amount`` off the reservation's hold on ``budget``; drop it once it holds none."""
        where = (_r.c.id == reservation_id) & (_r.c.budget == budget)
        self._conn.execute(update(_r).where(where).values(amount_nanos=_r.c.amount_nanos - amount))
        self._conn.execute(delete(_r).where(where & (_r.c.amount_nanos <= 0)))

    def add_spend(self, budget: str, *, bucket: int, amount: int, now: datetime) -> None:
        """Add ``amount`` to the spend of ``budget`` in ``bucket``.

        Update-then-insert is safe only because the transaction holds the budget lock.
        """
        where = (_s.c.budget == budget) & (_s.c.bucket == bucket)
        changed = self._conn.execute(
            update(_s).where(where).values(spent_nanos=_s.c.spent_nanos + amount, updated_at=now)
        ).rowcount
        if not changed:
            row = {"budget": budget, "bucket": bucket, "spent_nanos": amount, "updated_at": now}
            self._conn.execute(insert(_s).values(row))

    def mark_warning(
        self, budget: str, *, period: int, threshold: str, spent: int, now: datetime
    ) -> bool:
        """Record that ``threshold`` fired in ``period``; return ``False`` if it already had."""
        where = (_w.c.budget == budget) & (_w.c.period == period) & (_w.c.threshold == threshold)
        if self._conn.execute(select(_w.c.threshold).where(where)).first() is not None:
            return False
        row = {
            "budget": budget,
            "period": period,
            "threshold": threshold,
            "spent_nanos": spent,
            "fired_at": now,
        }
        self._conn.execute(insert(_w).values(row))
        return True

    def add_overshoot(self, tool: str, *, amount: int, now: datetime) -> None:
        """Count one call of ``tool`` that cost ``amount`` more than it reserved.

        Read-then-write is safe only because the transaction holds the budget lock.
        """
        found = self._conn.execute(
            select(_o.c.calls, _o.c.amount_nanos, _o.c.largest_nanos).where(_o.c.tool == tool)
        ).first()
        if found is None:
            row = {
                "tool": tool,
                "calls": 1,
                "amount_nanos": amount,
                "largest_nanos": amount,
                "updated_at": now,
            }
            self._conn.execute(insert(_o).values(row))
            return
        self._conn.execute(
            update(_o)
            .where(_o.c.tool == tool)
            .values(
                calls=int(found.calls) + 1,
                amount_nanos=int(found.amount_nanos) + amount,
                largest_nanos=max(int(found.largest_nanos), amount),
                updated_at=now,
            )
        )

    def overshoots(self) -> list[tuple[str, int, int, int]]:
        """Return (tool, calls, amount, largest) of every tool that overshot, by tool."""
        query = select(_o.c.tool, _o.c.calls, _o.c.amount_nanos, _o.c.largest_nanos).order_by(
            _o.c.tool
        )
        return [
            (str(row.tool), int(row.calls), int(row.amount_nanos), int(row.largest_nanos))
            for row in self._conn.execute(query)
        ]


class BudgetTables:
    """Open transactions on the budget tables of one store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @contextmanager
    def writing(self) -> Iterator[BudgetTransaction]:
        """Yield the queries in a write transaction holding the budget lock; commit on success."""
        with (
            self.store.translated(),
            self.store.transaction(write=True, serialize=BUDGET_LOCK_KEY) as conn,
        ):
            yield BudgetTransaction(conn)

    @contextmanager
    def reading(self) -> Iterator[BudgetTransaction]:
        """Yield the queries inside a read-only transaction."""
        with self.store.translated(), self.store.transaction(write=False) as conn:
            yield BudgetTransaction(conn)
