"""Expose budget overshoots to Prometheus: the ledger's totals, read at each scrape.

``registry.register(OvershootCollector(keeper.costs))``; ``toolkeeper serve``'s
``/metrics`` registers it beside the monitor's collector. The figures are the
ledger's all-time totals per tool, so every process that shares the ledger
exports the same values, and they never decrease (docs/metrics.md).
``prometheus_client`` is imported when a scrape runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prometheus_client.core import Metric

    from toolkeeper.costs.tracker import CostTracker

__all__ = ["OvershootCollector"]


class OvershootCollector:
    """Collect the calls that cost more than they reserved, and by how much, per tool."""

    def __init__(self, costs: CostTracker) -> None:
        self.costs = costs

    def collect(self) -> Iterator[Metric]:
        """Yield the overshoot counters from one read of the ledger."""
        # Deferred: prometheus-client loads only when metrics are collected.
        from prometheus_client.core import CounterMetricFamily

        calls = CounterMetricFamily(
            "toolkeeper_budget_overshoots",
            "Calls that cost more than their budget reservation held (settled in full).",
            labels=["tool"],
        )
        amount = CounterMetricFamily(
            "toolkeeper_budget_overshoot_usd",
            "US dollars those calls cost beyond their reservations.",
            labels=["tool"],
        )
        for tool, found in sorted(self.costs.overshoots().items()):
            calls.add_metric([tool], found.calls)
            amount.add_metric([tool], float(found.amount))
        yield calls
        yield amount
