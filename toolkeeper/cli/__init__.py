"""The ``toolkeeper`` command line.

Every command exits non-zero on error with a one-paragraph message naming
what is wrong; ``--json`` gives machine-readable output where it applies.
"""

from __future__ import annotations

import sys

import typer

from toolkeeper._errors import ToolkeeperError
from toolkeeper.cli._context import CliState
from toolkeeper.cli._help import command_of
from toolkeeper.cli._output import report_error
from toolkeeper.cli.alerts_cmd import app as alerts_app
from toolkeeper.cli.config_cmd import app as config_app
from toolkeeper.cli.costs_cmd import costs
from toolkeeper.cli.demo_cmd import demo
from toolkeeper.cli.monitor_cmd import export, health
from toolkeeper.cli.prices_cmd import prices
from toolkeeper.cli.secrets_cmd import app as secrets_app
from toolkeeper.cli.server_cmd import serve, tokens_app

__all__ = ["app", "main"]

app = typer.Typer(
    name="toolkeeper",
    help="Keep an application's external tools configured, healthy and within budget.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(config_app, name="config")
app.add_typer(secrets_app, name="secrets")
app.command("demo")(demo)
app.command("health")(health)
app.command("costs")(costs)
app.command("prices")(prices)
app.command("export")(export)
app.command("serve")(serve)
app.add_typer(tokens_app, name="tokens")
app.add_typer(alerts_app, name="alerts")


@app.callback()
def _global_options(
    ctx: typer.Context,
    config: str | None = typer.Option(
        None,
        "--config",
        "-c",
        envvar="TOOLKEEPER_CONFIG",
        help="Configuration file (default: ./toolkeeper.toml when present).",
    ),
    env: str | None = typer.Option(
        None,
        "--env",
        "-e",
        envvar="TOOLKEEPER_ENV",
        help="Environment to use (default: the file's default_environment).",
    ),
    store: str | None = typer.Option(
        None,
        "--store",
        envvar="TOOLKEEPER_STORE",
        help="Store URI: sqlite:///path or postgresql://… (default: ./.toolkeeper/state.db).",
    ),
) -> None:
    """Keep an application's external tools configured, healthy and within budget."""
    ctx.obj = CliState(config_path=config, environment=env, store_uri=store)


def main() -> None:
    """Run the command line, turning toolkeeper errors into a message and exit code 1."""
    try:
        # Standalone: usage errors print and exit 2, and every run ends in SystemExit.
        command_of(app)(prog_name="toolkeeper")
    except ToolkeeperError as exc:
        report_error(exc)
        sys.exit(1)
