"""Enforce budgets around calls: reserve the estimate before, settle the actual cost after.

::

    guard = BudgetGuard([Budget(scope="tool:openai", limit=Decimal("1.00"),
                                period=Period("daily", time_zone="Europe/Paris"))],
                        ledger=open_ledger("redis://localhost"), on_event=print)
    reservation = guard.reserve(Decimal("0.01"), tool="openai")   # may raise BudgetExceeded
    try:
        response = call()
    except BaseException:
        guard.release(reservation)                                # nothing was spent
        raise
    guard.settle(reservation, actual_cost)

When a budget with policy ``fallback`` cannot afford a call, nothing is
reserved and the returned reservation says :attr:`Reservation.fallback`: the
caller routes the call elsewhere. Warning events go to ``on_event`` in the
thread that settles, after the ledger has committed them (for
:meth:`BudgetGuard.settle_later`, the thread that writes the settle).
"""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Literal

from toolkeeper._clock import Clock, SystemClock
from toolkeeper._errors import BudgetExceeded
from toolkeeper._units import format_money
from toolkeeper.costs.budgets import (
    Budget,
    BudgetEvent,
    BudgetStatus,
    Charge,
    Policy,
    admits,
    event_for,
    order_for_check,
    scopes_for,
)
from toolkeeper.costs.ledger import ADMITTED, Fired, Hold, Ledger, Verdict
from toolkeeper.costs.ledger_memory import MemoryLedger
from toolkeeper.costs.money import NANO, from_nanos, to_nanos, usd
from toolkeeper.costs.periods import Period
from toolkeeper.costs.tool_fields import cost_fields

__all__ = ["BudgetGuard", "Reservation", "Settlement", "budgets_from_config"]


@dataclass(slots=True)
class Reservation:
    """Money held for one call until it is settled or released.

    ``refusal`` is set (and nothing is held) when a ``fallback`` budget could
    not afford the call: the message says which budget and why. Built once per
    budgeted call, positionally: it is on every budgeted call's path.
    """

    id: str
    tool: str
    estimate: Decimal
    at: datetime
    charges: tuple[Charge, ...] = field(repr=False)
    #: The estimate in nano-dollars.
    nanos: int = field(default=0, repr=False)
    refusal: str | None = None
    done: bool = field(default=False, repr=False)
    #: What the estimate was for (tool, operation, model), so the actual cost can teach it.
    basis: tuple[str, str, str | None] | None = field(default=None, repr=False)
    #: The cost was unknown: the reservation holds all the budget had left.
    unknown: bool = False
    #: What settles it: ``settler(spent, id)`` (the plan's; see :class:`BudgetGuard`).
    settler: Callable[[int, str], object] | None = field(default=None, repr=False, compare=False)

    @property
    def fallback(self) -> bool:
        """Return whether the call should go to its fallback instead (nothing was reserved)."""
        return self.refusal is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class Settlement:
    """What settling a reservation did: the difference released, and the warnings fired.

    ``released`` is the estimate less the actual cost: negative when the call
    cost more than was reserved (the true spend is recorded all the same).
    """

    released: Decimal
    spent: Decimal
    events: tuple[BudgetEvent, ...] = ()

    @property
    def overshoot(self) -> Decimal:
        """Return how much the actual cost exceeded what was reserved (0 when it did not)."""
        return max(-self.released, Decimal(0))


