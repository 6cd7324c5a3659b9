"""Printing for the command line: Rich for people, JSON for machines, errors to stderr."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from toolkeeper._errors import ConfigValidationError

__all__ = [
    "FittedTable",
    "console",
    "err_console",
    "latency",
    "literal",
    "print_json",
    "report_error",
]

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


class FittedTable(Table):
    """A table that fits the terminal (80 columns when output is not one).

    Light borders, and text that folds onto further lines rather than being cut
    with an ellipsis: a name or a scope is always shown whole.
    """

    def __init__(self, *args: Any, **options: Any) -> None:
        options.setdefault("box", box.SIMPLE_HEAD)
        options.setdefault("pad_edge", False)
        options.setdefault("collapse_padding", True)
        super().__init__(*args, **options)

    def add_column(self, *args: Any, **options: Any) -> None:
        """Add a column whose text folds when it does not fit."""
        options.setdefault("overflow", "fold")
        super().add_column(*args, **options)


def latency(ms: float | None) -> str:
    """Return a latency readably: two decimals under 1 ms, one under 10 ms, seconds from 1 s."""
    if ms is None:
        return "-"
    if ms >= 1000:
        return f"{ms / 1000:,.2f} s"
    digits = 2 if ms < 1 else 1 if ms < 10 else 0  # "0 ms" would hide a sub-millisecond latency
    return f"{ms:.{digits}f} ms"


def literal(value: Any) -> str:  # noqa: PLR0911 - one return per kind of value
    """Return ``value`` as a JSON literal (``0.25``, ``true``, ``null``, ``"text"``), never a repr.

    Decimals keep their exact digits, without exponent.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(literal(item) for item in value) + "]"
    if isinstance(value, dict):
        pairs = (f"{json.dumps(str(key))}: {literal(item)}" for key, item in value.items())
        return "{" + ", ".join(pairs) + "}"
    return json.dumps(str(value), ensure_ascii=False)


def print_json(data: Any) -> None:
    """Print ``data`` as indented JSON on stdout."""
    console.out(json.dumps(data, indent=2, sort_keys=False, default=str), highlight=False)


def report_error(error: BaseException | str) -> None:
    """Print an error as one paragraph (plus its list of problems) on stderr."""
    if isinstance(error, ConfigValidationError):
        count = len(error.issues)
        err_console.print(
            f"[bold red]error:[/] {count} configuration problem{'s' if count != 1 else ''}:"
        )
        for issue in error.issues:
            err_console.print(f"  - {escape(str(issue))}")
        return
    err_console.print(f"[bold red]error:[/] {escape(str(error))}")
