"""A ledger in this process's memory, under one lock: the default, and a test double."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import datetime

from toolkeeper.costs.budgets import Charge
from toolkeeper.costs.ledger import (
    ADMITTED,
    Fired,
    Hold,
    Ledger,
    OnFired,
    Overshoot,
    SettleLater,
    Verdict,
)

__all__ = ["MemoryLedger"]


#: Expired reservations are swept at least once per this many reservations (and before
#: any refusal or read of usage), so memory stays bounded by the calls in flight.
_SWEEP_EVERY = 4096


class _Account:
    """One budget's books: spend by bucket, live reservations, and the warnings fired.

    ``window`` caches the spend of the buckets in ``[since, until]`` last counted,
    so a reservation and a settle read it without summing buckets.
    """

    __slots__ = ("buckets", "fired", "held", "reservations", "since", "total", "until")

    def __init__(self) -> None:
        self.buckets: dict[int, int] = {}
        self.reservations: dict[str, tuple[int, datetime]] = {}
        #: The sum of the live reservations' amounts.
        self.held = 0
        #: The window counted last (none yet: an empty range), and its spend.
        self.since, self.until, self.total = 1, 0, 0
        #: Per period, the warning labels fired in it.
        self.fired: dict[int, set[str]] = {}

    def spent(self, since: int, until: int) -> int:
        """Return the spend of the buckets in ``[since, until]``, counting them when it moved."""
        if self.since == since and self.until == until:
            return self.total
        total = sum(value for bucket, value in self.buckets.items() if since <= bucket <= until)
        self.since, self.until, self.total = since, until, total
        return total

    def drop_expired(self, now: datetime) -> None:
        """Forget the reservations that expired by ``now`` (their callers never settled)."""
        held = self.reservations
        for rid in [rid for rid, (_, expires) in held.items() if expires <= now]:
            self.held -= held.pop(rid)[0]

    def forget_before(self, charge: Charge) -> None:
        """Drop buckets and fired marks that no window counts any more."""
        # Keep the previous window too: a settle may still arrive for it.
        slot = charge.slot
        horizon = slot.since - (slot.bucket - slot.since) - 2 * slot.width
        for bucket in [bucket for bucket in self.buckets if bucket < horizon]:
            del self.buckets[bucket]
        for period in [period for period in self.fired if period < horizon]:
            del self.fired[period]


class MemoryLedger(Ledger):
    """Keep spend in dictionaries; atomic because every method holds one lock.

    Each budget's :class:`_Account` keeps running totals (live reservations, and the
    spend of the window last counted), so a reservation and a settle cost a few
    dictionary operations whatever the number of calls in flight. Memory is bounded by
    the budgets and their live buckets: buckets that no window counts any more are
    dropped when a budget's spend opens a new bucket.
    """

    uri = "memory://"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._accounts: dict[str, _Account] = {}
        self._overshoots: dict[str, tuple[int, int, int]] = {}
        self._until_sweep = _SWEEP_EVERY

    def _account(self, key: str) -> _Account:
        found = self._accounts.get(key)
        if found is None:
            # setdefault: one account per key even when two threads make it at once.
            found = self._accounts.setdefault(key, _Account())
        return found

    def _hold(
        self, charges: Sequence[Charge], amount: int, rid: str, now: datetime, expires: datetime
    ) -> Verdict:
        """Check every blocking charge and, if all admit ``amount``, reserve it on each."""
        return self.holder(charges)(amount, rid, now, expires)

    def _settle(
        self, charges: Sequence[Charge], amount: int, rid: str | None, now: datetime
    ) -> list[Fired]:
        """Drop the reservation, add the spend and mark the warnings it reached."""
        return self._settler(charges)(lambda: now, None, amount, rid)

    def holder(self, charges: Sequence[Charge]) -> Hold:
        """Return the reservation on ``charges``, their accounts and limits read once."""
        books = tuple(self._account(charge.key) for charge in charges)
        checks = tuple(
            (index, books[index], charge.limit, charge.slot.since, charge.slot.bucket)
            for index, charge in enumerate(charges)
            if charge.blocking
        )
        lock = self._lock

        def hold(amount: int, rid: str, now: datetime, expires: datetime) -> Verdict:
            lock.acquire()  # not `with`: on every budgeted call, and half the cost
            try:
                self._until_sweep -= 1
                if self._until_sweep <= 0:
                    self._sweep(now)
                for index, account, limit, since, until in checks:
                    if account.since == since and account.until == until:  # spent(), inline
                        committed = account.total + account.held
                    else:
                        committed = account.spent(since, until) + account.held
                    if committed < limit and committed + amount <= limit:
                        continue
                    # Refused on what is held: drop what expired, then look again.
                    account.drop_expired(now)
                    spent, reserved = account.spent(since, until), account.held
                    committed = spent + reserved
                    if not (committed < limit and committed + amount <= limit):
                        return Verdict(False, index, spent, reserved)
                held = (amount, expires)
                for account in books:
                    account.reservations[rid] = held
                    account.held += amount
                return ADMITTED
            finally:
                lock.release()

        return hold

    def settler(self, charges: Sequence[Charge]) -> SettleLater:
        """Return the settle on ``charges`` (at once: this ledger has no queue)."""
        return self._settler(charges)

    def _settler(
        self, charges: Sequence[Charge]
    ) -> Callable[[Callable[[], datetime], OnFired, int, str | None], list[Fired]]:
        """Return the settle on ``charges``, their accounts and slots read once:
        ``settle(now, then, amount, rid)`` as :data:`~toolkeeper.costs.ledger.SettleLater`,
        which also returns the warnings (after handing them to ``then``)."""
        lines = tuple(
            (
                index, self._account(charge.key), charge, charge.slot.since, charge.slot.bucket,
                charge.thresholds[0][1],
            )
            for index, charge in enumerate(charges)
        )  # fmt: skip
        lock = self._lock

        def settle(
            _now: Callable[[], datetime], then: OnFired, amount: int, rid: str | None
        ) -> list[Fired]:
            fired: list[Fired] = []
            lock.acquire()  # not `with`: on every budgeted call, and half the cost
            try:
                for index, account, charge, since, bucket, first_mark in lines:
                    if rid is not None:
                        dropped = account.reservations.pop(rid, None)
                        if dropped is not None:
                            account.held -= dropped[0]
                    buckets = account.buckets
                    before = buckets.get(bucket)
                    buckets[bucket] = amount if before is None else before + amount
                    if account.since == since and account.until == bucket:  # spent(), inline
                        spent = account.total = account.total + amount
                    else:
                        if account.since <= bucket <= account.until:
                            account.total += amount
                        spent = account.spent(since, bucket)
                    if spent > 0 and spent >= first_mark:
                        marks = account.fired.setdefault(charge.slot.period, set())
                        for label, mark in charge.thresholds:
                            if spent >= mark and label not in marks:
                                marks.add(label)
                                fired.append(Fired(index, label, spent))
                    if before is None:
                        account.forget_before(charge)
            finally:
                lock.release()
            if then is not None and fired:
                then(fired)
            return fired

        return settle

    def _usage(self, charge: Charge, now: datetime) -> tuple[int, int]:
        """Return (spend in the charge's window, live reservations)."""
        with self._lock:
            account = self._account(charge.key)
            account.drop_expired(now)
            return account.spent(charge.since, charge.bucket), account.held

    def add_overshoot(self, tool: str, amount: int, *, now: datetime) -> None:
        """Count one call of ``tool`` that cost ``amount`` more than it reserved."""
        del now  # totals are all-time: the clock is not needed
        with self._lock:
            calls, total, largest = self._overshoots.get(tool, (0, 0, 0))
            self._overshoots[tool] = (calls + 1, total + amount, max(largest, amount))

    def overshoots(self) -> dict[str, Overshoot]:
        """Return, per tool, the overshoots counted in this process."""
        with self._lock:
            return {tool: Overshoot.from_nanos(*row) for tool, row in self._overshoots.items()}

    def _sweep(self, now: datetime) -> None:
        self._until_sweep = _SWEEP_EVERY
        for account in self._accounts.values():
            account.drop_expired(now)