class BudgetGuard:
    """Check calls against budgets kept in a ledger; thread-safe.

    ``ledger`` defaults to a fresh ``memory://`` one. ``reservation_ttl`` bounds
    how long a reservation whose caller died keeps holding money.
    """

    def __init__(
        self,
        budgets: Iterable[Budget],
        *,
        ledger: Ledger | None = None,
        clock: Clock | None = None,
        on_event: Callable[[BudgetEvent], None] | None = None,
        reservation_ttl: timedelta = timedelta(hours=1),
    ) -> None:
        if ledger is None:
            ledger = MemoryLedger()
        self.budgets = tuple(budgets)
        keys = [budget.key for budget in self.budgets]
        if len(set(keys)) != len(keys):
            raise ValueError(f"two budgets share a scope and period: {sorted(keys)}")
        self.ledger = ledger
        self._clock = clock if clock is not None else SystemClock()
        self._on_event = on_event
        self._ttl = reservation_ttl
        self._lock = threading.Lock()
        # Reservation ids: unique across processes (a random prefix) and cheap (a counter).
        self._id_prefix = f"{uuid.uuid4().hex[:16]}-"
        self._id_count = itertools.count()
        # Per set of scopes, the charges of a call while the moment stays in their buckets:
        # the hot path of every reservation (no period, Decimal or sorting work per call).
        self._plans: dict[tuple[str, ...], _Plan] = {}
        # Estimates seen, as (dollars, nano-dollars): most tools give the same one every call.
        self._amounts: dict[Decimal | float, tuple[Decimal, int]] = {}

    def budgets_for(self, scopes: Iterable[str]) -> list[Budget]:
        """Return the budgets that apply to a call in any of ``scopes``."""
        wanted = set(scopes)
        return [budget for budget in self.budgets if budget.scope in wanted]

    def charges_for(self, scopes: Sequence[str], now: datetime) -> tuple[Charge, ...]:
        """Return the charges of a call in ``scopes`` at ``now``, strictest policy first."""
        return self._plan(scopes, now).charges

    def _plan(self, scopes: Sequence[str], now: datetime) -> _Plan:
        """Return the plan of a call in ``scopes`` at ``now``: kept until ``now`` leaves it."""
        key = scopes if type(scopes) is tuple else tuple(scopes)
        plan = self._plans.get(key)
        if plan is None or not plan.starts <= now < plan.ends:
            plan = self._new_plan(key, now)
        return plan

    def _new_plan(self, key: tuple[str, ...], now: datetime) -> _Plan:
        """Make the plan of a call in scopes ``key`` at ``now``: its charges, and the ledger's
        reservation and settle on them (kept until ``now`` leaves their buckets)."""
        charges = tuple(order_for_check([budget.charge(now) for budget in self.budgets_for(key)]))
        starts, ends = _EARLIEST, _LATEST
        if charges:
            starts = datetime.fromtimestamp(max(charge.bucket for charge in charges), UTC)
            ends = datetime.fromtimestamp(
                min(charge.bucket + charge.width for charge in charges), UTC
            )
        if len(self._plans) >= _MAX_PLANS:
            self._plans.clear()
        ledger = self.ledger
        plan = _Plan(charges, starts, ends, ledger.holder(charges), self._settler(charges))
        self._plans[key] = plan
        return plan

    def reserve(
        self,
        estimate: Decimal,
        *,
        tool: str,
        labels: dict[str, str] | None = None,
        scopes: Sequence[str] | None = None,
    ) -> Reservation:
        """Hold ``estimate`` dollars on every budget of the call, atomically, or refuse it.

        The call's scopes are ``tool:<tool>`` and ``label:<name>=<value>`` for
        each label, unless ``scopes`` names them. Raises
        :class:`~toolkeeper.BudgetExceeded` when a ``refuse`` budget cannot
        afford it; returns a reservation with :attr:`~Reservation.fallback` set
        when a ``fallback`` budget cannot.
        """
        found = self._reserve(estimate, tool, labels, scopes, wait=False)
        assert found is not None  # only a waiting reservation is ever None
        return found

    def reserve_or_wait(
        self,
        estimate: Decimal,
        *,
        tool: str,
        labels: dict[str, str] | None = None,
        scopes: Sequence[str] | None = None,
    ) -> Reservation | None:
        """Reserve as :meth:`reserve` does, or return ``None`` to wait and try again.

        ``None`` when the only thing between the call and its budgets is money
        held by calls in flight (a call of unknown cost holds all that is left, in
        this process or another; a lease): once they settle the call may be
        afforded, so it is not refused for what is not spent.
        """
        return self._reserve(estimate, tool, labels, scopes, wait=True)

    def reserve_at_once(
        self, estimate: Decimal, *, tool: str, scopes: Sequence[str]
    ) -> Reservation | None:
        """Reserve as :meth:`reserve` does when every budget admits the call now, else ``None``.

        ``None`` holds nothing and decides nothing: a call that would wait, be
        refused or go to its fallback is then admitted by :meth:`reserve_or_wait`,
        which says why (the fast path hands such a call to the general one).
        """
        reservation, verdict = self._hold(estimate, tool, scopes)
        return reservation if verdict is ADMITTED or verdict.admitted else None

    def _hold(
        self, estimate: Decimal, tool: str, scopes: Sequence[str]
    ) -> tuple[Reservation, Verdict]:
        """Hold ``estimate`` on the budgets of ``scopes`` if all admit it: the reservation,
        and the verdict (when not admitted, the reservation holds nothing)."""
        try:
            known = self._amounts.get(estimate)
        except TypeError:  # a signaling NaN does not hash: converting it below refuses it
            known = None
        if known is None:
            known = self._amount(estimate)
        amount, nanos = known
        now = self._clock.now()
        plan = self._plan(scopes, now)
        charges = plan.charges
        rid = f"{self._id_prefix}{next(self._id_count)}"
        reservation = Reservation(rid, tool, amount, now, charges, nanos)
        if not charges:
            return reservation, ADMITTED
        reservation.settler = plan.settle
        return reservation, plan.hold(nanos, rid, now, now + self._ttl)

    def _reserve(
        self,
        estimate: Decimal,
        tool: str,
        labels: dict[str, str] | None,
        scopes: Sequence[str] | None,
        wait: bool,
    ) -> Reservation | None:
        reservation, verdict = self._hold(
            estimate, tool, scopes if scopes is not None else scopes_for(tool, labels)
        )
        if verdict is ADMITTED or verdict.admitted:
            return reservation
        charges, nanos, amount = reservation.charges, reservation.nanos, reservation.estimate
        assert verdict.blocked is not None
        blocked = charges[verdict.blocked]
        if (
            wait
            and verdict.reserved > 0
            and admits(limit=blocked.limit, spent=verdict.spent, reserved=0, amount=nanos)
        ):
            return None  # held by calls in flight, not spent: it may fit once they settle
        message = _refusal(blocked, verdict, tool=tool, estimate=amount)
        if blocked.budget.policy == "refuse":
            raise BudgetExceeded(message, tool=tool)
        reservation.charges = ()
        reservation.refusal = message
        return reservation

    def _amount(self, estimate: Decimal) -> tuple[Decimal, int]:
        """Return an estimate as (dollars, nano-dollars), remembered for the next calls."""
        amount = usd(estimate)
        if amount < 0:
            raise ValueError(f"a cost estimate cannot be negative, got {estimate}")
        known = (amount, to_nanos(amount))
        # Finite Decimals, floats and ints only: a NaN does not hash as itself.
        kind = type(estimate)
        if kind in _CACHED and (kind is not Decimal or estimate.is_finite()):
            if len(self._amounts) >= _MAX_PLANS:
                self._amounts.clear()
            self._amounts[estimate] = known
        return known

    def reserve_remaining(
        self,
        *,
        tool: str,
        scopes: Sequence[str] | None = None,
        labels: dict[str, str] | None = None,
    ) -> Reservation | None:
        """Hold all that the call's budgets have left, for a call whose cost is unknown.

        Such a call cannot overshoot, and while it runs no other call is
        admitted: calls of unknown cost run one at a time. Returns ``None``
        when everything left is held by calls in flight (try again once they
        settle); raises :class:`~toolkeeper.BudgetExceeded` (or returns a
        fallback reservation) when a budget has nothing left at all.
        """
        now = self._clock.now()
        found = self.charges_for(scopes if scopes is not None else scopes_for(tool, labels), now)
        blocking = [charge for charge in found if charge.blocking]
        if not blocking:
            return self.reserve(Decimal(0), tool=tool, labels=labels, scopes=scopes)
        left, exhausted = [], False
        for charge in blocking:
            spent, reserved = self.ledger.usage(charge, now=now)
            left.append(charge.limit - spent - reserved)
            exhausted = exhausted or spent >= charge.limit
        amount = min(left)
        if exhausted:
            return self.reserve(NANO, tool=tool, labels=labels, scopes=scopes)
        if amount <= 0:
            return None
        try:
            reservation = self.reserve(from_nanos(amount), tool=tool, labels=labels, scopes=scopes)
        except BudgetExceeded:
            return None  # another call took some of it meanwhile: look again
        if reservation.fallback:
            return None
        reservation.unknown = True
        return reservation

    def settle(self, reservation: Reservation, actual: Decimal) -> Settlement:
        """Replace the reservation by the call's ``actual`` cost; emit the warnings it reaches.

        Settling a fallback reservation records nothing: the fallback's own call
        is charged through its own reservation. Raises ``ValueError`` when the
        reservation was already settled or released.
        """
        spent = usd(actual)
        if spent < 0:
            raise ValueError(f"an actual cost cannot be negative, got {actual}")
        events = self._settle_nanos(reservation, to_nanos(spent))
        held = reservation.estimate if reservation.charges or not reservation.fallback else _ZERO
        return Settlement(released=held - spent, spent=spent, events=events)

    def _settle_nanos(self, reservation: Reservation, spent: int) -> tuple[BudgetEvent, ...]:
        """Settle like :meth:`settle` an actual cost given in nano-dollars (>= 0).

        Returns the warnings the spend fired; the overshoot is ``spent - reservation.nanos``
        when positive (and the reservation held something).
        """
        self._close(reservation, spent)
        if not reservation.charges:
            return ()
        fired = self.ledger.settle(
            reservation.charges, spent, reservation_id=reservation.id, now=self._clock.now()
        )
        return self._emit(reservation.charges, fired) if fired else ()

    def _close(self, reservation: Reservation, spent: int) -> None:
        """Mark ``reservation`` settled, refusing a negative amount or a second settle."""
        if spent < 0:
            raise ValueError(f"an actual cost cannot be negative, got {from_nanos(spent)}")
        # acquire/release, not `with`: on every budgeted call, and half the cost.
        self._lock.acquire()
        try:
            done = reservation.done
            reservation.done = True
        finally:
            self._lock.release()
        if done:
            raise ValueError(f"reservation {reservation.id} was already settled")

    def settle_later(self, reservation: Reservation, spent: int) -> None:
        """Settle in nano-dollars off the caller's path where the ledger allows; the hot path.

        The reservation holds its money until the ledger writes the settle (see
        :meth:`~toolkeeper.costs.ledger.Ledger.settle_later`); warnings go to
        ``on_event`` from the thread that writes it. Raises ``ValueError`` for a
        negative amount or a reservation already settled.
        """
        self._close(reservation, spent)
        charges = reservation.charges
        if not charges:
            return
        settle = reservation.settler
        if settle is None:  # a reservation this guard did not make
            settle = self._settler(charges)
        settle(spent, reservation.id)

    def _settler(self, charges: tuple[Charge, ...]) -> Callable[[int, str], object]:
        """Return what settles a reservation on ``charges``: ``settle(spent, reservation_id)``.

        The ledger's settle, with this guard's clock and its warnings' handler bound.
        """
        on_fired = None if self._on_event is None else partial(self._emit, charges)
        return partial(self.ledger.settler(charges), self._clock.now, on_fired)

    def release(self, reservation: Reservation) -> Settlement:
        """Give back everything the reservation held: the call failed and spent nothing."""
        return self.settle(reservation, Decimal(0))

    def record(
        self,
        amount: Decimal,
        *,
        tool: str,
        labels: dict[str, str] | None = None,
        scopes: Sequence[str] | None = None,
    ) -> tuple[BudgetEvent, ...]:
        """Record spend that was not reserved (a cost known only afterwards); never refuses."""
        spent = usd(amount)
        now = self._clock.now()
        charges = self.charges_for(scopes if scopes is not None else scopes_for(tool, labels), now)
        if not charges:
            return ()
        fired = self.ledger.settle(charges, to_nanos(spent), reservation_id=None, now=now)
        return self._emit(charges, fired)

    def status(self, scope: str | None = None) -> list[BudgetStatus]:
        """Return the state of every budget now (or only those of ``scope``)."""
        now = self._clock.now()
        statuses = []
        for budget in self.budgets:
            if scope is not None and budget.scope != scope:
                continue
            charge = budget.charge(now)
            spent, reserved = self.ledger.usage(charge, now=now)
            statuses.append(
                BudgetStatus(
                    budget=budget,
                    spent=from_nanos(spent),
                    reserved=from_nanos(reserved),
                    period_start=charge.slot.starts,
                    period_end=charge.slot.ends,
                )
            )
        return statuses

    def _emit(self, charges: Sequence[Charge], fired: list[Fired]) -> tuple[BudgetEvent, ...]:
        now = self._clock.now()
        events = tuple(
            event_for(charges[mark.index], mark.label, spent=mark.spent, at=now) for mark in fired
        )
        if self._on_event is not None:
            for event in events:
                self._on_event(event)
        return events


