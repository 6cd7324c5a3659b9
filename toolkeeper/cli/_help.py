"""Help screens without a type beside flags: ``--json`` takes no value, so none is shown."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
import typer.core
import typer.main

if TYPE_CHECKING:
    from typer import _click

__all__ = ["command_of"]


def command_of(app: typer.Typer) -> _click.Command:
    """Return the click command of ``app`` with every flag's type column left empty.

    Typer's Rich help prints a flag's type (``<bool>``) as if it took a value; an
    empty metavar is what its help shows instead.
    """
    command = typer.main.get_command(app)
    _quiet(command)
    return command


def _quiet(command: _click.Command) -> None:
    for param in command.params:
        if isinstance(param, typer.core.TyperOption) and param.is_flag:
            param.metavar = ""
    help_option = command.get_help_option(command.context_class(command))
    if help_option is not None:
        help_option.metavar = ""
    for sub in getattr(command, "commands", {}).values():
        _quiet(sub)
