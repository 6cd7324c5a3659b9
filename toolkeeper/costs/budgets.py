"""Budgets, their charges in a ledger, and the arithmetic every ledger shares.

A :class:`Budget` limits the spend of one *scope* (``tool:openai``,
``label:team=search``) over one :class:`~toolkeeper.costs.periods.Period`.
At a moment it becomes a :class:`Charge`: integers in nano-dollars and epoch
seconds that a ledger checks and updates atomically. The rules, in
:func:`admits` and :func:`thresholds_reached`, are pure; the memory and SQL
ledgers call them and the Redis ledger's Lua script mirrors them.

The rules:

- A call is admitted when, for every *blocking* budget (policy ``refuse`` or
  ``fallback``), settled spend plus live reservations plus the call's estimate
  stays within the limit, and the budget is not already fully committed (so a
  call estimated at zero cannot slip past an exhausted budget).
- A ``warn`` budget never blocks: it reports when spend reaches its limit.
- A warning fires when *settled* spend reaches ``threshold * limit``, once per
  threshold per period; reaching the limit itself fires the ``limit`` event.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_CEILING, Decimal
from typing import Literal

from toolkeeper._units import check_money, format_money
from toolkeeper.costs.money import from_nanos, to_nanos, usd
from toolkeeper.costs.periods import Period, Slot

__all__ = [
    "Budget",
    "BudgetEvent",
    "BudgetStatus",
    "Charge",
    "Policy",
    "admits",
    "event_for",
    "order_for_check",
    "scopes_for",
    "thresholds_reached",
]

#: What happens to a call that a budget cannot afford.
Policy = Literal["refuse", "fallback", "warn"]

_POLICIES = ("refuse", "fallback", "warn")
_LIMIT = "limit"


@dataclass(frozen=True, slots=True, kw_only=True)
class Budget:
    """A limit on the spend of one scope over one period, with warnings and a policy.

    ``thresholds`` are fractions of the limit (``0.8`` is 80%) in (0, 1).
    """

    scope: str
    limit: Decimal
    period: Period
    thresholds: tuple[float, ...] = (0.8, 0.95)
    policy: Policy = "refuse"
    # In nano-dollars, computed once: the limit and each warning's mark (the limit last).
    _marks: tuple[tuple[str, int], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if ":" not in self.scope or "|" in self.scope:
            raise ValueError(
                f"budget scope {self.scope!r} must read kind:name, such as tool:openai or "
                "label:team=search, without '|'"
            )
        limit = check_money(self.limit, f"budget limit of {self.scope}")
        object.__setattr__(self, "limit", usd(limit))
        if self.policy not in _POLICIES:
            raise ValueError(f"budget policy {self.policy!r} is not one of {_POLICIES}")
        for threshold in self.thresholds:
            if not 0 < threshold < 1:
                raise ValueError(
                    f"budget threshold {threshold!r} of {self.scope} must be a fraction in (0, 1)"
                )
        object.__setattr__(self, "thresholds", tuple(sorted(set(self.thresholds))))
        marks = tuple(
            (_label(threshold), _ceil_nanos(self.limit * Decimal(repr(threshold))))
            for threshold in self.thresholds
        )
        object.__setattr__(self, "_marks", (*marks, (_LIMIT, to_nanos(self.limit))))

    @property
    def key(self) -> str:
        """Return the name under which ledgers keep this budget's spend."""
        return f"{self.scope}|{self.period.key}"

    @property
    def blocking(self) -> bool:
        """Return whether the budget stops calls it cannot afford (policy refuse or fallback)."""
        return self.policy != "warn"

    def charge(self, at: datetime) -> Charge:
        """Return the charge of this budget at the moment ``at``."""
        return Charge(
            budget=self,
            key=self.key,
            limit=self._marks[-1][1],
            blocking=self.policy != "warn",
            slot=self.period.slot(at),
            thresholds=self._marks,
        )


