"""A ledger in this process's memory, under one lock: the default, and a test double."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime

from toolkeeper.costs.budgets import Charge, admits, thresholds_reached
from toolkeeper.costs.ledger import Fired, Ledger, Overshoot, Verdict

__all__ = ["MemoryLedger"]


class MemoryLedger(Ledger):
    """Keep spend in dictionaries; atomic because every method holds one lock.

    Memory is bounded by the budgets and their live buckets: buckets that no
    window counts any more are dropped when a budget's spend opens a new bucket.
    """

    uri = "memory://"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spend: dict[str, dict[int, int]] = {}
        self._reservations: dict[str, dict[str, tuple[int, float]]] = {}
        self._fired: dict[str, dict[int, set[str]]] = {}
        self._overshoots: dict[str, tuple[int, int, int]] = {}

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
        with self._lock:
            for index, charge in enumerate(charges):
                spent, reserved = self._usage(charge, now.timestamp())
                if charge.blocking and not admits(
                    limit=charge.limit, spent=spent, reserved=reserved, amount=amount
                ):
                    return Verdict(False, index, spent, reserved)
            for charge in charges:
                held = self._reservations.setdefault(charge.key, {})
                held[reservation_id] = (amount, expires.timestamp())
            return Verdict(True)

    def settle(
        self,
        charges: Sequence[Charge],
        amount: int,
        *,
        reservation_id: str | None,
        now: datetime,  # noqa: ARG002 - buckets come from the charges; the clock is not needed
    ) -> list[Fired]:
        """Drop the reservation, add the spend and mark the warnings it reached."""
        fired: list[Fired] = []
        with self._lock:
            for index, charge in enumerate(charges):
                if reservation_id is not None:
                    self._reservations.get(charge.key, {}).pop(reservation_id, None)
                buckets = self._spend.setdefault(charge.key, {})
                opened = charge.bucket not in buckets
                buckets[charge.bucket] = buckets.get(charge.bucket, 0) + amount
                spent = self._spent(charge)
                marks = self._fired.setdefault(charge.key, {}).setdefault(charge.period, set())
                for label in thresholds_reached(charge, spent):
                    if label not in marks:
                        marks.add(label)
                        fired.append(Fired(index, label, spent))
                if opened:
                    self._forget_before(charge)
        return fired

    def usage(self, charge: Charge, *, now: datetime) -> tuple[int, int]:
        """Return (spend in the charge's window, live reservations)."""
        with self._lock:
            return self._usage(charge, now.timestamp())

    def add_overshoot(
        self,
        tool: str,
        amount: int,
        *,
        now: datetime,  # noqa: ARG002 - totals are all-time; the clock is not needed
    ) -> None:
        """Count one call of ``tool`` that cost ``amount`` more than it reserved."""
        with self._lock:
            calls, total, largest = self._overshoots.get(tool, (0, 0, 0))
            self._overshoots[tool] = (calls + 1, total + amount, max(largest, amount))

    def overshoots(self) -> dict[str, Overshoot]:
        """Return, per tool, the overshoots counted in this process."""
        with self._lock:
            return {tool: Overshoot.from_nanos(*row) for tool, row in self._overshoots.items()}

    def _usage(self, charge: Charge, now: float) -> tuple[int, int]:
        held = self._reservations.get(charge.key, {})
        for dead in [rid for rid, (_, expires) in held.items() if expires <= now]:
            del held[dead]
        return self._spent(charge), sum(amount for amount, _ in held.values())

    def _spent(self, charge: Charge) -> int:
        buckets = self._spend.get(charge.key, {})
        return sum(
            value for bucket, value in buckets.items() if charge.since <= bucket <= charge.bucket
        )

    def _forget_before(self, charge: Charge) -> None:
        # Keep the previous window too: a settle may still arrive for it.
        horizon = charge.since - (charge.bucket - charge.since) - 2 * charge.width
        buckets = self._spend[charge.key]
        for bucket in [bucket for bucket in buckets if bucket < horizon]:
            del buckets[bucket]
        periods = self._fired[charge.key]
        for period in [period for period in periods if period < horizon]:
            del periods[period]
