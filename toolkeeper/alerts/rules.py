"""Alert rules: which metric of which tools to watch, and when its value is a problem.

An :class:`AlertRule` is a condition ``metric op threshold`` over a window, or
an expression over several metrics (:mod:`toolkeeper.alerts.expressions`), for
every tool whose name matches ``tool`` (an :func:`fnmatch` glob) and its
``matchers`` (label matchers over ``tool``, ``operation`` and ``model``: a rule
with operation or model matchers reads only the calls they select). A metric is
one of :data:`METRICS` or a custom metric read as ``mean(name)`` (also ``min``,
``max``, ``sum``, ``count``). The checks of
each field are shared by the rule itself (bad arguments raise ``ValueError``)
and by the parser of ``[[alerts.rules]]`` (bad values become ``ConfigIssue``).
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from toolkeeper.alerts.expressions import AGGREGATES, Expression, parse_expression
from toolkeeper.alerts.matchers import LABEL_NAME, Matcher, matches_all, parse_matcher

__all__ = [
    "CUSTOM_METRIC",
    "ERROR_CHOICES",
    "METRICS",
    "NO_DATA_CHOICES",
    "OPERATORS",
    "RATE_METRICS",
    "SELECTOR_LABELS",
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
    "p50_latency_ms",
    "p99_latency_ms",
    "mean_latency_ms",
    "errors",
    "input_tokens",
    "output_tokens",
)
#: A custom metric over the window: ``mean(quality_score)``, ``max(queue_depth)``…
CUSTOM_METRIC = re.compile(r"(" + "|".join(AGGREGATES) + r")\(([A-Za-z_][A-Za-z0-9_.:-]{0,199})\)")
#: Metrics that have no value until the window holds ``min_calls`` calls.
RATE_METRICS = frozenset({"success_rate", "error_rate", "fallback_rate"})
#: Metrics read over the rule's window; the others are judged as health judges them.
WINDOWED_METRICS = frozenset(
    {
        *RATE_METRICS, "p95_latency_ms", "calls", "cost_usd", "p50_latency_ms", "p99_latency_ms",
        "mean_latency_ms", "errors", "input_tokens", "output_tokens",
    }
)  # fmt: skip
#: What a rule does when its metric has no value (Grafana's "no data" handling).
NO_DATA_CHOICES = ("ok", "nodata", "alerting", "keep_last")
#: What a rule does when its evaluation fails (Grafana's "error" handling).
ERROR_CHOICES = ("error", "alerting", "ok", "keep_last")
OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
WINDOWS = ("1m", "5m", "1h", "24h")
#: The labels a rule's ``matchers`` may select on: the dimensions the store's rollups keep.
SELECTOR_LABELS = ("tool", "operation", "model")
_MAX_MATCHERS = 20
SEVERITIES = ("info", "warning", "critical")
_NAME = re.compile(r"[a-z0-9_-]+")
_MAX_TEXT = 200


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _name_problem(value: Any) -> str | None:
    if isinstance(value, str) and len(value) <= _MAX_TEXT and _NAME.fullmatch(value):
        return None
    return "must be a name of lowercase letters, digits, '-' and '_' (at most 200 characters)"


def _metric_problem(value: Any) -> str | None:
    if value in METRICS or (isinstance(value, str) and CUSTOM_METRIC.fullmatch(value)):
        return None
    return (
        "must be one of "
        + ", ".join(METRICS)
        + ", or a custom metric as "
        + "/".join(AGGREGATES)
        + "(name)"
    )


def _expr_problem(value: Any) -> str | None:
    if value == "":
        return None
    try:
        parse_expression(value, metrics=METRICS)
    except ValueError as exc:
        return str(exc).partition(": ")[2] or str(exc)
    return None


def _labels_problem(value: Any) -> str | None:
    if isinstance(value, Mapping) and all(
        isinstance(k, str)
        and LABEL_NAME.fullmatch(k)
        and isinstance(v, str)
        and len(v) <= _MAX_TEXT
        for k, v in value.items()
    ):
        return None
    return "must be a table of label names (letters, digits, '_') to texts"


def _matchers_problem(value: Any) -> str | None:
    rule = (
        f"must be a list of at most {_MAX_MATCHERS} label matchers over "
        + ", ".join(SELECTOR_LABELS)
        + ", such as 'operation=\"chat\"' or 'model=~\"gpt-4.*\"'"
    )
    if not isinstance(value, tuple | list) or len(value) > _MAX_MATCHERS:
        return rule
    for text in value:
        try:
            matcher = parse_matcher(text)
        except ValueError as exc:
            return f"{rule}: {exc}"
        if matcher.name not in SELECTOR_LABELS:
            return f"{rule}: {text!r} matches the label {matcher.name!r}"
    return None


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
    "metric": _metric_problem,
    "op": _choice(tuple(OPERATORS)),
    "expr": _expr_problem,
    "labels": _labels_problem,
    "matchers": _matchers_problem,
    "no_data": _choice(NO_DATA_CHOICES),
    "on_error": _choice(ERROR_CHOICES),
    "keep_firing_for_seconds": _for_problem,
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
    """Watch every tool matching ``tool``; alert while ``metric op threshold`` (or ``expr``) holds.

    ``window`` applies to the windowed metrics (rates, latency, calls, cost,
    custom metrics); ``for_seconds`` is how long the condition must hold before
    the alert fires, ``keep_firing_for_seconds`` how long it keeps firing once
    the condition is false; ``notify`` names notifiers told directly (empty: the
    notification policies route it by its labels); rate metrics have no value
    with fewer than ``min_calls`` calls in the window, and a rule without a value
    does what ``no_data`` says (``ok``: the condition is false; ``nodata``: the
    NoData state, which notifies; ``alerting``: the condition is true;
    ``keep_last``: nothing changes); ``on_error`` likewise for a failed evaluation.
    """

    name: str
    tool: str = "*"
    metric: str = ""
    op: str = ""
    threshold: float = 0.0
    expr: str = ""
    window: str = "5m"
    for_seconds: float = 0.0
    keep_firing_for_seconds: float = 0.0
    severity: str = "warning"
    notify: tuple[str, ...] = ()
    min_calls: int = 5
    labels: Mapping[str, str] = field(default_factory=dict)
    no_data: str = "ok"
    on_error: str = "error"
    matchers: tuple[str, ...] = ()
    expression: Expression | None = field(default=None, init=False, repr=False, compare=False)
    selectors: tuple[Matcher, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        skipped = {"metric", "op", "threshold"} if self.expr else {"expr"}
        problems = [
            f"{field}={getattr(self, field)!r} {rule}"
            for field in _CHECKS
            if field not in skipped
            and (rule := field_problem(field, getattr(self, field))) is not None
        ]
        if self.expr and (self.metric or self.op):
            problems.append("write either expr or metric/op/threshold, not both")
        if problems:
            raise ValueError(f"alert rule {self.name!r}: " + "; ".join(problems))
        if self.expr:
            object.__setattr__(self, "expression", parse_expression(self.expr, metrics=METRICS))
        selectors = tuple(parse_matcher(text) for text in self.matchers)
        object.__setattr__(self, "selectors", selectors)
        object.__setattr__(self, "matchers", tuple(str(matcher) for matcher in selectors))
        if self.selects_series and (per_tool := self.per_tool_metrics):
            raise ValueError(
                f"alert rule {self.name!r}: matchers={list(self.matchers)!r} select operations "
                f"or models, but {', '.join(per_tool)} exist(s) only per tool; watch the "
                f"windowed metrics (rates, latency, calls, cost, tokens, custom metrics)"
            )
        object.__setattr__(self, "threshold", float(self.threshold))
        object.__setattr__(self, "for_seconds", float(self.for_seconds))
        object.__setattr__(self, "keep_firing_for_seconds", float(self.keep_firing_for_seconds))
        object.__setattr__(self, "notify", tuple(self.notify))
        object.__setattr__(self, "labels", dict(self.labels))

    @property
    def metrics(self) -> tuple[str, ...]:
        """Return the metrics the rule reads (one, or those of its expression)."""
        return self.expression.metrics if self.expression is not None else (self.metric,)

    @property
    def condition(self) -> str:
        """Return the condition as written: ``error_rate > 0.2`` or the expression."""
        if self.expression is not None:
            return self.expression.text
        return f"{self.metric} {self.op} {_number(self.threshold)}"

    def judge(self, lookup: Callable[[str], float | None]) -> tuple[bool | None, float | None]:
        """Return (holds, value) with metric values from ``lookup``; ``holds`` is ``None`` without
        data. An expression's failure raises
        :class:`~toolkeeper.alerts.expressions.EvaluationError`."""
        if self.expression is not None:
            return self.expression.evaluate(lookup)
        value = lookup(self.metric)
        return (None if value is None else self.holds(value)), value

    def applies_to(self, tool: str) -> bool:
        """Return whether the rule watches ``tool`` (its glob and its ``tool`` matchers hold)."""
        if not fnmatchcase(tool, self.tool):
            return False
        on_tool = tuple(matcher for matcher in self.selectors if matcher.name == "tool")
        return matches_all(on_tool, {"tool": tool})

    @property
    def selector(self) -> str:
        """Return what the rule watches as a selector: ``openai{operation="chat"}``, or the glob."""
        if not self.matchers:
            return self.tool
        return self.tool + "{" + ", ".join(self.matchers) + "}"

    @property
    def selects_series(self) -> bool:
        """Return whether the rule reads only some operations or models of a tool."""
        return any(matcher.name != "tool" for matcher in self.selectors)

    def selects(self, operation: str, model: str) -> bool:
        """Return whether the calls of ``operation`` with ``model`` count (``""``: no model)."""
        return matches_all(
            tuple(matcher for matcher in self.selectors if matcher.name != "tool"),
            {"operation": operation, "model": model},
        )

    @property
    def per_tool_metrics(self) -> tuple[str, ...]:
        """Return the metrics the rule reads that exist per tool only (health, circuit, budget)."""
        return tuple(
            m for m in self.metrics if m not in WINDOWED_METRICS and not CUSTOM_METRIC.fullmatch(m)
        )

    def holds(self, value: float | None) -> bool:
        """Return whether ``metric op threshold`` holds for ``value`` (expressions: see judge)."""
        if self.expression is not None or value is None:
            return False
        return OPERATORS[self.op](value, self.threshold)

    def summary(self, value: float | None) -> str:
        """Describe ``value`` against the condition, e.g. ``error_rate 0.35 > 0.2 over 5m``."""
        over = f" over {self.window}" if self.windowed else ""
        if self.expression is not None:
            shown = "no value" if value is None else _number(value)
            return f"{self.expression.text} (value {shown}){over}"
        if value is None:
            needs = f" (needs {self.min_calls} calls)" if self.metric in RATE_METRICS else ""
            return f"{self.metric} has no value{over}{needs}"
        negation = "" if self.holds(value) else ", not"
        return f"{self.metric} {_number(value)}{negation} {self.op} {_number(self.threshold)}{over}"

    @property
    def windowed(self) -> bool:
        """Return whether a metric the rule reads is read over its window."""
        return any(m in WINDOWED_METRICS or CUSTOM_METRIC.fullmatch(m) for m in self.metrics)

    def to_dict(self) -> dict[str, Any]:
        """Return the rule as JSON-ready data."""
        return {
            "name": self.name,
            "tool": self.tool,
            "metric": self.metric,
            "op": self.op,
            "threshold": self.threshold,
            "expr": self.expr,
            "window": self.window,
            "for_seconds": self.for_seconds,
            "keep_firing_for_seconds": self.keep_firing_for_seconds,
            "severity": self.severity,
            "notify": list(self.notify),
            "min_calls": self.min_calls,
            "labels": dict(self.labels),
            "no_data": self.no_data,
            "on_error": self.on_error,
            "matchers": list(self.matchers),
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
