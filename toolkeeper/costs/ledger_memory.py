"""A ledger in this process's memory, under one lock: the default, and a test double."""

from __future__ import annotations

import os
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
#: The positions in an account's running totals (:attr:`_Account.numbers`).
_SINCE, _UNTIL, _TOTAL, _HELD = range(4)


#: A live reservation: its amount, and when it stops holding it.
_Held = tuple[int, datetime]
#: Per blocking charge: its account's running totals, its limit, and its window.
_Check = tuple[list[int], int, int, int]
#: Per charge: its account's running totals and live reservations.
_Book = tuple[list[int], dict[str, _Held]]
#: Per charge: its account's running totals, live reservations and buckets, its window
#: (``since`` to ``bucket``, the bucket a spend goes to) and its first warning mark.
_Line = tuple[list[int], dict[str, _Held], dict[int, int], int, int, int]


class _Account:
    """One budget's books: spend by bucket, live reservations, and the warnings fired.

    ``numbers`` are its running totals, ``[since, until, total, held]``: the window of
    buckets counted last and their spend, and the sum of the live reservations'
    amounts, so that a reservation and a settle read them without summing. A list read
    by position: the kernels of the hot path (:func:`python_hold_at_once`,
    :func:`python_settle_at_once` and their C twins) take it as an argument.
    """

    __slots__ = ("buckets", "fired", "numbers", "reservations")

    def __init__(self) -> None:
        self.buckets: dict[int, int] = {}
        self.reservations: dict[str, _Held] = {}
        #: No window counted yet (an empty range), no spend, nothing held.
        self.numbers = [1, 0, 0, 0]
        #: Per period, the warning labels fired in it.
        self.fired: dict[int, set[str]] = {}

    def spent(self, since: int, until: int) -> int:
        """Return the spend of the buckets in ``[since, until]``, counting them when it moved."""
        numbers = self.numbers
        if numbers[_SINCE] == since and numbers[_UNTIL] == until:
            return numbers[_TOTAL]
        total = sum(value for bucket, value in self.buckets.items() if since <= bucket <= until)
        numbers[_SINCE], numbers[_UNTIL], numbers[_TOTAL] = since, until, total
        return total

    def drop_expired(self, now: datetime) -> None:
        """Forget the reservations that expired by ``now`` (their callers never settled)."""
        held = self.reservations
        for rid in [rid for rid, (_, expires) in held.items() if expires <= now]:
            self.numbers[_HELD] -= held.pop(rid)[0]

    def forget_before(self, charge: Charge) -> None:
        """Drop buckets and fired marks that no window counts any more."""
        # Keep the previous window too: a settle may still arrive for it.
        slot = charge.slot
        horizon = slot.since - (slot.bucket - slot.since) - 2 * slot.width
        for bucket in [bucket for bucket in self.buckets if bucket < horizon]:
            del self.buckets[bucket]
        for period in [period for period in self.fired if period < horizon]:
            del self.fired[period]


def python_hold_at_once(
    checks: tuple[_Check, ...],
    books: tuple[_Book, ...],
    amount: int,
    rid: str,
    held: _Held,
) -> bool:
    """Reserve ``amount`` as ``rid`` on every book if every check admits it on its totals.

    A check admits when its window is the one counted last and its spend and what
    is held leave room for ``amount`` within its limit; each book then keeps
    ``held`` under ``rid`` and adds ``amount`` to what it holds. ``False`` when a
    window moved or a check refuses: nothing changed, and the caller counts again
    and decides (:meth:`MemoryLedger.holder`). The reference of its C twin.
    """
    for numbers, limit, since, until in checks:
        if numbers[_SINCE] != since or numbers[_UNTIL] != until:
            return False
        committed = numbers[_TOTAL] + numbers[_HELD]
        if not (committed < limit and committed + amount <= limit):
            return False
    for numbers, reservations in books:
        reservations[rid] = held
        numbers[_HELD] += amount
    return True


