"""What the dashboard and tool pages show, read from the keeper: cards, spend, operations.

Cards and the system's health come from the shared summary
(:mod:`toolkeeper.server.api._summary`), the one the API and the event stream
send, so a page rendered on the server and one updated by a ``tick`` show the
same figures.
Spend is the monitor's cost sum over the last 24 hours, and the spend of each
of the tool's budgets in its period, from ``keeper.costs``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from toolkeeper.keeper import Keeper
from toolkeeper.monitor.persist import latest_stored_operations
from toolkeeper.monitor.records import OperationStatus
from toolkeeper.server.api.operations import Operation

__all__ = [
    "BudgetLine",
    "Spend",
    "recent_errors",
    "recent_operations",
    "spend_of",
]

_SPEND_WINDOW = "24h"
#: Failed attempts: errors, timeouts, and calls a fallback answered after a failure or refusal.
_FAILURES = frozenset({OperationStatus.ERROR, OperationStatus.TIMEOUT, OperationStatus.FALLBACK})


@dataclass(frozen=True, slots=True)
class BudgetLine:
    """One budget of a tool: its period, spend and limit (US dollars)."""

    period: str
    spent: Decimal
    limit: Decimal
    period_end: str

    @property
    def used_percent(self) -> float | None:
        """Return spend as a percentage of the limit (``None`` for a zero limit)."""
        return float(self.spent / self.limit * 100) if self.limit else None


@dataclass(frozen=True, slots=True)
class Spend:
    """A tool's spend: over the last 24 h from the monitor, and against each of its budgets."""

    last_24h: float
    budgets: tuple[BudgetLine, ...]


def spend_of(keeper: Keeper, tools: list[str]) -> dict[str, Spend]:
    """Return each tool's spend: the last 24 h, and its budgets when ``keeper.costs`` has any."""
    statuses = keeper.costs.status()
    found: dict[str, Spend] = {}
    for name in tools:
        stats = (
            keeper.monitoring.get_window_stats(name, _SPEND_WINDOW)
            if keeper.monitoring.knows(name)
            else None
        )
        lines = tuple(
            BudgetLine(
                period=status.budget.period.kind,
                spent=status.spent,
                limit=status.budget.limit,
                period_end=status.period_end.isoformat(),
            )
            for status in statuses
            if status.budget.scope == f"tool:{name}"
        )
        found[name] = Spend(last_24h=stats.cost_usd if stats else 0.0, budgets=lines)
    return found


def recent_operations(
    keeper: Keeper, *, tool: str | None = None, limit: int = 20
) -> list[Operation]:
    """Return the latest finished operations of every process, newest first, from the store.

    What this process recorded is flushed first, so the list agrees with the cards.
    """
    keeper.flush()
    records = latest_stored_operations(keeper.store, tool=tool, limit=limit)
    return [Operation.of(record) for record in records]


def recent_errors(keeper: Keeper, tool: str, *, limit: int = 20) -> list[Operation]:
    """Return a tool's latest failed attempts (errors, timeouts, fallbacks), newest first.

    Read from the store, so a server beside the application lists the application's
    failures; only the newest stored operations of all tools are searched.
    """
    keeper.flush()
    records = latest_stored_operations(keeper.store, tool=tool, statuses=_FAILURES, limit=limit)
    return [Operation.of(record) for record in records]