_MAX_PLANS = 4096
_EARLIEST = datetime.min.replace(tzinfo=UTC)
_LATEST = datetime.max.replace(tzinfo=UTC)
_ZERO = Decimal(0)
#: Estimates of these types are remembered once converted (finite Decimals: NaNs do not hash).
_CACHED = frozenset({Decimal, float, int})


@dataclass(frozen=True, slots=True)
class _Plan:
    """A call's charges, valid for moments in [starts, ends), and the ledger's
    reservation and settle on them."""

    charges: tuple[Charge, ...]
    starts: datetime
    ends: datetime
    hold: Hold
    settle: Callable[[int, str], object]


def budgets_from_config(
    tool: str,
    config: object,
    *,
    time_zone: str = "UTC",
    policy: Policy = "refuse",
) -> list[Budget]:
    """Return the daily and monthly budgets an ``ExternalToolConfig`` sets for ``tool``.

    Reads ``daily_budget``, ``monthly_budget`` and ``budget_alert_thresholds``
    (thresholds of 1.0 are the limit itself, which always fires an event).
    """
    fields = cost_fields(config)
    if fields is None:  # a tool type without budget fields
        return []
    thresholds = tuple(t for t in fields.budget_alert_thresholds if t < 1)
    found = []
    kinds: tuple[tuple[Decimal | None, Literal["daily", "monthly"]], ...] = (
        (fields.daily_budget, "daily"),
        (fields.monthly_budget, "monthly"),
    )
    for limit, kind in kinds:
        if limit is not None:
            found.append(
                Budget(
                    scope=f"tool:{tool}",
                    limit=Decimal(limit),
                    period=Period(kind, time_zone=time_zone),
                    thresholds=thresholds,
                    policy=policy,
                )
            )
    return found


def _refusal(charge: Charge, verdict: Verdict, *, tool: str, estimate: Decimal) -> str:
    budget = charge.budget
    if budget.period.kind == "rolling":
        when = f"its spend leaves the rolling {budget.period.hours}h window gradually"
    else:
        local = charge.slot.ends.astimezone(budget.period.zone)
        when = f"the {budget.period.kind} period ends at {local.isoformat()}"
    return (
        f"budget {budget.key} cannot afford this call to {tool!r}: limit "
        f"{format_money(budget.limit)}, spent {format_money(from_nanos(verdict.spent))}, reserved "
        f"{format_money(from_nanos(verdict.reserved))} by calls in flight, this call's estimate "
        f"{format_money(estimate)}; {when}"
    )
