"""``keeper.costs``: the price catalog, budgets and rate limits of every tool of a Keeper.

::

    keeper = tk.Keeper.open(shared="redis://localhost")   # ledger and rate limits in Redis
    keeper.costs.price("gpt-4o", tk.costs.Usage(input_tokens=812, output_tokens=64))
    keeper.costs.status()            # every budget: spent, reserved, period
    keeper.costs.events()            # the last budget warnings and limits reached
    keeper.costs.unpriced()          # calls of models without a price, by (tool, model)
    keeper.costs.report(since=timedelta(hours=24), by="model")   # what `toolkeeper costs` shows

Budget spend is kept in the ledger named by ``[costs].ledger`` (else the store,
so spend survives restarts); rate-limit windows in ``[costs].rate_limits``
(else this process's memory). ``shared="redis://…"`` puts both in Redis.
Prices come from ``[prices]`` and, when the ``genai-prices`` package is
installed, from its maintained catalog; without it, only the overrides price
anything and every other model is reported unpriced.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from toolkeeper._clock import Clock, SystemClock
from toolkeeper._units import format_money
from toolkeeper.costs._genai import package_version
from toolkeeper.costs.budgets import Budget, BudgetEvent, BudgetStatus
from toolkeeper.costs.calls import CallCosts
from toolkeeper.costs.estimates import LearnedCosts
from toolkeeper.costs.guard import BudgetGuard, budgets_from_config
from toolkeeper.costs.ledger import Ledger, Overshoot, open_ledger
from toolkeeper.costs.money import to_nanos, usd
from toolkeeper.costs.prices import Priced
from toolkeeper.costs.ratelimit import RateLimit, RateLimiter
from toolkeeper.costs.report import (
    cost_report,
    overshoot_rows,
    read_operations,
    with_exact_totals,
)
from toolkeeper.costs.report_model import CostReport
from toolkeeper.costs.settings import GLOBAL_SCOPE, CostSettings
from toolkeeper.costs.tool_fields import RoutedFields, cost_fields
from toolkeeper.costs.usage import Usage

if TYPE_CHECKING:
    from toolkeeper.store.sql import Store

__all__ = ["CostTracker", "Overshoot"]

ToolSettings = Any
"""A tool's configuration as costs reads it: budget and rate-limit fields by attribute,
a missing one meaning unset (the Keeper passes each tool's validated config)."""

_log = logging.getLogger("toolkeeper.costs")
_KEEP_EVENTS = 100
_BURN_FRESH_S = 1.0  # how long one read of every budget serves budget_burn()
_KEEP_UNPRICED = 1000
_OTHER_MODELS = "(other models)"


class CostTracker:
    """Prices, budgets and rate limits for the wrapped calls of one Keeper; thread-safe.

    ``config_of`` returns a tool's current configuration and ``tools`` the
    configured tool names; ``store`` (with ``flush``, which writes pending
    operations to it) is what :meth:`report` reads. The tracker owns ``ledger``
    and the rate limiters it opens, and closes them in :meth:`close`.
    """

    def __init__(
        self,
        settings: CostSettings,
        *,
        config_of: Callable[[str], ToolSettings],
        tools: Callable[[], list[str]],
        ledger: Ledger,
        rate_limits: str | None = None,
        clock: Clock | None = None,
        store: Store | None = None,
        flush: Callable[[], None] | None = None,
        package: bool | None = None,
    ) -> None:
        self.settings = settings
        self.package = package_version() is not None if package is None else package
        self.catalog = settings.catalog(package=self.package)
        self.ledger = ledger
        self.rate_limits = rate_limits or settings.rate_limits
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.store = store
        self._config_of = config_of
        self._tools = tools
        self._flush = flush
        self._lock = threading.Lock()
        self._limiters: dict[str, tuple[RateLimiter, float]] = {}
        self._events: deque[BudgetEvent] = deque(maxlen=_KEEP_EVENTS)
        self._unpriced: dict[tuple[str, str], int] = {}
        #: The largest recent cost per call of each tool, operation and model (see estimates.py).
        self.learned = LearnedCosts()
        self._burn_lock = threading.Lock()
        self._burn_read: tuple[float, list[BudgetStatus]] | None = None

    @classmethod
    def open(
        cls,
        settings: CostSettings,
        *,
        config_of: Callable[[str], ToolSettings],
        tools: Callable[[], list[str]],
        store: Store,
        shared: str | None = None,
        clock: Clock | None = None,
        flush: Callable[[], None] | None = None,
    ) -> CostTracker:
        """Open the ledger (``shared``, else ``[costs].ledger``, else ``store``) and the tracker."""
        uri = shared or settings.ledger
        clock = clock if clock is not None else SystemClock()
        if uri:
            ledger = open_ledger(uri, clock=clock.monotonic)
        else:
            ledger = open_ledger(store=store, clock=clock.monotonic)
        return cls(
            settings,
            config_of=config_of,
            tools=tools,
            ledger=ledger,
            rate_limits=shared,
            clock=clock,
            store=store,
            flush=flush,
        )

    @property
    def prices_source(self) -> str:
        """Say where prices come from, for people reading a report."""
        if self.package:
            return f"[prices] overrides, then {package_version()}"
        return "[prices] overrides only (install 'toolkeeper[prices]' for the maintained catalog)"

    def price(self, model: str, usage: Usage, *, at: datetime | None = None) -> Priced:
        """Price ``usage`` on ``model`` at ``at`` (default: now); unpriced: ``cost`` is ``None``."""
        return self.catalog.price(model, usage, at=at if at is not None else self.clock.now())

    def for_tool(self, tool: str, config: ToolSettings) -> CallCosts:
        """Return what the calls of ``tool`` need under ``config`` (its budgets and rate limit)."""
        budgets: list[Budget] = []
        fields = cost_fields(config)
        if fields is None or fields.cost_tracking_enabled:
            budgets = [*self.tool_budgets(tool, config), *self.settings.budgets]
        guard = None
        if budgets:
            guard = BudgetGuard(
                budgets, ledger=self.ledger, clock=self.clock, on_event=self._budget_event
            )
        return CallCosts(self, tool, guard=guard, limiter=self._limiter(tool, config))

    def tool_budgets(self, tool: str, config: ToolSettings) -> list[Budget]:
        """Return the daily and monthly budgets ``config`` sets for ``tool`` (policy included)."""
        fields = cost_fields(config)
        return budgets_from_config(
            tool,
            config,
            time_zone=self.settings.time_zone,
            policy="refuse" if fields is None else fields.budget_policy,
        )

    def budgets(self) -> list[Budget]:
        """Return every budget now: each configured tool's, then the file's ``[[budgets]]``."""
        found = [
            b for tool in self._tools() for b in self.tool_budgets(tool, self._config_of(tool))
        ]
        return [*found, *self.settings.budgets]

    def status(self) -> list[BudgetStatus]:
        """Return the spend, reservations and period of every budget now, from the ledger."""
        return BudgetGuard(self.budgets(), ledger=self.ledger, clock=self.clock).status()

    def budget_burn(self, tool: str) -> float | None:
        """Return the largest fraction spent of the budgets every call of ``tool`` charges.

        Those are its own (``daily_budget``, ``monthly_budget``) and the global ones;
        label budgets, which only some calls charge, are not. ``None`` when it has
        none. Health asks this of every tool on every refresh, so the ledger is read
        at most once a second.
        """
        now = self.clock.monotonic()
        with self._burn_lock:
            read = self._burn_read
            if read is None or now - read[0] >= _BURN_FRESH_S:
                read = self._burn_read = (now, self.status())
        applicable = (f"tool:{tool}", GLOBAL_SCOPE)
        fractions = [
            float(status.used_fraction)
            for status in read[1]
            if status.budget.scope in applicable and status.used_fraction is not None
        ]
        return max(fractions) if fractions else None

    def events(self) -> list[BudgetEvent]:
        """Return the last budget events (warnings and limits reached), oldest first."""
        self.ledger.flush()  # settles still queued may fire some
        with self._lock:
            return list(self._events)

    def count_unpriced(self, tool: str, model: str) -> None:
        """Count one call of ``tool`` whose ``model`` has no price (bounded in memory)."""
        with self._lock:
            key = (tool, model)
            if key not in self._unpriced and len(self._unpriced) >= _KEEP_UNPRICED:
                key = (tool, _OTHER_MODELS)
            self._unpriced[key] = self._unpriced.get(key, 0) + 1

    def count_overshoot(self, tool: str, amount: Decimal, estimate: Decimal) -> None:
        """Count, in the ledger, one call of ``tool`` that cost ``amount`` more than it reserved.

        Raises :class:`~toolkeeper.StoreError` when the ledger cannot be written.
        """
        _log.warning(
            "a call of tool %r cost %s more than the %s reserved for it (budget overshoot)",
            tool, format_money(amount), format_money(estimate),
        )  # fmt: skip
        self.ledger.add_overshoot(tool, to_nanos(usd(amount)), now=self.clock.now())

    def overshoots(self) -> dict[str, Overshoot]:
        """Return, per tool, the calls that cost more than they had reserved, from the ledger.

        All-time totals, the same in every process that shares the ledger (a
        ``memory://`` ledger: this process's own).
        """
        return self.ledger.overshoots()

    def unpriced(self) -> dict[tuple[str, str], int]:
        """Return how many calls of each (tool, model) this process could not price.

        Flushes first: the responses the calls returned are priced where records drain.
        """
        if self._flush is not None:
            self._flush()
        with self._lock:
            return dict(self._unpriced)

    def report(
        self,
        *,
        since: timedelta | datetime = timedelta(hours=24),
        until: datetime | None = None,
        by: str = "tool",
        also_by: Iterable[str] = (),
        label: str | None = None,
        max_operations: int = 1_000_000,
    ) -> CostReport:
        """Return what ``toolkeeper costs`` shows (``.to_dict()`` is its JSON), from the store.

        ``since`` is a moment or a duration back from now. The total, the calls
        and the groups by tool, model or operation come from every writer's exact
        rollups (:func:`~toolkeeper.costs.report.with_exact_totals`); the detail
        (label groups, waste, routing, advice) reads at most ``max_operations`` raw
        rows (the newest), and the report says when it was cut. ``also_by`` names
        more groupings computed from the same read (:meth:`CostReport.groups_by`).
        """
        if self.store is None:
            raise ValueError("this cost tracker has no store to read operations from")
        if self._flush is not None:
            self._flush()
        now = self.clock.now()
        start = now - since if isinstance(since, timedelta) else since
        operations, truncated = read_operations(
            self.store, since=start, until=until, limit=max_operations
        )
        report = cost_report(
            operations, catalog=self.catalog, statuses=self.status(), since=start, until=until,
            weak_models=self._weak_models(), by=by, also_by=also_by, label=label, now=now,
        )  # fmt: skip
        # Deferred: the store's readers load SQLAlchemy; a tracker without a store never does.
        from toolkeeper.monitor.ranges import range_totals

        totals = range_totals(
            self.store, since=start.timestamp(),
            until=None if until is None else until.timestamp(), now=now.timestamp(),
        )  # fmt: skip
        return replace(
            with_exact_totals(report, totals),
            overshoots=overshoot_rows(self.overshoots()),
            prices=self.prices_source,
            truncated=truncated,
        )

    def close(self) -> None:
        """Close the rate limiters and the ledger."""
        with self._lock:
            limiters = [limiter for limiter, _ in self._limiters.values()]
            self._limiters.clear()
        for limiter in limiters:
            limiter.close()
        self.ledger.close()

    def _limiter(self, tool: str, config: ToolSettings) -> RateLimiter | None:
        limit = RateLimit.from_config(config)
        fields = cost_fields(config)
        wait = 0.0 if fields is None else float(fields.rate_limit_max_wait_seconds)
        unlimited = limit == RateLimit()
        with self._lock:
            found = self._limiters.get(tool)
            # Kept across versions that leave the limit alone, so its window is not reset.
            if found is not None and found[0].limit == limit and found[1] == wait:
                return found[0]
            if unlimited:
                self._limiters.pop(tool, None)
                created = None
            else:
                created = RateLimiter(
                    tool, limit, storage=self.rate_limits, clock=self.clock, max_wait_seconds=wait
                )
                self._limiters[tool] = (created, wait)
        if found is not None:
            found[0].close()
        return created

    def _weak_models(self) -> dict[str, str]:
        weak: dict[str, str] = {}
        for tool in self._tools():
            config = self._config_of(tool)
            if isinstance(config, RoutedFields):
                weak[config.strong_model] = config.weak_model
        return weak

    def _budget_event(self, event: BudgetEvent) -> None:
        _log.warning("%s", event)
        with self._lock:
            self._events.append(event)

    def __repr__(self) -> str:
        return f"CostTracker(ledger={self.ledger!r}, rate_limits={self.rate_limits!r})"
