"""A ledger in this process's memory, under one lock: the default, and a test double."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime

from toolkeeper.costs.budgets import Charge, admits
from toolkeeper.costs.ledger import ADMITTED, Fired, Ledger, Overshoot, Verdict

__all__ = ["MemoryLedger"]

#: Expired reservations are swept at least once per this many reservations (and before
#: any refusal or read of usage), so memory stays bounded by the calls in flight.
_SWEEP_EVERY = 4096


class MemoryLedger(Ledger):
    """Keep spend in dictionaries; atomic because every method holds one lock.

    Each budget keeps running totals (live reservations, and the spend of the
    window last counted), so a reservation and a settle cost a few dictionary
    operations whatever the number of calls in flight. Memory is bounded by the
    budgets and their live buckets: buckets that no window counts any more are
    dropped when a budget's spend opens a new bucket.
    """

    uri = "memory://"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spend: dict[str, dict[int, int]] = {}
        self._reservations: dict[str, dict[str, tuple[int, float]]] = {}
        self._held: dict[str, int] = {}
        # Per budget: (since, until, spend of the buckets in [since, until]).
        self._windows: dict[str, tuple[int, int, int]] = {}
        self._fired: dict[str, dict[int, set[str]]] = {}
        self._overshoots: dict[str, tuple[int, int, int]] = {}
        self._until_sweep = _SWEEP_EVERY

    def _hold(
        self, charges: Sequence[Charge], amount: int, rid: str, now: datetime, expires: datetime
    ) -> Verdict:
        """Check every blocking charge and, if all admit ``amount``, reserve it on each."""
        with self._lock:
            self._until_sweep -= 1
            if self._until_sweep <= 0:
                self._sweep(now.timestamp())
            held = self._held
            for index, charge in enumerate(charges):
                if not charge.blocking:
                    continue
                limit = charge.limit
                spent, reserved = self._spent(charge), held.get(charge.key, 0)
                if admits(limit=limit, spent=spent, reserved=reserved, amount=amount):
                    continue
                # Refused on what is held: drop what expired, then look again.
                self._drop_expired(charge.key, now.timestamp())
                spent, reserved = self._spent(charge), held.get(charge.key, 0)
                if not admits(limit=limit, spent=spent, reserved=reserved, amount=amount):
                    return Verdict(False, index, spent, reserved)
            until = expires.timestamp()
            for charge in charges:
                key = charge.key
                found = self._reservations.get(key)
                if found is None:
                    found = self._reservations[key] = {}
                found[rid] = (amount, until)
                held[key] = held.get(key, 0) + amount
            return ADMITTED

    def _settle(
        self, charges: Sequence[Charge], amount: int, rid: str | None, _now: datetime
    ) -> list[Fired]:
        """Drop the reservation, add the spend and mark the warnings it reached."""
        fired: list[Fired] = []
        with self._lock:
            for index, charge in enumerate(charges):
                key = charge.key
                if rid is not None:
                    found = self._reservations.get(key)
                    dropped = None if found is None else found.pop(rid, None)
                    if dropped is not None:
                        self._held[key] -= dropped[0]
                buckets = self._spend.get(key)
                if buckets is None:
                    buckets = self._spend[key] = {}
                bucket = charge.bucket
                opened = bucket not in buckets
                buckets[bucket] = buckets.get(bucket, 0) + amount
                window = self._windows.get(key)
                if window is not None and window[0] <= bucket <= window[1]:
                    self._windows[key] = (window[0], window[1], window[2] + amount)
                spent = self._spent(charge)
                if spent > 0 and spent >= charge.thresholds[0][1]:
                    marks = self._fired.setdefault(key, {}).setdefault(charge.period, set())
                    for label, mark in charge.thresholds:
                        if spent >= mark and label not in marks:
                            marks.add(label)
                            fired.append(Fired(index, label, spent))
                if opened:
                    self._forget_before(charge)
        return fired

    def _usage(self, charge: Charge, now: datetime) -> tuple[int, int]:
        """Return (spend in the charge's window, live reservations)."""
        with self._lock:
            self._drop_expired(charge.key, now.timestamp())
            return self._spent(charge), self._held.get(charge.key, 0)

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

    def _drop_expired(self, key: str, now: float) -> None:
        held = self._reservations.get(key)
        if not held:
            return
        dead = [rid for rid, (_, expires) in held.items() if expires <= now]
        for rid in dead:
            self._held[key] -= held.pop(rid)[0]

    def _sweep(self, now: float) -> None:
        self._until_sweep = _SWEEP_EVERY
        for key in self._reservations:
            self._drop_expired(key, now)

    def _spent(self, charge: Charge) -> int:
        key, since, until = charge.key, charge.since, charge.bucket
        window = self._windows.get(key)
        if window is not None and window[0] == since and window[1] == until:
            return window[2]
        buckets = self._spend.get(key)
        total = (
            0
            if buckets is None
            else sum(value for bucket, value in buckets.items() if since <= bucket <= until)
        )
        self._windows[key] = (since, until, total)
        return total

    def _forget_before(self, charge: Charge) -> None:
        # Keep the previous window too: a settle may still arrive for it.
        horizon = charge.since - (charge.bucket - charge.since) - 2 * charge.width
        buckets = self._spend[charge.key]
        for bucket in [bucket for bucket in buckets if bucket < horizon]:
            del buckets[bucket]
        periods = self._fired.get(charge.key, {})
        for period in [period for period in periods if period < horizon]:
            del periods[period]
