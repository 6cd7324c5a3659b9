"""Read the metrics alert rules watch, from a monitor's windows, health and providers.

One :class:`MetricReader` serves one evaluation pass: it remembers what it read,
so rules sharing a tool and a window read the aggregates once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from toolkeeper.alerts.expressions import EvaluationError
from toolkeeper.alerts.rules import CUSTOM_METRIC, RATE_METRICS, AlertRule

if TYPE_CHECKING:
    from toolkeeper.alerts.selection import SelectedCalls
    from toolkeeper.monitor.buckets import WindowStats
    from toolkeeper.monitor.performance import PerformanceMonitor

__all__ = ["MetricReader", "Reading"]

_OPEN_STATES = ("open", "half_open", "half-open")
_LATENCY = frozenset({"p50_latency_ms", "p95_latency_ms", "p99_latency_ms", "mean_latency_ms"})
_COUNTS = {"errors": "error_count", "calls": "total_operations"}
_SUMMARY_KEYS = {"mean": "mean", "min": "min", "max": "max", "sum": "sum", "count": "count"}


@dataclass(frozen=True, slots=True)
class Reading:
    """What a rule says about a tool now: whether it holds (``None``: no data), the value shown,
    and the evaluation error, if the evaluation failed."""

    holds: bool | None
    value: float | None
    error: str | None = None


class MetricReader:
    """Compute a rule's metrics for a tool; a metric without a value is ``None``.

    Health, circuit state and budget burn come from the monitor (its health
    report and providers), as health itself gets them; ``budget_burn`` replaces
    the monitor's budget provider when given. A rule selecting operations or
    models reads ``selected`` (the store's rollups) instead of the monitor's windows.
    """

    def __init__(
        self,
        monitor: PerformanceMonitor,
        *,
        budget_burn: Callable[[str], float | None] | None = None,
        selected: SelectedCalls | None = None,
    ) -> None:
        self._monitor = monitor
        self._selected = selected
        self._budget_burn = budget_burn or monitor.budget_burn_provider
        self._stats: dict[tuple[str, str, bool], WindowStats | None] = {}
        self._health: dict[str, float | None] = {}
        self._burn: dict[str, float | None] = {}

    def read(self, rule: AlertRule, tool: str) -> Reading:
        """Judge ``rule`` for ``tool`` now; a failed evaluation is a reading with its error.

        Every exception of a metric provider is a failed evaluation (the rule's
        ``on_error`` decides what it means), so one broken provider cannot stop a pass.
        """
        try:
            holds, value = rule.judge(lambda metric: self.value(rule, tool, metric))
        except EvaluationError as exc:
            return Reading(None, None, str(exc))
        except Exception as exc:  # noqa: BLE001 - a provider's fault is the alert's Error state
            return Reading(None, None, f"{type(exc).__name__}: {exc}"[:300])
        return Reading(holds, value)

    def value(self, rule: AlertRule, tool: str, metric: str) -> float | None:
        """Return ``metric`` of ``tool`` now over the rule's window (rates: ``None`` below
        ``min_calls`` calls)."""
        if metric == "health_score":
            return self._health_score(tool)
        if metric == "circuit_open":
            state = self._monitor.circuit_state_provider(tool)
            return 1.0 if state in _OPEN_STATES else 0.0
        if metric == "budget_burn":
            if tool not in self._burn:
                self._burn[tool] = self._budget_burn(tool)
            return self._burn[tool]
        return self._windowed(rule, tool, metric)

    def _windowed(self, rule: AlertRule, tool: str, metric: str) -> float | None:
        if rule.selects_series:
            if self._selected is None:
                raise RuntimeError(f"rule {rule.name!r} selects calls but no store was given")
            stats: WindowStats | None = self._selected.stats(rule, tool)
        else:
            stats = self._window(tool, rule.window, latency=metric in _LATENCY)
        calls = stats.total_operations if stats is not None else 0
        if metric == "calls":
            return float(calls)
        if stats is None:
            return None
        custom = CUSTOM_METRIC.fullmatch(metric)
        if custom is not None:
            summary = stats.custom_metrics.get(custom.group(2))
            found = summary.get(_SUMMARY_KEYS[custom.group(1)]) if summary else None
            return None if found is None else float(found)
        if metric in RATE_METRICS and (calls == 0 or calls < rule.min_calls):
            return None
        value = getattr(stats, _COUNTS.get(metric, metric))
        return None if value is None else float(value)

    def _window(self, tool: str, window: str, *, latency: bool) -> WindowStats | None:
        key = (tool, window, latency)
        if key not in self._stats:
            self._stats[key] = self._monitor.get_window_stats(tool, window, latency=latency)
        return self._stats[key]

    def _health_score(self, tool: str) -> float | None:
        if tool not in self._health:
            self._health[tool] = self._monitor.get_wrapper_health(tool).health_score
        return self._health[tool]
