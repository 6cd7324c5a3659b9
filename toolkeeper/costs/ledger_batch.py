"""Settles written off the caller's thread, in batches: what a shared ledger's hot path needs.

A reservation already holds a call's money, so its settle need not make the
caller wait: :class:`DeferredSettles` queues it and one background thread
writes everything queued in one batch (one Redis pipeline, one SQL
transaction). The thread is woken by the first settle queued after a batch and
lets :data:`LINGER_S` pass before it writes, so that a busy process writes a
batch every few milliseconds rather than one per call: each batch takes the
interpreter lock from the callers, and a caller waiting on its own round trip
(a Redis reservation) would wait for the batch's Python work too.

Until a settle is written the ledger still counts the
reservation, so nothing can be overspent meanwhile; the owning ledger writes
the queue before any read of spend (and before refusing a call), on
:meth:`DeferredSettles.flush`, on close and when the interpreter exits, so
every figure read is exact once settled.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import weakref
from abc import abstractmethod
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from toolkeeper.costs.budgets import Charge
from toolkeeper.costs.leases import Lease, Leases, Which
from toolkeeper.costs.ledger import ADMITTED, Fired, Ledger, OnFired, Verdict

__all__ = ["LINGER_S", "Ask", "DeferredSettles", "PendingSettle", "QueuedLedger"]

_log = logging.getLogger("toolkeeper.costs")
#: How long the writer lets settles gather once woken, in seconds.
LINGER_S = 0.002

#: What one reservation in a shared ledger runs in (SQL: its write transaction).
Session = TypeVar("Session")


@dataclass(frozen=True, slots=True)
class PendingSettle:
    """One settle waiting to be written, and what to call with the warnings it fired."""

    charges: Sequence[Charge]
    amount: int
    reservation_id: str | None
    now: datetime
    then: Callable[[list[Fired]], object] | None
    #: (lease id, amount drawn) when the reservation was drawn from a lease.
    lease: tuple[str, int] | None = None


@dataclass(frozen=True, slots=True)
class Ask:
    """What one reservation asks a shared ledger to hold: charges, amount, id and times."""

    charges: Sequence[Charge]
    #: The charges as leases are keyed.
    which: Which
    amount: int
    rid: str
    now: datetime
    expires: datetime


#: Writes a batch in order and returns the warnings each settle fired (raises on failure).
BatchWriter = Callable[[list[PendingSettle]], list[list[Fired]]]


class DeferredSettles:
    """A queue of settles and the one daemon thread that writes them in batches; thread-safe.

    ``write`` receives every settle queued since the last batch. A batch that
    fails is logged and dropped: its reservations expire on their own, as when
    a caller dies before settling.
    """

    def __init__(self, write: BatchWriter, *, name: str) -> None:
        self._write = write
        self._name = name
        self._lock = threading.Lock()
        self._writing = threading.Lock()
        self._wake = threading.Event()
        self._pending: list[PendingSettle] = []
        self._thread: threading.Thread | None = None
        self._closed = False
        self._written = 0
        reference = weakref.ref(self)
        self._at_exit = lambda: _flush_if_alive(reference)
        atexit.register(self._at_exit)

    @property
    def written(self) -> int:
        """Return how many batches have been written: a mark for :meth:`changed_since`."""
        return self._written

    def changed_since(self, mark: int) -> bool:
        """Return whether a settle is queued, being written, or was written since ``mark``.

        A ledger that refused a call asks this with the mark taken before it
        looked: when true, a settle may have freed money, so it flushes and looks again.
        """
        # A settle leaves the queue only under the writing lock: look at the queue first.
        return bool(self._pending) or self._writing.locked() or self._written != mark

    def add(self, settle: PendingSettle) -> None:
        """Queue ``settle``; the background thread writes it soon (at once when closed)."""
        with self._lock:
            if self._closed:
                closed = True
            else:
                closed = False
                self._pending.append(settle)
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._run, name=f"toolkeeper-{self._name}-settles", daemon=True
                    )
                    self._thread.start()
        if closed:
            self._write_batch([settle])
            return
        if not self._wake.is_set():  # woken already: the writer has not taken the queue yet
            self._wake.set()

    def flush(self) -> None:
        """Write every settle queued so far before returning (in this thread if need be)."""
        with self._writing:
            with self._lock:
                batch, self._pending = self._pending, []
            if batch:
                self._write_batch(batch)
                self._written += 1

    def close(self) -> None:
        """Write what is queued and stop the thread; later settles are written at once."""
        with self._lock:
            self._closed = True
            thread = self._thread
        self._wake.set()
        if thread is not None:
            thread.join()
        self.flush()
        atexit.unregister(self._at_exit)

    def _run(self) -> None:
        while True:
            self._wake.wait()
            time.sleep(LINGER_S)  # real time: batching, not a clock's
            self._wake.clear()
            self.flush()
            if self._closed:
                return

    def _write_batch(self, batch: list[PendingSettle]) -> None:
        try:
            results = self._write(batch)
        except Exception:  # noqa: BLE001 - a background writer logs every failure, never dies
            _log.exception(
                "could not write %d budget settles to the %s ledger; their reservations "
                "expire on their own",
                len(batch),
                self._name,
            )
            return
        for settle, fired in zip(batch, results, strict=True):
            if settle.then is not None and fired:
                try:
                    settle.then(fired)
                except Exception:  # noqa: BLE001 - one failing handler must not stop the rest
                    _log.exception("a budget warning handler failed")


class QueuedLedger(Ledger, Generic[Session]):
    """A shared ledger whose wrapped calls' settles are queued and written in batches.

    The queue's glue, once for every shared ledger: a settle of
    :meth:`~Ledger.settle_later` is queued; the queue is written before any read
    of spend (:meth:`~Ledger.usage`), on :meth:`flush` and :meth:`close`, and before
    a refusal is final (a settle still queued may free what refused the call).
    It also keeps this process's leases (:mod:`toolkeeper.costs.leases`) and
    decides, once for every backend, when a reservation draws from one, takes
    one or gives them back (:meth:`_check_and_hold`); a queued settle carries
    what its reservation drew from one, and closing gives them back. A backend
    implements :meth:`_reserving` (what one reservation runs in: SQL's write
    transaction), :meth:`_reserve_once` (one atomic check-and-hold),
    :meth:`_write_batch` (a batch in one pipeline or transaction) and
    :meth:`_give_back`.
    """

    def __init__(self, *, name: str, clock: Callable[[], float] = time.monotonic) -> None:
        """Name the writer thread; ``clock`` (monotonic seconds) times the leases."""
        self._deferred = DeferredSettles(self._write_batch, name=name)
        self._leases = Leases(self._give_back, clock=clock)

    def flush(self) -> None:
        """Write every queued settle before returning."""
        self._deferred.flush()

    def close(self) -> None:
        """Write the queued settles, stop the writer and give back the leases.

        Later settles are written at once.
        """
        self._deferred.close()
        self._leases.close()

    def _hold(
        self, charges: Sequence[Charge], amount: int, rid: str, now: datetime, expires: datetime
    ) -> Verdict:
        mark = self._deferred.written
        verdict = self._check_and_hold(charges, amount, rid, now, expires)
        if not verdict.admitted and self._deferred.changed_since(mark):
            # Settles still queued may free what refused it: write them and look again.
            self._deferred.flush()
            verdict = self._check_and_hold(charges, amount, rid, now, expires)
        return verdict

    def _check_and_hold(
        self, charges: Sequence[Charge], amount: int, rid: str, now: datetime, expires: datetime
    ) -> Verdict:
        """Draw ``amount`` from this process's lease, else reserve it in the shared ledger.

        Far from the limits the reservation takes a lease for the next calls. Leases
        that stopped serving calls are given back first, in the same reservation; a
        refused call gives back this process's own leases and looks once more.
        """
        leases = self._leases
        which = tuple((charge.key, charge.bucket, charge.limit) for charge in charges)
        if leases.draw(which, amount, rid):
            return ADMITTED
        with self._reserving() as session:
            # Another thread may have taken a lease while this one waited to reserve.
            if leases.draw(which, amount, rid):
                return ADMITTED
            ask = Ask(charges, which, amount, rid, now, expires)
            verdict = self._reserve_once(
                session, ask, leases.size_for(amount), leases.to_give_back()
            )
            if not verdict.admitted and leases.retire_all():
                # This process's own leases may hold what is missing: give them back first.
                verdict = self._reserve_once(session, ask, 0, leases.to_give_back())
            return verdict

    def _settle_later(
        self, charges: Sequence[Charge], amount: int, rid: str, now: datetime, then: OnFired
    ) -> None:
        lease = self._leases.undraw(rid)
        self._deferred.add(PendingSettle(charges, amount, rid, now, then, lease))

    @abstractmethod
    def _reserving(self) -> AbstractContextManager[Session]:
        """Return what a reservation that reaches the shared ledger runs in, entered once."""

    @abstractmethod
    def _reserve_once(
        self, session: Session, ask: Ask, size: int, returned: list[Lease]
    ) -> Verdict:
        """Give back ``returned``, then check every blocking charge and hold, atomically.

        Hold a lease of ``size`` (recording it with the leases' ``taken``) when every
        blocking budget has room for it (``size`` 0: never), else ``ask.amount`` alone.
        ``returned`` are retired leases holding money no call drew.
        """

    @abstractmethod
    def _write_batch(self, batch: list[PendingSettle]) -> list[list[Fired]]:
        """Write a batch in order and return the warnings each settle fired (raise on failure)."""

    @abstractmethod
    def _give_back(self, leases: list[Lease]) -> None:
        """Shrink each lease's hold on every budget by what no call drew (``lease.left``)."""


def _flush_if_alive(reference: weakref.ref[DeferredSettles]) -> None:
    found = reference()
    if found is not None:
        found.flush()
