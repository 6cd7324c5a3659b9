"""Ledgers keep budgets' spend, reservations and fired warnings; chosen by URI in one place.

A ledger's two writes are each atomic across every thread and process that
shares it, which is what keeps concurrent callers from overspending:

- :meth:`Ledger.reserve` checks every blocking charge and, only if all admit
  the amount, records the reservation against each of them;
- :meth:`Ledger.settle` removes a reservation (if any), adds the actual
  spend to the reservation's buckets, and marks each warning threshold the
  new spend reached that was not yet marked in its period, returning those.

It also keeps, per tool, the calls that cost more than they had reserved
(:meth:`Ledger.add_overshoot`, :meth:`Ledger.overshoots`): all-time totals,
so every process that shares the ledger shows the same figures and they only grow.

A call's settle may be deferred (:meth:`Ledger.settle_later`): the shared
ledgers (Redis, SQL) write queued settles in batches from a background thread,
so a budgeted call waits for one round trip, its reservation. The public
methods are written once, here and in
:class:`~toolkeeper.costs.ledger_batch.QueuedLedger` (the queue's glue); a
backend implements the atomic writes and reads behind them (``_hold``,
``_settle``, ``_usage``, or ``_reserve_once`` and ``_write_batch``).

Backends: ``memory://`` (one process, a lock), ``sqlite:///…`` and
``postgresql://…`` (the store: spend survives restarts; one write transaction
holding a lock), and ``redis://…`` (a Lua script per write).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Self

from toolkeeper._schemes import LEDGER_SCHEMES, REDIS_SCHEMES, SQL_SCHEMES, listed, scheme_of
from toolkeeper.costs.budgets import Charge
from toolkeeper.costs.money import from_nanos

if TYPE_CHECKING:
    from toolkeeper.store.sql import Store

__all__ = [
    "ADMITTED", "Fired", "Hold", "Ledger", "OnFired", "Overshoot", "SettleLater", "Verdict",
    "open_ledger",
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class Verdict:
    """The answer to a reservation: admitted, or the first charge that refused it and why."""

    admitted: bool
    blocked: int | None = None
    spent: int = 0
    reserved: int = 0


#: The verdict of every admitted reservation (frozen, so one object serves them all).
ADMITTED = Verdict(True)


@dataclass(frozen=True, slots=True)
class Fired:
    """A warning threshold newly reached: the charge's index, the label and the spend then."""

    index: int
    label: str
    spent: int


@dataclass(frozen=True, slots=True)
class Overshoot:
    """Calls that cost more than their reservation held: how many, by how much in all, the worst.

    Amounts are dollars; a ledger keeps them as whole nano-dollars (:meth:`from_nanos`).
    """

    calls: int = 0
    amount: Decimal = Decimal(0)
    largest: Decimal = Decimal(0)

    @classmethod
    def from_nanos(cls, calls: int, amount: int, largest: int) -> Overshoot:
        """Build one from a ledger's integer nano-dollar totals."""
        return cls(calls=calls, amount=from_nanos(amount), largest=from_nanos(largest))


#: What a deferred settle calls with the warnings it fired, once written (or nothing).
OnFired = Callable[[list[Fired]], object] | None
#: :meth:`Ledger.reserve` on given charges: ``hold(amount, reservation_id, now, expires)``.
Hold = Callable[[int, str, datetime, datetime], "Verdict"]
#: :meth:`Ledger.settle_later` on given charges: ``settle(now, then, amount, reservation_id)``,
#: where ``now()`` gives the moment of the settle (read only by a ledger that needs it); the
#: first two come first so that a caller can bind them once (``functools.partial``). What it
#: returns is not read.
SettleLater = Callable[[Callable[[], datetime], OnFired, int, str], object]


