"""A small, safe expression language for alert conditions over one tool's metrics.

::

    error_rate > 0.2 and calls >= 20
    p95_latency_ms > 2 * p50_latency_ms
    mean(quality_score) < 0.8 or max(queue_depth) >= 100

Names are the metrics given to :func:`parse_expression` (the rules give
:data:`toolkeeper.alerts.rules.METRICS`);
``mean(x)``, ``min(x)``, ``max(x)``, ``sum(x)`` and ``count(x)`` read the custom
metric ``x`` (``op.metric("x", …)``) over the rule's window. The grammar is
Python's, parsed with :func:`ast.parse` and walked here, node by node: numbers,
names, the four arithmetic operators and unary minus, comparisons (chains
included), ``and``, ``or``, ``not``, parentheses. Anything else (attributes,
subscripts, other calls, strings, lambdas…) is refused when the rule is read;
nothing is ever passed to ``eval``.

A metric without a value makes the whole condition have no data (the rule's
``no_data`` choice decides what that means); a division by zero is an
evaluation error (the rule's ``on_error`` choice).
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from dataclasses import dataclass, field

from toolkeeper._errors import ToolkeeperError

__all__ = ["AGGREGATES", "EvaluationError", "Expression", "NoData", "parse_expression"]

#: The functions reading a custom metric over the window.
AGGREGATES = ("mean", "min", "max", "sum", "count")
_MAX_TEXT = 1000
_MAX_NODES = 200
_ARITHMETIC: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}
_COMPARE: dict[type[ast.cmpop], Callable[[float, float], bool]] = {
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}

Lookup = Callable[[str], "float | None"]


class EvaluationError(ToolkeeperError):
    """An expression could not be evaluated (a division by zero): the alert's Error state."""


class NoData(Exception):  # noqa: N818  # a signal inside evaluation, never escapes Expression
    """A metric the expression reads has no value."""


@dataclass(frozen=True, slots=True)
class Expression:
    """A parsed condition: :meth:`evaluate` it with a lookup of metric values by name.

    ``metrics`` lists the metric names it reads (custom ones as ``mean(x)``).
    """

    text: str
    tree: ast.expr = field(repr=False, compare=False)
    metrics: tuple[str, ...] = ()

    def evaluate(self, lookup: Lookup) -> tuple[bool | None, float | None]:
        """Return (holds, value): ``holds`` is ``None`` without data; ``value`` is the left side
        of the first comparison (what a notification shows)."""
        shown: list[float] = []
        try:
            result = _eval(self.tree, lookup, shown)
        except NoData:
            return None, shown[0] if shown else None
        except ZeroDivisionError:
            raise EvaluationError(f"{self.text!r}: division by zero") from None
        holds = bool(result)
        value = shown[0] if shown else (float(result) if not isinstance(result, bool) else None)
        return holds, value

    def __str__(self) -> str:
        return self.text


