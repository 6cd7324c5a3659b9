"""Read the metrics alert rules watch, from a monitor's windows, health and providers.

One :class:`MetricReader` serves one evaluation pass: it remembers what it read,
so rules sharing a tool and a window read the aggregates once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from toolkeeper.alerts.rules import RATE_METRICS, AlertRule

if TYPE_CHECKING:
    from toolkeeper.monitor.buckets import WindowStats
    from toolkeeper.monitor.performance import PerformanceMonitor

__all__ = ["MetricReader"]

_UNSET = object()
_OPEN_STATES = ("open", "half_open", "half-open")


class MetricReader:
    """Compute a rule's metric for a tool; ``None`` when it has no value.

    Health, circuit state and budget burn come from the monitor (its health
    report and providers), as health itself gets them; ``budget_burn`` replaces
    the monitor's budget provider when given.
    """

    def __init__(
        self,
        monitor: PerformanceMonitor,
        *,
        budget_burn: Callable[[str], float | None] | None = None,
    ) -> None:
        self._monitor = monitor
        self._budget_burn = budget_burn or monitor.budget_burn_provider
        self._stats: dict[tuple[str, str, bool], WindowStats | None] = {}
        self._health: dict[str, float | None] = {}
        self._burn: dict[str, float | None] = {}

    def value(self, rule: AlertRule, tool: str) -> float | None:
        """Return ``rule.metric`` of ``tool`` now (rates: ``None`` below ``min_calls`` calls)."""
        metric = rule.metric
        if metric == "health_score":
            return self._health_score(tool)
        if metric == "circuit_open":
            state = self._monitor.circuit_state_provider(tool)
            return 1.0 if state in _OPEN_STATES else 0.0
        if metric == "budget_burn":
            if tool not in self._burn:
                self._burn[tool] = self._budget_burn(tool)
            return self._burn[tool]
        return self._windowed(rule, tool)

    def _windowed(self, rule: AlertRule, tool: str) -> float | None:
        metric = rule.metric
        stats = self._window(tool, rule.window, latency=metric == "p95_latency_ms")
        calls = stats.total_operations if stats is not None else 0
        value: float | None
        if metric == "calls":
            value = float(calls)
        elif stats is None or (metric in RATE_METRICS and (calls == 0 or calls < rule.min_calls)):
            value = None
        else:
            value = getattr(stats, metric)
        return value

    def _window(self, tool: str, window: str, *, latency: bool) -> WindowStats | None:
        key = (tool, window, latency)
        if key not in self._stats:
            self._stats[key] = self._monitor.get_window_stats(tool, window, latency=latency)
        return self._stats[key]

    def _health_score(self, tool: str) -> float | None:
        if tool not in self._health:
            self._health[tool] = self._monitor.get_wrapper_health(tool).health_score
        return self._health[tool]
