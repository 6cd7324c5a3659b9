"""Alert rules: which metric of which tools to watch, and when its value is a problem.

An :class:`AlertRule` is a condition ``metric op threshold`` over a window, for
every tool whose name matches ``tool`` (an :func:`fnmatch` glob). The checks of
each field are shared by the rule itself (bad arguments raise ``ValueError``)
and by the parser of ``[[alerts.rules]]`` (bad values become ``ConfigIssue``).
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

__all__ = [
    "METRICS",
    "OPERATORS",
    "RATE_METRICS",
    "SEVERITIES",
    "WINDOWED_METRICS",
    "WINDOWS",
    "AlertRule",
    "builtin_rules",
    "field_problem",
]

#: Every metric a rule may watch; see docs/alerts.md for what each one measures.
METRICS = (
    "health_score",
    "success_rate",
    "error_rate",
    "fallback_rate",
    "p95_latency_ms",
    "calls",
    "cost_usd",
    "circuit_open",
    "budget_burn",
)
#: Metrics that have no value until the window holds ``min_calls`` calls.
RATE_METRICS = frozenset({"success_rate", "error_rate", "fallback_rate"})
#: Metrics read over the rule's window; the others are judged as health judges them.
WINDOWED_METRICS = frozenset({*RATE_METRICS, "p95_latency_ms", "calls", "cost_usd"})
OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
WINDOWS = ("1m", "5m", "1h", "24h")
SEVERITIES = ("info", "warning", "critical")
_NAME = re.compile(r"[a-z0-9_-]+")
_MAX_TEXT = 200


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _name_problem(value: Any) -> str | None:
    if isinstance(value, str) and len(value) <= _MAX_TEXT and _NAME.fullmatch(value):
        return None
    return "must be a name of lowercase letters, digits, '-' and '_' (at most 200 characters)"


def _tool_problem(value: Any) -> str | None:
    if isinstance(value, str) and value.strip() and len(value) <= _MAX_TEXT:
        return None
    return "must be a tool name or a glob such as 'openai' or '*' (at most 200 characters)"


def _choice(choices: tuple[str, ...]) -> Callable[[Any], str | None]:
    def problem(value: Any) -> str | None:
        return None if value in choices else "must be one of " + ", ".join(choices)

    return problem


def _threshold_problem(value: Any) -> str | None:
    return None if _is_number(value) else "must be a finite number"


def _for_problem(value: Any) -> str | None:
    return None if _is_number(value) and value >= 0 else "must be a duration >= 0s"


def _notify_problem(value: Any) -> str | None:
    if isinstance(value, tuple | list) and all(isinstance(name, str) for name in value):
        return None
    return "must be a list of notifier names"


def _min_calls_problem(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return None
    return "must be a whole number >= 0"


_CHECKS: dict[str, Callable[[Any], str | None]] = {
    "name": _name_problem,
    "tool": _tool_problem,
    "metric": _choice(METRICS),
    "op": _choice(tuple(OPERATORS)),
    "threshold": _threshold_problem,
    "window": _choice(WINDOWS),
    "for_seconds": _for_problem,
    "severity": _choice(SEVERITIES),
    "notify": _notify_problem,
    "min_calls": _min_calls_problem,
}


def field_problem(field: str, value: Any) -> str | None:
    """Return the rule that ``value`` breaks as the rule field ``field``, or ``None`` if it fits."""
    return _CHECKS[field](value)


def _number(value: float) -> str:
    return f"{value:.4g}"


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertRule:
    """Watch ``metric`` of every tool matching ``tool``; alert while ``metric op threshold``.

    ``window`` applies to the windowed metrics (rates, latency, calls, cost);
    ``for_seconds`` is how long the condition must hold before the alert fires;
    ``notify`` names the notifiers told; rate metrics have no value (so the
    condition is false) with fewer than ``min_calls`` calls in the window.
    """

    name: str
    tool: str = "*"
    metric: str
    op: str
    threshold: float
    window: str = "5m"
    for_seconds: float = 0.0
    severity: str = "warning"
    notify: tuple[str, ...] = ()
    min_calls: int = 5

    def __post_init__(self) -> None:
        problems = [
            f"{field}={getattr(self, field)!r} {rule}"
            for field in _CHECKS
            if (rule := field_problem(field, getattr(self, field))) is not None
        ]
        if problems:
            raise ValueError(f"alert rule {self.name!r}: " + "; ".join(problems))
        object.__setattr__(self, "threshold", float(self.threshold))
        object.__setattr__(self, "for_seconds", float(self.for_seconds))
        object.__setattr__(self, "notify", tuple(self.notify))

    def applies_to(self, tool: str) -> bool:
        """Return whether the rule watches ``tool`` (its name matches the rule's glob)."""
        return fnmatchcase(tool, self.tool)

    def holds(self, value: float | None) -> bool:
        """Return whether the condition is true for ``value``; no value is never a problem."""
        return value is not None and OPERATORS[self.op](value, self.threshold)

    def summary(self, value: float | None) -> str:
        """Describe ``value`` against the condition, e.g. ``error_rate 0.35 > 0.2 over 5m``."""
        over = f" over {self.window}" if self.metric in WINDOWED_METRICS else ""
        if value is None:
            needs = f" (needs {self.min_calls} calls)" if self.metric in RATE_METRICS else ""
            return f"{self.metric} has no value{over}{needs}"
        negation = "" if self.holds(value) else ", not"
        return f"{self.metric} {_number(value)}{negation} {self.op} {_number(self.threshold)}{over}"

    def to_dict(self) -> dict[str, Any]:
        """Return the rule as JSON-ready data."""
        return {
            "name": self.name,
            "tool": self.tool,
            "metric": self.metric,
            "op": self.op,
            "threshold": self.threshold,
            "window": self.window,
            "for_seconds": self.for_seconds,
            "severity": self.severity,
            "notify": list(self.notify),
            "min_calls": self.min_calls,
        }


def builtin_rules(notify: tuple[str, ...]) -> tuple[AlertRule, ...]:
    """Return the rules that apply when the file writes none: an open circuit, an unhealthy tool."""
    return (
        AlertRule(
            name="circuit-open", metric="circuit_open", op="==", threshold=1,
            severity="critical", notify=notify,
        ),
        AlertRule(
            name="tool-unhealthy", metric="health_score", op="<", threshold=50,
            for_seconds=60, severity="warning", notify=notify,
        ),
    )  # fmt: skip