def parse_expression(text: str, *, metrics: tuple[str, ...]) -> Expression:
    """Parse ``text`` over the metric names ``metrics``; a ``ValueError`` names the text, the
    part refused and the grammar."""
    if not isinstance(text, str) or not text.strip() or len(text) > _MAX_TEXT:
        raise ValueError(f"expr={text!r} must be a condition of at most {_MAX_TEXT} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        raise ValueError(f"expr={text!r} is not a valid expression ({exc.msg})") from None
    found: list[str] = []
    nodes = list(ast.walk(tree))
    if len(nodes) > _MAX_NODES:
        raise ValueError(f"expr={text!r} is too long: at most {_MAX_NODES} parts")
    _check(tree, text, metrics, found)
    if not isinstance(tree, ast.Compare | ast.BoolOp) and not (
        isinstance(tree, ast.UnaryOp) and isinstance(tree.op, ast.Not)
    ):
        raise ValueError(  # noqa: TRY004 - a wrong expression, reported as every bad value is
            f"expr={text!r} must be a condition: a comparison, and/or/not of them"
        )
    return Expression(text.strip(), tree, tuple(dict.fromkeys(found)))


def _refuse(text: str, node: ast.AST) -> ValueError:
    part = ast.unparse(node) if isinstance(node, ast.expr) else type(node).__name__
    return ValueError(
        f"expr={text!r}: {part!r} is not allowed; write metrics, numbers, + - * /, "
        f"comparisons, and/or/not, and {'/'.join(AGGREGATES)}(custom_metric)"
    )


def _check(  # noqa: PLR0912 - one branch per node kind of the grammar
    node: ast.expr, text: str, metrics: tuple[str, ...], found: list[str]
) -> None:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise _refuse(text, node)
    elif isinstance(node, ast.Name):
        if node.id not in metrics:
            raise ValueError(
                f"expr={text!r}: {node.id!r} is not a metric; expected one of "
                + ", ".join(metrics)
                + f", or {'/'.join(AGGREGATES)}(custom_metric)"
            )
        found.append(node.id)
    elif isinstance(node, ast.Call):
        if (
            not isinstance(node.func, ast.Name)
            or node.func.id not in AGGREGATES
            or node.keywords
            or len(node.args) != 1
            or not isinstance(node.args[0], ast.Name | ast.Constant)
        ):
            raise _refuse(text, node)
        arg = node.args[0]
        name = arg.id if isinstance(arg, ast.Name) else arg.value
        if not isinstance(name, str) or not name:
            raise _refuse(text, node)
        found.append(f"{node.func.id}({name})")
    elif isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
        _check(node.left, text, metrics, found)
        _check(node.right, text, metrics, found)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd | ast.Not):
        _check(node.operand, text, metrics, found)
    elif isinstance(node, ast.BoolOp):
        for value in node.values:
            _check(value, text, metrics, found)
    elif isinstance(node, ast.Compare) and all(type(op) in _COMPARE for op in node.ops):
        _check(node.left, text, metrics, found)
        for comparator in node.comparators:
            _check(comparator, text, metrics, found)
    else:
        raise _refuse(text, node)


def _eval(  # noqa: PLR0911 - one branch per node kind of the grammar
    node: ast.expr, lookup: Lookup, shown: list[float]
) -> float | bool:
    """Evaluate a node the parser accepted; raise :class:`NoData` at a metric without value."""
    if isinstance(node, ast.Constant):
        assert isinstance(node.value, int | float)  # the parser accepts numbers only
        return float(node.value)
    if isinstance(node, ast.Name | ast.Call):
        name = node.id if isinstance(node, ast.Name) else _call_name(node)
        value = lookup(name)
        if value is None:
            raise NoData(name)
        return value
    if isinstance(node, ast.BinOp):
        return _ARITHMETIC[type(node.op)](
            float(_eval(node.left, lookup, shown)), float(_eval(node.right, lookup, shown))
        )
    if isinstance(node, ast.UnaryOp):
        operand = _eval(node.operand, lookup, shown)
        if isinstance(node.op, ast.Not):
            return not operand
        return -float(operand) if isinstance(node.op, ast.USub) else float(operand)
    if isinstance(node, ast.BoolOp):
        # Both sides are read, so a metric without data anywhere means no data at all.
        results = [_eval(value, lookup, shown) for value in node.values]
        return all(results) if isinstance(node.op, ast.And) else any(results)
    assert isinstance(node, ast.Compare)
    left = float(_eval(node.left, lookup, shown))
    if not shown:
        shown.append(left)
    holds = True
    for op, comparator in zip(node.ops, node.comparators, strict=True):
        right = float(_eval(comparator, lookup, shown))
        holds = holds and _COMPARE[type(op)](left, right)
        left = right
    return holds


def _call_name(node: ast.Call) -> str:
    assert isinstance(node.func, ast.Name)
    arg = node.args[0]
    name = arg.id if isinstance(arg, ast.Name) else getattr(arg, "value", "")
    return f"{node.func.id}({name})"
