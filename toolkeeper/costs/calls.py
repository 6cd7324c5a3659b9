"""What the wrapped calls of one tool need from costs: admit, price, settle.

A :class:`CallCosts` is built for a tool each time its runtime is (re)built,
that is once per configuration version, so a changed budget or rate limit
applies to the next call. Calls of a tool that is not :attr:`~CallCosts.guarded`
(no budget and no rate limit applies) never call :meth:`~CallCosts.admit` or
:meth:`~CallCosts.settle`: they only price responses that carry no cost.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Iterator, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from toolkeeper._drivers import takes_arguments_of
from toolkeeper._errors import BudgetExceeded, StoreError
from toolkeeper.costs.budgets import scopes_for
from toolkeeper.costs.estimates import EstimateKey, request_estimate, request_model
from toolkeeper.costs.guard import BudgetGuard, Reservation
from toolkeeper.costs.money import from_nanos, nanos_of, to_nanos
from toolkeeper.costs.prices import Priced
from toolkeeper.costs.ratelimit import RateLimiter
from toolkeeper.costs.settings import GLOBAL_SCOPE
from toolkeeper.costs.usage import Usage

if TYPE_CHECKING:
    from toolkeeper.costs.tracker import CostTracker

__all__ = ["CallCosts"]

_log = logging.getLogger("toolkeeper.costs")
_ZERO = Decimal(0)
#: How long a call of unknown cost waits for the one in flight to settle, and how often it looks.
UNKNOWN_COST_WAIT_S = 60.0
_POLL_S = 0.005
_MAX_LABEL_SETS = 1024


class CallCosts:
    """Budgets, rate limit and prices for the calls of one tool; thread-safe.

    ``guard`` holds the budgets a call of the tool may be charged to (the
    tool's own, then every label and global budget); ``limiter`` its rate
    limit. Either may be ``None``.
    """

    __slots__ = (
        "_learn", "_own_scopes", "_scope_cache", "_tracker", "guard", "guarded", "limiter", "tool",
    )  # fmt: skip

    def __init__(
        self,
        tracker: CostTracker,
        tool: str,
        *,
        guard: BudgetGuard | None,
        limiter: RateLimiter | None,
    ) -> None:
        self._tracker = tracker
        self.tool = tool
        self.guard = guard
        self.limiter = limiter
        self.guarded = guard is not None or limiter is not None
        self._learn = tracker.learned.learn_nanos
        # The budget scopes of each set of labels seen (most tools pass the same every call),
        # and those of a call with none.
        self._scope_cache: dict[tuple[tuple[str, str], ...], tuple[str, ...]] = {}
        self._own_scopes = (*scopes_for(tool, None), GLOBAL_SCOPE)

    def _admission(
        self,
        estimate: Decimal | None,
        labels: Mapping[str, str] | None = None,
        tokens: int = 0,
        *,
        operation: str = "default",
        request: Mapping[str, Any] | None = None,
    ) -> Reservation | _Waiting | None:
        """Admit the call now, or return the waits it needs: the one engine of both drivers.

        A call under a rate limit, or one that must wait for calls in flight,
        gets a :class:`_Waiting` whose waits its driver sleeps or awaits.
        """
        if self.limiter is not None:
            return _Waiting(self._limited(estimate, labels, tokens, operation, request))
        return self._admit_now(estimate, labels, operation, request)

    @takes_arguments_of(_admission)
    def admit(self, *args: Any, **kwargs: Any) -> Reservation | None:
        """Pass the rate limit, then reserve the call's cost on its budgets.

        ``estimate`` ``None`` (none given): the cost is derived from the call's
        keyword arguments ``request`` (``max_tokens`` priced on ``model``), else
        from the largest recent cost of the tool's ``operation`` on that model;
        failing both it is unknown and the call holds all its budgets have left
        (calls of unknown cost run one at a time, each waiting up to
        :data:`UNKNOWN_COST_WAIT_S` on the tracker's clock for the one before). A call
        held off only by money calls in flight hold (not spent) waits for them as long.
        ``tokens`` counts against the rate limit's tokens per minute. Raises
        :class:`~toolkeeper.RateLimited` or :class:`~toolkeeper.BudgetExceeded`;
        returns ``None`` when no budget applies, else the reservation (whose
        ``fallback`` says a ``fallback`` budget could not afford the call).
        """
        found = self._admission(*args, **kwargs)
        if not isinstance(found, _Waiting):
            return found
        for wait in found:
            self._tracker.clock.sleep(wait)
        return found.reservation

    @takes_arguments_of(_admission)
    async def aadmit(self, *args: Any, **kwargs: Any) -> Reservation | None:
        """Admit like :meth:`admit`, waiting without blocking the event loop."""
        found = self._admission(*args, **kwargs)
        if not isinstance(found, _Waiting):
            return found
        for wait in found:
            await self._tracker.clock.asleep(wait)
        return found.reservation

    def admit_at_once(
        self,
        estimate: Decimal | None,
        labels: Mapping[str, str] | None,
        operation: str,
        request: Mapping[str, Any] | None,
    ) -> Reservation | None:
        """Reserve the call's estimate outright, or return ``None`` for :meth:`admit` to decide.

        The fast path's admission (no rate limit, an estimate known now, budgets
        that admit it at once); ``None`` holds nothing, and the call goes the
        general way, where a wait, a refusal, a fallback or a ledger's error is
        decided and recorded.
        """
        guard = self.guard
        if guard is None or self.limiter is not None:
            return None
        key, amount = self._estimate(estimate, operation, request)
        if amount is None:
            return None
        try:
            reservation = guard.reserve_at_once(amount, tool=self.tool, scopes=self._scopes(labels))
        except Exception:  # noqa: BLE001 - admit() meets it again, raises and records it
            return None
        if reservation is not None:
            reservation.basis = key
        return reservation

    def _limited(
        self,
        estimate: Decimal | None,
        labels: Mapping[str, str] | None,
        tokens: int,
        operation: str,
        request: Mapping[str, Any] | None,
    ) -> Generator[float, None, Reservation | None]:
        """Yield the rate limit's waits, then the budgets'; return the reservation."""
        assert self.limiter is not None
        yield from self.limiter.waits(tokens)
        found = self._admit_now(estimate, labels, operation, request)
        if isinstance(found, _Waiting):
            return (yield from found.steps)
        return found

    def _admit_now(
        self,
        estimate: Decimal | None,
        labels: Mapping[str, str] | None,
        operation: str,
        request: Mapping[str, Any] | None,
    ) -> Reservation | _Waiting | None:
        """Reserve the call's estimate; a call of unknown cost gets the waits it may need."""
        if self.guard is None:
            return None
        key, amount = self._estimate(estimate, operation, request)
        if amount is not None:
            found = self._reserve(amount, labels, key, wait=True)
            if found is not None:
                return found
            # Held by calls in flight, not spent: wait for them to settle, as below.
            deadline = self._tracker.clock.monotonic() + UNKNOWN_COST_WAIT_S
            return _Waiting(_polling(self._reserve_held, amount, labels, key, deadline))
        deadline = self._tracker.clock.monotonic() + UNKNOWN_COST_WAIT_S
        return _Waiting(_polling(self._reserve_unknown, labels, key, deadline))

    def settle(
        self, reservation: Reservation | None, cost: float | Decimal, *, unpriced: bool = False
    ) -> None:
        """Replace the reservation by the call's actual ``cost`` in dollars.

        An ``unpriced`` call's cost is unknown, not zero: it is charged its
        estimate. A ledger that cannot be written is logged, not raised: the
        call has already run, and its reservation expires on its own. An actual
        above the reservation is settled in full and counted as an overshoot in
        the ledger (:meth:`~toolkeeper.costs.CostTracker.overshoots`).
        """
        if reservation is None or self.guard is None or reservation.done:
            return
        if unpriced:
            learned = self._learned(reservation.basis)
            # Unknown, not zero: charged the estimate (a call of unknown cost, what it taught).
            actual = (learned or _ZERO) if reservation.unknown else reservation.estimate
            spent = to_nanos(actual)
        else:
            spent = nanos_of(cost)
            if spent < 0:
                raise ValueError(f"an actual cost cannot be negative, got {cost}")
            if reservation.basis is not None and reservation.refusal is None:
                self._learn(reservation.basis, spent)
        self._charge(reservation, spent)

    def release(self, reservation: Reservation | None) -> None:
        """Give back a reservation whose call failed and spent nothing.

        Unlike a settle of $0 it teaches no estimate: a failed call says nothing of
        what the call costs, and a learned $0 would let the next calls reserve nothing.
        """
        if reservation is None or self.guard is None or reservation.done:
            return
        self._charge(reservation, 0)

    def _charge(self, reservation: Reservation, spent: int) -> None:
        """Settle ``reservation`` at ``spent`` nano-dollars, counting an overshoot."""
        assert self.guard is not None
        try:
            self.guard.settle_later(reservation, spent)
        except StoreError:
            _log.exception(
                "could not settle reservation %s of tool %r; it expires on its own",
                reservation.id,
                self.tool,
            )
            return
        if spent > reservation.nanos and reservation.charges:
            overshoot = from_nanos(spent - reservation.nanos)
            try:
                self._tracker.count_overshoot(self.tool, overshoot, reservation.estimate)
            except StoreError:  # the spend is settled; only the overshoot's count is lost
                _log.exception("could not count an overshoot of tool %r", self.tool)

    def count_unmetered(self, model: str | None) -> None:
        """Count one response whose usage could not be read: its cost is unknown."""
        self._tracker.count_unpriced(self.tool, f"{model or 'unknown model'} (unmetered)")

    def price(self, usage: Usage) -> Priced:
        """Price ``usage`` on its model now, counting it when the model has no price."""
        model = usage.model or ""
        priced = self._tracker.price(model, usage)
        if priced.cost is None:
            self._tracker.count_unpriced(self.tool, model)
        return priced

    def _estimate(
        self, estimate: Decimal | None, operation: str, request: Mapping[str, Any] | None
    ) -> tuple[EstimateKey, Decimal | None]:
        """Return what the call's cost is learned under, and its estimate (None: unknown)."""
        model = None if request is None else request_model(request)
        key: EstimateKey = (self.tool, operation, model)
        if estimate is not None:
            return key, estimate
        derived = request_estimate(request, self._price_or_none)
        return key, derived if derived is not None else self._learned(key)

    def _learned(self, key: EstimateKey | None) -> Decimal | None:
        return None if key is None else self._tracker.learned.largest(key)

    def _price_or_none(self, model: str, usage: Usage) -> Decimal | None:
        return self._tracker.price(model, usage).cost

    def _scopes(self, labels: Mapping[str, str] | None) -> tuple[str, ...]:
        if not labels:
            return self._own_scopes
        key = tuple(labels.items())
        found = self._scope_cache.get(key)
        if found is None:
            found = (*scopes_for(self.tool, dict(labels)), GLOBAL_SCOPE)
            if len(self._scope_cache) >= _MAX_LABEL_SETS:
                self._scope_cache.clear()
            self._scope_cache[key] = found
        return found

    def _reserve(
        self,
        estimate: Decimal,
        labels: Mapping[str, str] | None,
        key: EstimateKey,
        *,
        wait: bool = False,
    ) -> Reservation | None:
        """Reserve ``estimate``; with ``wait``, ``None`` while calls in flight hold the money."""
        if self.guard is None:
            return None
        scopes = self._scopes(labels)
        if wait:
            reservation = self.guard.reserve_or_wait(estimate, tool=self.tool, scopes=scopes)
            if reservation is None:
                return None
        else:
            reservation = self.guard.reserve(estimate, tool=self.tool, scopes=scopes)
        reservation.basis = key
        return reservation

    def _reserve_held(
        self,
        estimate: Decimal,
        labels: Mapping[str, str] | None,
        key: EstimateKey,
        deadline: float,
    ) -> Reservation | None:
        """Try once more to reserve a call held off by calls in flight; ``None``: wait again.

        Past ``deadline`` the budgets answer as they stand: refused (or a fallback).
        """
        if self._tracker.clock.monotonic() >= deadline:
            return self._reserve(estimate, labels, key)
        return self._reserve(estimate, labels, key, wait=True)

    def _reserve_unknown(
        self, labels: Mapping[str, str] | None, key: EstimateKey, deadline: float
    ) -> Reservation | None:
        """Try once to admit a call of unknown cost; ``None``: wait and try again."""
        assert self.guard is not None
        learned = self._learned(key)
        if learned is not None:  # the call in flight settled and taught an estimate
            return self._reserve_held(learned, labels, key, deadline)
        reservation = self.guard.reserve_remaining(tool=self.tool, scopes=self._scopes(labels))
        if reservation is not None:
            reservation.basis = key
            return reservation
        if self._tracker.clock.monotonic() >= deadline:
            raise BudgetExceeded(
                f"tool {self.tool!r}: a call with no estimated_cost waited "
                f"{UNKNOWN_COST_WAIT_S:g}s for the call of unknown cost before it to settle; "
                "give estimated_cost (or max_tokens and a priced model) to run them together",
                tool=self.tool,
            )
        return None

    def __repr__(self) -> str:
        return f"CallCosts(tool={self.tool!r}, guarded={self.guarded})"


class _Waiting:
    """An admission that waits: iterate the waits, then read ``reservation``.

    A call under a rate limit waits for it to pass; a call of unknown cost waits
    for the one in flight to settle; a call whose budgets' money is held (not
    spent) by calls in flight, in this process or another, waits for them to
    settle. ``steps`` yields each wait in seconds and returns the reservation
    (raising :class:`~toolkeeper.RateLimited` or :class:`~toolkeeper.BudgetExceeded`
    past its deadline); the drivers of :meth:`CallCosts.admit` and
    :meth:`CallCosts.aadmit` sleep or await each wait.
    """

    __slots__ = ("reservation", "steps")

    def __init__(self, steps: Generator[float, None, Reservation | None]) -> None:
        self.steps = steps
        self.reservation: Reservation | None = None

    def __iter__(self) -> Iterator[float]:
        self.reservation = yield from self.steps


def _polling(
    attempt: Callable[..., Reservation | None], *args: Any
) -> Generator[float, None, Reservation]:
    """Try ``attempt(*args)`` until it gives a reservation, yielding the poll interval between."""
    while (found := attempt(*args)) is None:
        yield _POLL_S
    return found