def python_settle_at_once(lines: tuple[_Line, ...], amount: int, rid: str | None) -> int:
    """Add ``amount`` spent on every line, dropping reservation ``rid``, if every line is current.

    A line is current when its window is the one counted last and its bucket has
    spend already. Returns -1 when one is not (nothing changed: the caller counts
    again and opens the bucket, :meth:`MemoryLedger.settler`); else 1 when a line's
    spend reached its first warning mark (the caller marks what it fired), 0 when
    none did. ``rid`` ``None``: spend that was not reserved. The reference of its C
    twin.
    """
    for numbers, _, buckets, since, bucket, _ in lines:
        if numbers[_SINCE] != since or numbers[_UNTIL] != bucket or bucket not in buckets:
            return -1
    reached = 0
    for numbers, reservations, buckets, _, bucket, first_mark in lines:
        if rid is not None:
            dropped = reservations.pop(rid, None)
            if dropped is not None:
                numbers[_HELD] -= dropped[0]
        buckets[bucket] += amount
        spent = numbers[_TOTAL] = numbers[_TOTAL] + amount
        if spent > 0 and spent >= first_mark:
            reached = 1
    return reached


_c_hold: Callable[[tuple[_Check, ...], tuple[_Book, ...], int, str, _Held], bool] | None
_c_settle: Callable[[tuple[_Line, ...], int, str | None], int] | None
try:
    from toolkeeper._speedups import hold_at_once as _c_hold
    from toolkeeper._speedups import settle_at_once as _c_settle
except ImportError:  # built without a C compiler: the Python twins do the same
    _c_hold = _c_settle = None
_PURE_PYTHON = bool(os.environ.get("TOOLKEEPER_PURE_PYTHON"))
#: The hot path's kernels: the Python twins above or the C ones, chosen once.
hold_at_once = python_hold_at_once if _c_hold is None or _PURE_PYTHON else _c_hold
settle_at_once = python_settle_at_once if _c_settle is None or _PURE_PYTHON else _c_settle


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
        accounts = tuple(self._account(charge.key) for charge in charges)
        blocking = tuple(
            (index, accounts[index], charge.limit, charge.slot.since, charge.slot.bucket)
            for index, charge in enumerate(charges)
            if charge.blocking
        )
        checks = tuple(
            (account.numbers, limit, since, until) for _, account, limit, since, until in blocking
        )
        books = tuple((account.numbers, account.reservations) for account in accounts)
        lock = self._lock

        def hold(amount: int, rid: str, now: datetime, expires: datetime) -> Verdict:
            held = (amount, expires)
            lock.acquire()  # not `with`: on every budgeted call, and half the cost
            try:
                self._until_sweep -= 1
                if self._until_sweep <= 0:
                    self._sweep(now)
                if hold_at_once(checks, books, amount, rid, held):
                    return ADMITTED
                # A window moved, or the call does not fit on what is held: count again and
                # drop what expired, then look again.
                for index, account, limit, since, until in blocking:
                    account.drop_expired(now)
                    spent, reserved = account.spent(since, until), account.numbers[_HELD]
                    committed = spent + reserved
                    if not (committed < limit and committed + amount <= limit):
                        return Verdict(False, index, spent, reserved)
                admitted = hold_at_once(checks, books, amount, rid, held)
                assert admitted, "every window counted and every check admits"
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
        accounts = [(at, self._account(charge.key), charge) for at, charge in enumerate(charges)]
        lines = tuple(
            (
                account.numbers, account.reservations, account.buckets, charge.slot.since,
                charge.slot.bucket, charge.thresholds[0][1],
            )
            for _, account, charge in accounts
        )  # fmt: skip
        lock = self._lock

        def settle(
            _now: Callable[[], datetime], then: OnFired, amount: int, rid: str | None
        ) -> list[Fired]:
            lock.acquire()  # not `with`: on every budgeted call, and half the cost
            try:
                reached = settle_at_once(lines, amount, rid)
                if reached < 0:  # a window moved or a bucket opens: count again, then settle
                    for _, account, charge in accounts:
                        slot = charge.slot
                        if slot.bucket not in account.buckets:
                            account.buckets[slot.bucket] = 0
                            account.forget_before(charge)
                        account.spent(slot.since, slot.bucket)
                    reached = settle_at_once(lines, amount, rid)
                    assert reached >= 0, "every window counted and every bucket open"
                fired = _marks(accounts) if reached else []
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
            return account.spent(charge.since, charge.bucket), account.numbers[_HELD]

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


def _marks(accounts: Sequence[tuple[int, _Account, Charge]]) -> list[Fired]:
    """Mark the warnings the spend of each charge's window reached; return those newly fired."""
    fired = []
    for index, account, charge in accounts:
        spent = account.numbers[_TOTAL]
        if spent <= 0:
            continue
        marks = account.fired.setdefault(charge.slot.period, set())
        for label, mark in charge.thresholds:
            if spent >= mark and label not in marks:
                marks.add(label)
                fired.append(Fired(index, label, spent))
    return fired
