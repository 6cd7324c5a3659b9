"""What the wrapped calls of one tool need from costs: admit, price, settle.

A :class:`CallCosts` is built for a tool each time its runtime is (re)built,
that is once per configuration version, so a changed budget or rate limit
applies to the next call. Calls of a tool that is not :attr:`~CallCosts.guarded`
(no budget and no rate limit applies) never call :meth:`~CallCosts.admit` or
:meth:`~CallCosts.settle`: they only price responses that carry no cost.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from toolkeeper._errors import StoreError
from toolkeeper.costs.budgets import scopes_for
from toolkeeper.costs.guard import BudgetGuard, Reservation
from toolkeeper.costs.money import usd
from toolkeeper.costs.prices import Priced
from toolkeeper.costs.ratelimit import RateLimiter
from toolkeeper.costs.settings import GLOBAL_SCOPE
from toolkeeper.costs.usage import Usage, usage_from_response

if TYPE_CHECKING:
    from toolkeeper.costs.tracker import CostTracker

__all__ = ["CallCosts"]

_log = logging.getLogger("toolkeeper.costs")
_ZERO = Decimal(0)


class CallCosts:
    """Budgets, rate limit and prices for the calls of one tool; thread-safe.

    ``guard`` holds the budgets a call of the tool may be charged to (the
    tool's own, then every label and global budget); ``limiter`` its rate
    limit. Either may be ``None``.
    """

    __slots__ = ("_tracker", "guard", "guarded", "limiter", "tool")

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

    def admit(
        self, estimate: Decimal, labels: Mapping[str, str] | None = None, tokens: int = 0
    ) -> Reservation | None:
        """Pass the rate limit, then reserve ``estimate`` on the call's budgets.

        Raises :class:`~toolkeeper.RateLimited` or :class:`~toolkeeper.BudgetExceeded`;
        returns ``None`` when no budget applies, else the reservation (whose
        ``fallback`` says a ``fallback`` budget could not afford the call).
        """
        if self.limiter is not None:
            self.limiter.acquire(tokens)
        return self._reserve(estimate, labels)

    async def aadmit(
        self, estimate: Decimal, labels: Mapping[str, str] | None = None, tokens: int = 0
    ) -> Reservation | None:
        """Admit like :meth:`admit`, waiting for the rate limit without blocking the loop."""
        if self.limiter is not None:
            await self.limiter.aacquire(tokens)
        return self._reserve(estimate, labels)

    def settle(
        self, reservation: Reservation | None, cost: float | Decimal, *, unpriced: bool = False
    ) -> None:
        """Replace the reservation by the call's actual ``cost`` in dollars.

        An ``unpriced`` call's cost is unknown, not zero: it is charged its
        estimate. A ledger that cannot be written is logged, not raised: the
        call has already run, and its reservation expires on its own.
        """
        if reservation is None or self.guard is None or reservation.done:
            return
        try:
            self.guard.settle(reservation, reservation.estimate if unpriced else usd(cost))
        except StoreError:
            _log.exception(
                "could not settle reservation %s of tool %r; it expires on its own",
                reservation.id,
                self.tool,
            )

    def release(self, reservation: Reservation | None) -> None:
        """Give back a reservation whose call failed and spent nothing."""
        self.settle(reservation, _ZERO)

    def cost_of(self, response: Any) -> tuple[float, bool]:
        """Price a response that reports usage but no cost; return (dollars, priced).

        A response without usage costs nothing; a model without a price is
        counted as unpriced and reported as ``(0.0, False)``.
        """
        usage = usage_from_response(response)
        if usage is None or usage.model is None:
            return 0.0, True
        priced = self.price(usage)
        if priced.cost is None:
            return 0.0, False
        return float(priced.cost), True

    def price(self, usage: Usage) -> Priced:
        """Price ``usage`` on its model now, counting it when the model has no price."""
        model = usage.model or ""
        priced = self._tracker.price(model, usage)
        if priced.cost is None:
            self._tracker.count_unpriced(self.tool, model)
        return priced

    def _reserve(self, estimate: Decimal, labels: Mapping[str, str] | None) -> Reservation | None:
        if self.guard is None:
            return None
        scopes = [*scopes_for(self.tool, dict(labels) if labels else None), GLOBAL_SCOPE]
        return self.guard.reserve(estimate, tool=self.tool, labels=None, scopes=scopes)

    def __repr__(self) -> str:
        return f"CallCosts(tool={self.tool!r}, guarded={self.guarded})"
