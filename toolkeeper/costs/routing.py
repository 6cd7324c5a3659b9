"""RouteLLM routing decisions and what routing saved, against an explicit baseline.

The baseline is what the *same* requests, with the same usage, would have cost
on each decision's strong model, priced from the catalog at the time of the
request. Actual cost prices the usage on the model chosen. Both sums run over
the same set of requests: a decision whose chosen or strong model has no
price is left out of both and listed under :attr:`SavingsReport.unpriced`.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from toolkeeper._units import format_money, money_json
from toolkeeper.costs.prices import PriceCatalog
from toolkeeper.costs.usage import Usage

__all__ = ["RoutingDecision", "RoutingTally", "SavingsReport", "UnpricedDecision", "savings_report"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RoutingDecision:
    """One request routed by a router: the candidates, its score and what it used.

    ``score`` is the router's estimate that the strong model is needed (RouteLLM's
    win rate); the strong model is chosen when it exceeds ``threshold``.
    """

    router: str
    threshold: float
    chosen_model: str
    strong_model: str
    weak_model: str
    usage: Usage
    at: datetime
    score: float | None = None
    request_id: str | None = None
    cost: Decimal | None = None
    """What the request's calls cost as recorded (a fallback's model included); ``None``:
    its usage is priced on the chosen model."""

    @property
    def routed_to_strong(self) -> bool:
        """Return whether the request went to the strong model."""
        return self.chosen_model == self.strong_model


@dataclass(frozen=True, slots=True)
class UnpricedDecision:
    """A decision left out of the savings, and the models that have no price."""

    decision: RoutingDecision
    missing: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class SavingsReport:
    """Baseline (all on the strong model) against actual cost, over the priced requests."""

    requests: int
    priced_requests: int
    baseline_cost: Decimal
    actual_cost: Decimal
    by_model: dict[str, int]
    strong_requests: int
    weak_requests: int
    unpriced_count: int
    unpriced: tuple[UnpricedDecision, ...] = field(repr=False)
    catalog_version: str

    @property
    def savings(self) -> Decimal:
        """Return baseline less actual cost (negative if routing cost more)."""
        return self.baseline_cost - self.actual_cost

    @property
    def savings_percent(self) -> Decimal | None:
        """Return savings as a percentage of the baseline (``25.00`` is 25%); ``None`` if zero."""
        if not self.baseline_cost:
            return None
        percent = self.savings * 100 / self.baseline_cost
        return percent.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)

    def to_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready data (money as decimal strings)."""
        percent = self.savings_percent
        return {
            "requests": self.requests,
            "priced_requests": self.priced_requests,
            "baseline_cost": money_json(self.baseline_cost),
            "actual_cost": money_json(self.actual_cost),
            "savings": money_json(self.savings),
            "savings_percent": None if percent is None else str(percent),
            "by_model": dict(self.by_model),
            "strong_requests": self.strong_requests,
            "weak_requests": self.weak_requests,
            "unpriced_count": self.unpriced_count,
            "unpriced": [
                {"request_id": item.decision.request_id, "missing": list(item.missing)}
                for item in self.unpriced
            ],
            "catalog_version": self.catalog_version,
        }

    def __str__(self) -> str:
        percent = self.savings_percent
        shown = "n/a" if percent is None else f"{percent}%"
        return (
            f"{self.priced_requests} of {self.requests} requests priced: baseline "
            f"{format_money(self.baseline_cost)} (all on the strong model), actual "
            f"{format_money(self.actual_cost)}, saved {format_money(self.savings)} ({shown}); "
            f"{self.unpriced_count} unpriced"
        )


class RoutingTally:
    """Keep a savings report current as decisions arrive, in memory bounded by ``keep_unpriced``.

    Each decision is priced when recorded; the totals are exact. At most
    ``keep_unpriced`` unpriced decisions are kept for the report (all of them
    when ``None``), though every one is counted. Thread-safe.
    """

    def __init__(self, catalog: PriceCatalog, *, keep_unpriced: int | None = 100) -> None:
        self._catalog = catalog
        self._keep = keep_unpriced
        self._lock = threading.Lock()
        self._requests = 0
        self._priced = 0
        self._baseline = Decimal(0)
        self._actual = Decimal(0)
        self._by_model: Counter[str] = Counter()
        self._strong = 0
        self._weak = 0
        self._unpriced_count = 0
        self._unpriced: list[UnpricedDecision] = []

    def record(self, decision: RoutingDecision) -> None:
        """Price ``decision`` on its strong model, and on its chosen one if its cost is unknown."""
        baseline = self._catalog.price(decision.strong_model, decision.usage, at=decision.at)
        if decision.cost is not None:
            actual_cost: Decimal | None = decision.cost
            unpriced = [baseline]
        else:
            actual = self._catalog.price(decision.chosen_model, decision.usage, at=decision.at)
            actual_cost = actual.cost
            unpriced = [actual, baseline]
        with self._lock:
            self._requests += 1
            self._by_model[decision.chosen_model] += 1
            self._strong += decision.routed_to_strong
            self._weak += decision.chosen_model == decision.weak_model
            if actual_cost is None or baseline.cost is None:
                missing = tuple(dict.fromkeys(p.model for p in unpriced if p.cost is None))
                self._unpriced_count += 1
                if self._keep is None or len(self._unpriced) < self._keep:
                    self._unpriced.append(UnpricedDecision(decision, missing))
                return
            self._priced += 1
            self._actual += actual_cost
            self._baseline += baseline.cost

    def report(self) -> SavingsReport:
        """Return the savings so far."""
        with self._lock:
            return SavingsReport(
                requests=self._requests,
                priced_requests=self._priced,
                baseline_cost=self._baseline,
                actual_cost=self._actual,
                by_model=dict(sorted(self._by_model.items())),
                strong_requests=self._strong,
                weak_requests=self._weak,
                unpriced_count=self._unpriced_count,
                unpriced=tuple(self._unpriced),
                catalog_version=self._catalog.version,
            )


def savings_report(decisions: Iterable[RoutingDecision], catalog: PriceCatalog) -> SavingsReport:
    """Return what routing ``decisions`` saved against sending each to its strong model."""
    tally = RoutingTally(catalog, keep_unpriced=None)
    for decision in decisions:
        tally.record(decision)
    return tally.report()
