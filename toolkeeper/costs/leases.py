"""Leases: blocks of budget a shared ledger holds for this process's next calls.

While a budget is far from its limit (room for at least :data:`LEASE_HEADROOM`
leases on every blocking budget of the call), a reservation that reaches the
shared ledger holds a *lease* of :data:`LEASE_CALLS` times the call's estimate
instead of the estimate alone, and the next calls of the same budgets in this
process draw their reservations from it in memory, with no round trip. The
lease is one reservation per budget in the shared ledger, so every process
counts the whole of it as reserved: nothing can be overspent. Each settle of a
drawn call adds its spend and shrinks the lease's hold by what the call drew.
A lease stops serving calls after :data:`LEASE_SECONDS`, or once too small,
and what no call drew is given back: by the next reservation that reaches the
ledger, by a timer when the process has gone quiet, or on close. Near a limit
no lease is taken, and a call this process would refuse first gives back its
own leases and looks again, so every call near a limit is checked against the
shared ledger alone.

:class:`Leases` is the bookkeeping, the same for every shared ledger; each
backend writes the holds (one reservation of the lease's size, a shrink, a
give-back) in its own atomic writes.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from toolkeeper._errors import StoreError

__all__ = ["LEASE_CALLS", "LEASE_HEADROOM", "LEASE_SECONDS", "Lease", "Leases", "Which"]

_log = logging.getLogger("toolkeeper.costs")

#: A lease holds this many times the estimate of the call that takes it.
LEASE_CALLS = 64
#: A lease is taken only while every blocking budget has room for this many more of it.
LEASE_HEADROOM = 16
#: How long a lease serves new calls before what is left of it is given back.
LEASE_SECONDS = 2.0

#: A call's set of charges, as leases are keyed: (budget key, bucket, limit) each.
Which = tuple[tuple[str, int, int], ...]


@dataclass(slots=True, eq=False)
class Lease:
    """A block of budget held in the shared ledger, from which this process's calls draw."""

    id: str
    charges: Which
    left: int
    until: float


class Leases:
    """This process's leases of one ledger, and the timer that gives back quiet ones; thread-safe.

    ``give_back`` writes, for each lease, the shrink of its hold on every budget
    by ``lease.left`` (what no call drew); it is called outside the lock.
    ``clock`` returns monotonic seconds: when a lease stops serving calls. The
    timer that gives back quiet leases waits in real time and then asks ``clock``.
    """

    def __init__(
        self,
        give_back: Callable[[list[Lease]], None],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._give_back = give_back
        self._clock = clock
        self._lock = threading.Lock()
        # Per set of charges: the lease calls draw from now.
        self._serving: dict[Which, Lease] = {}
        # Leases that stopped serving calls, whose unused part is not yet given back.
        self._retired: list[Lease] = []
        # Reservation id -> (lease id, amount) of a reservation drawn from a lease.
        self._drawn: dict[str, tuple[str, int]] = {}
        self._watch: threading.Timer | None = None
        self._closed = False

    @staticmethod
    def size_for(amount: int) -> int:
        """Return the size of a lease taken by a call of ``amount``."""
        return amount * LEASE_CALLS

    @staticmethod
    def room_for(size: int) -> int:
        """Return the room every blocking budget needs left for a lease of ``size``."""
        return size * LEASE_HEADROOM

    def draw(self, which: Which, amount: int, rid: str) -> bool:
        """Draw ``amount`` for ``rid`` from the lease of ``which`` if it can serve it."""
        with self._lock:
            lease = self._serving.get(which)
            if lease is None:
                return False
            if lease.left >= amount and self._clock() < lease.until:
                lease.left -= amount
                self._drawn[rid] = (lease.id, amount)
                return True
            del self._serving[which]
            self._retired.append(lease)
            return False

    def new_id(self) -> str:
        """Return a fresh lease id, the reservation id of a lease's holds."""
        return f"lease-{uuid.uuid4().hex}"

    def taken(self, which: Which, lease_id: str, size: int, amount: int, rid: str) -> None:
        """Record the lease ``lease_id`` of ``size`` just held, of which ``rid`` drew ``amount``."""
        lease = Lease(lease_id, which, size - amount, self._clock() + LEASE_SECONDS)
        with self._lock:
            older = self._serving.get(which)
            if older is not None:  # another thread took one meanwhile: retire it
                self._retired.append(older)
            self._serving[which] = lease
            self._drawn[rid] = (lease_id, amount)
            self._watch_quiet()

    def undraw(self, rid: str | None) -> tuple[str, int] | None:
        """Return (lease id, amount) if ``rid`` was drawn from a lease, forgetting it."""
        if rid is None:
            return None
        with self._lock:
            return self._drawn.pop(rid, None)

    def retire_all(self) -> bool:
        """Stop every lease serving calls; return whether there was one."""
        with self._lock:
            found = bool(self._serving)
            self._retired.extend(self._serving.values())
            self._serving.clear()
            return found

    def to_give_back(self) -> list[Lease]:
        """Take the retired leases that hold money no call drew (the caller gives it back)."""
        with self._lock:
            retired, self._retired = self._retired, []
        return [lease for lease in retired if lease.left]

    def close(self) -> None:
        """Stop the timer and give back every lease."""
        with self._lock:
            self._closed = True
            if self._watch is not None:
                self._watch.cancel()
                self._watch = None
        self.retire_all()
        returned = self.to_give_back()
        if returned:
            self._give_back(returned)

    def _retire_stale(self) -> None:
        with self._lock:
            self._watch = None
            if self._closed:
                return
            moment = self._clock()
            for which, lease in list(self._serving.items()):
                if moment >= lease.until:
                    del self._serving[which]
                    self._retired.append(lease)
        returned = self.to_give_back()
        try:
            if returned:
                self._give_back(returned)
        except StoreError:
            _log.exception("could not give back budget leases; they expire on their own")
        with self._lock:
            if self._serving:
                self._watch_quiet()

    def _watch_quiet(self) -> None:
        """Start the timer that retires leases once they stop serving (holding the lock)."""
        if self._watch is None and not self._closed:
            self._watch = threading.Timer(LEASE_SECONDS, self._retire_stale)
            self._watch.daemon = True
            self._watch.start()