class Ledger(ABC):
    """The spend of budgets, in nano-dollars; each method is atomic for all who share it."""

    uri: str

    def reserve(
        self,
        charges: Sequence[Charge],
        amount: int,
        *,
        reservation_id: str,
        now: datetime,
        expires: datetime,
    ) -> Verdict:
        """Reserve ``amount`` against every charge if every blocking one admits it, else nothing.

        Charges are checked in order and the first refusal is reported. A
        reservation stops counting at ``expires`` (a caller that died never settles).
        """
        return self._hold(charges, amount, reservation_id, now, expires)

    def settle(
        self,
        charges: Sequence[Charge],
        amount: int,
        *,
        reservation_id: str | None,
        now: datetime,
    ) -> list[Fired]:
        """Drop the reservation (``None``: there was none), add ``amount`` spent, mark warnings."""
        return self._settle(charges, amount, reservation_id, now)

    def settle_later(
        self,
        charges: Sequence[Charge],
        amount: int,
        *,
        reservation_id: str,
        now: datetime,
        then: Callable[[list[Fired]], object] | None = None,
    ) -> None:
        """Settle like :meth:`settle`, maybe later in another thread; ``then`` gets the warnings.

        The reservation keeps holding its money until the settle is written, so
        nothing can be overspent meanwhile. This ledger settles at once; shared
        ledgers queue it for a background batch (see :mod:`toolkeeper.costs.ledger_batch`)
        and write the queue before every read of spend.
        """
        self._settle_later(charges, amount, reservation_id, now, then)

    def holder(self, charges: Sequence[Charge]) -> Hold:
        """Return :meth:`reserve` on ``charges``, positional: ``hold(amount, rid, now, expires)``.

        For a caller that reserves on the same charges call after call (a guard's
        plan, while the moment stays in their buckets): a backend may prepare
        what it reads of them once.
        """

        def hold(amount: int, rid: str, now: datetime, expires: datetime) -> Verdict:
            return self._hold(charges, amount, rid, now, expires)

        return hold

    def settler(self, charges: Sequence[Charge]) -> SettleLater:
        """Return :meth:`settle_later` on ``charges``: ``settle(now, then, amount, rid)``.

        ``now`` is a function (a clock's ``now``): a ledger that does not need the
        moment of a settle does not read it.
        """

        def settle_later(now: Callable[[], datetime], then: OnFired, amount: int, rid: str) -> None:
            self._settle_later(charges, amount, rid, now(), then)

        return settle_later

    def flush(self) -> None:  # noqa: B027 - optional hook: a ledger that settles at once
        """Write every settle queued by :meth:`settle_later` before returning."""

    def usage(self, charge: Charge, *, now: datetime) -> tuple[int, int]:
        """Return (settled spend in the charge's window, live reservations) in nano-dollars.

        Settles still queued are written first, so the figures are exact.
        """
        self.flush()
        return self._usage(charge, now)

    # What each backend implements: the atomic writes and reads, positional.

    @abstractmethod
    def _hold(
        self, charges: Sequence[Charge], amount: int, rid: str, now: datetime, expires: datetime
    ) -> Verdict:
        """Do :meth:`reserve`: check every blocking charge, then hold ``amount`` on each."""

    @abstractmethod
    def _settle(
        self, charges: Sequence[Charge], amount: int, rid: str | None, now: datetime
    ) -> list[Fired]:
        """Do :meth:`settle` at once."""

    @abstractmethod
    def _usage(self, charge: Charge, now: datetime) -> tuple[int, int]:
        """Do :meth:`usage`, the settles queued already written."""

    def _settle_later(
        self, charges: Sequence[Charge], amount: int, rid: str, now: datetime, then: OnFired
    ) -> None:
        """Do :meth:`settle_later`: here at once (a queued ledger overrides it)."""
        fired = self._settle(charges, amount, rid, now)
        if then is not None and fired:
            then(fired)

    @abstractmethod
    def add_overshoot(self, tool: str, amount: int, *, now: datetime) -> None:
        """Count one call of ``tool`` that cost ``amount`` nano-dollars more than it reserved."""

    @abstractmethod
    def overshoots(self) -> dict[str, Overshoot]:
        """Return, per tool, every overshoot counted in this ledger (by any process)."""

    def close(self) -> None:  # noqa: B027 - optional hook: a memory ledger holds no connection
        """Release connections; a ledger opened from a URI owns them."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(uri={self.uri!r})"


def open_ledger(
    uri: str = "memory://",
    *,
    store: Store | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Ledger:
    """Open the ledger at ``uri``, or over an open ``store``: the one place URIs are resolved.

    ``memory://`` keeps spend in this process; ``redis://``, ``rediss://`` and
    ``unix://`` share it through Redis (``toolkeeper[redis]``); ``sqlite:///…``
    and ``postgresql://…`` keep it in the store, which the ledger then owns and
    closes. Raises ``ValueError`` for any other scheme. ``clock`` (monotonic
    seconds) times the shared ledgers' leases.
    """
    if store is not None:
        # Backends by URI, each imported when its scheme is chosen: SQL needs SQLAlchemy,
        # Redis needs toolkeeper[redis]; each backend module imports this one's base.
        from toolkeeper.costs.ledger_sql import SqlLedger

        return SqlLedger(store, clock=clock)
    scheme = scheme_of(uri)
    if scheme == "memory":
        from toolkeeper.costs.ledger_memory import MemoryLedger

        return MemoryLedger()
    if scheme in REDIS_SCHEMES:
        from toolkeeper.costs.ledger_redis import RedisLedger

        return RedisLedger.from_url(uri, clock=clock)
    if scheme in SQL_SCHEMES:
        from toolkeeper.costs.ledger_sql import SqlLedger
        from toolkeeper.store import open_store

        return SqlLedger(open_store(uri), owns_store=True, clock=clock)
    known = listed(LEDGER_SCHEMES)
    raise ValueError(f"unsupported ledger URI scheme {scheme or '(none)'!r}; supported: {known}")
