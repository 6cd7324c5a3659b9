"""Printing for the command line: Rich for people, JSON for machines, errors to stderr."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.markup import escape

__all__ = ["console", "err_console", "print_json", "report_error"]

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def print_json(data: Any) -> None:
    """Print ``data`` as indented JSON on stdout."""
    console.out(json.dumps(data, indent=2, sort_keys=False, default=str), highlight=False)


def report_error(error: BaseException | str) -> None:
    """Print an error as one paragraph (plus its list of problems) on stderr."""
    from toolkeeper._errors import ConfigValidationError

    if isinstance(error, ConfigValidationError):
        count = len(error.issues)
        err_console.print(
            f"[bold red]error:[/] {count} configuration problem{'s' if count != 1 else ''}:"
        )
        for issue in error.issues:
            err_console.print(f"  - {escape(str(issue))}")
        return
    err_console.print(f"[bold red]error:[/] {escape(str(error))}")