@dataclass(frozen=True, slots=True)
class Charge:
    """A budget at one moment, as integers a ledger can check and update atomically.

    ``thresholds`` pairs each warning's label (``"0.8"``, or ``"limit"``) with
    the spend in nano-dollars that fires it.
    """

    budget: Budget = field(repr=False)
    key: str
    limit: int
    blocking: bool
    slot: Slot
    thresholds: tuple[tuple[str, int], ...]

    @property
    def bucket(self) -> int:
        """Return the epoch second of the bucket this moment's spend goes to."""
        return self.slot.bucket

    @property
    def since(self) -> int:
        """Return the epoch second of the oldest bucket that counts."""
        return self.slot.since

    @property
    def width(self) -> int:
        """Return the length of one bucket in seconds."""
        return self.slot.width

    @property
    def period(self) -> int:
        """Return the epoch second naming the period warnings are deduplicated in."""
        return self.slot.period


@dataclass(frozen=True, slots=True, kw_only=True)
class BudgetEvent:
    """A budget reached one of its warning thresholds (``kind="threshold"``) or its limit."""

    budget: Budget
    kind: Literal["threshold", "limit"]
    threshold: float
    spent: Decimal
    limit: Decimal
    period_start: datetime
    period_end: datetime
    at: datetime

    def __str__(self) -> str:
        what = "reached its limit" if self.kind == "limit" else f"passed {self.threshold:.0%}"
        return (
            f"budget {self.budget.key} {what}: spent {format_money(self.spent)} of "
            f"{format_money(self.limit)} "
            f"in the period ending {self.period_end.isoformat()}"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class BudgetStatus:
    """The state of one budget at one moment."""

    budget: Budget
    spent: Decimal
    reserved: Decimal
    period_start: datetime
    period_end: datetime

    @property
    def remaining(self) -> Decimal:
        """Return what may still be reserved: the limit less spend and reservations (>= 0)."""
        return max(self.budget.limit - self.spent - self.reserved, Decimal(0))

    @property
    def used_fraction(self) -> Decimal | None:
        """Return settled spend as a fraction of the limit, or ``None`` for a zero limit."""
        return self.spent / self.budget.limit if self.budget.limit else None


def admits(*, limit: int, spent: int, reserved: int, amount: int) -> bool:
    """Return whether a blocking budget affords ``amount`` more (all in nano-dollars)."""
    committed = spent + reserved
    return committed < limit and committed + amount <= limit


def thresholds_reached(charge: Charge, spent: int) -> list[str]:
    """Return the labels of ``charge``'s thresholds that settled ``spent`` (> 0) has reached."""
    return [label for label, amount in charge.thresholds if spent >= amount and spent > 0]


def event_for(charge: Charge, label: str, *, spent: int, at: datetime) -> BudgetEvent:
    """Return the event announcing that ``charge`` reached the threshold ``label``."""
    return BudgetEvent(
        budget=charge.budget,
        kind="limit" if label == _LIMIT else "threshold",
        threshold=1.0 if label == _LIMIT else float(label),
        spent=from_nanos(spent),
        limit=charge.budget.limit,
        period_start=charge.slot.starts,
        period_end=charge.slot.ends,
        at=at,
    )


def scopes_for(tool: str, labels: dict[str, str] | None = None) -> list[str]:
    """Return the budget scopes of a call to ``tool`` carrying ``labels``."""
    return [
        f"tool:{tool}",
        *(f"label:{name}={value}" for name, value in sorted((labels or {}).items())),
    ]


def order_for_check(charges: Sequence[Charge]) -> list[Charge]:
    """Order charges so the strictest policy is checked first: refuse, fallback, then warn."""
    return sorted(charges, key=lambda charge: _POLICIES.index(charge.budget.policy))


def _label(threshold: float) -> str:
    return repr(threshold)


def _ceil_nanos(amount: Decimal) -> int:
    return math.ceil(amount.scaleb(9).to_integral_value(rounding=ROUND_CEILING))
