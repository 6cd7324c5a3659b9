"""``toolkeeper config``: validate, show, set, history, diff, rollback."""

from __future__ import annotations

import tomllib
from typing import Any

import typer
from rich.markup import escape

from toolkeeper._errors import ConfigError, ConfigValidationError
from toolkeeper.cli._context import CliState, default_actor
from toolkeeper.cli._output import FittedTable, console, literal, print_json
from toolkeeper.config.live import ConfigVersion

__all__ = ["app", "parse_assignment"]

app = typer.Typer(help="Validate, inspect and change tool configuration.", no_args_is_help=True)

JSON_OPTION = typer.Option(False, "--json", help="Print JSON instead of a table.")


def _state(ctx: typer.Context) -> CliState:
    state = ctx.find_root().obj
    assert isinstance(state, CliState)
    ctx.call_on_close(state.close)
    return state


def parse_assignment(text: str) -> tuple[str, Any]:
    """Split ``KEY=VALUE``; VALUE is read as a TOML value when it is one, else as a string."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"expected KEY=VALUE, got {text!r}")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    if raw.strip().lower() in ("null", "none", ""):
        value = None
    return key.strip(), value


@app.command("validate")
def validate(
    ctx: typer.Context,
    file: str | None = typer.Argument(None, help="File to check (default: the global --config)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Check a configuration file in every environment; list every problem at once."""
    state = _state(ctx)
    configuration = state.configuration(file_override=file, create_store=False)
    issues = configuration.validate()
    if as_json:
        print_json(
            {
                "valid": not issues,
                "file": configuration.file.name,
                "issues": [issue.to_dict() for issue in issues],
            }
        )
        if issues:
            raise typer.Exit(1)
        return
    if issues:
        raise ConfigValidationError(issues)
    tools = configuration.tools()
    console.print(
        f"[green]ok[/] {escape(configuration.file.name)}: {len(tools)} tool"
        f"{'s' if len(tools) != 1 else ''} ({', '.join(tools) or 'none'}) valid in "
        f"environments {', '.join(configuration.environments())}"
    )


@app.command("show")
def show(
    ctx: typer.Context,
    tool: str = typer.Argument(..., help="Tool name."),
    explain: bool = typer.Option(False, "--explain", help="Say where each value came from."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Show a tool's effective configuration, secrets masked."""
    configuration = _state(ctx).configuration(read_only=True)
    resolved = configuration.resolve(tool)
    version = configuration.version(tool)
    rows = resolved.explain()
    if as_json:
        print_json(
            {
                "tool": tool,
                "environment": configuration.environment,
                "type": type(resolved.config).type_name,
                "version": version,
                "values": {row["field"]: row["value"] for row in rows},
                **({"sources": rows} if explain else {}),
            }
        )
        return
    table = FittedTable(
        title=f"{tool} ({type(resolved.config).type_name}) · environment "
        f"{configuration.environment} · version {version}"
    )
    table.add_column("field")
    table.add_column("value")
    if explain:
        table.add_column("source")
    for row in rows:
        cells = [row["field"], escape(literal(row["value"]))]
        if explain:
            cells.append(escape(f"{row['source']}: {row['origin']}"))
        table.add_row(*cells)
    console.print(table)


@app.command("set")
def set_values(
    ctx: typer.Context,
    tool: str = typer.Argument(..., help="Tool name."),
    assignments: list[str] = typer.Argument(..., help="KEY=VALUE pairs; VALUE null unsets."),
    reason: str = typer.Option(..., "--reason", "-m", help="Why (kept in the history)."),
    actor: str | None = typer.Option(None, "--actor", help="Who (default: $USER)."),
    expected_version: int | None = typer.Option(
        None, "--expected-version", help="Refuse if the current version is not this one."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Change fields of a tool at runtime, as a new version."""
    changes = dict(parse_assignment(text) for text in assignments)
    configuration = _state(ctx).configuration()
    version = configuration.update(
        tool,
        changes,
        actor=actor or default_actor(),
        reason=reason,
        source="cli",
        expected_version=expected_version,
    )
    _print_version(version, as_json=as_json)


@app.command("rollback")
def rollback(
    ctx: typer.Context,
    tool: str = typer.Argument(..., help="Tool name."),
    version: int = typer.Argument(..., help="Version to restore (0 = the file's values)."),
    reason: str = typer.Option(..., "--reason", "-m", help="Why (kept in the history)."),
    actor: str | None = typer.Option(None, "--actor", help="Who (default: $USER)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Restore an earlier version's values as a new version."""
    configuration = _state(ctx).configuration()
    restored = configuration.rollback(
        tool, version, actor=actor or default_actor(), reason=reason, source="cli"
    )
    _print_version(restored, as_json=as_json)


@app.command("history")
def history(
    ctx: typer.Context,
    tool: str = typer.Argument(..., help="Tool name."),
    as_json: bool = JSON_OPTION,
) -> None:
    """List a tool's versions: who, when, why, from where, and what changed."""
    configuration = _state(ctx).configuration(read_only=True)
    versions = configuration.history(tool)
    if as_json:
        print_json([version.to_dict() for version in versions])
        return
    table = FittedTable(title=f"{tool} · environment {configuration.environment}")
    for column in ("version", "when", "actor", "source", "reason", "changes"):
        table.add_column(column)
    for version in versions:
        table.add_row(
            str(version.version),
            version.created_at.isoformat(timespec="seconds") if version.created_at else "",
            escape(version.actor),
            version.source,
            escape(version.reason),
            escape(_describe(version.changes)),
        )
    if not versions:
        console.print(f"{tool}: no runtime changes (version 0: the file's values)")
        return
    console.print(table)


@app.command("diff")
def diff(
    ctx: typer.Context,
    tool: str = typer.Argument(..., help="Tool name."),
    from_version: int = typer.Argument(..., help="Older version."),
    to_version: int = typer.Argument(..., help="Newer version."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Show what differs between two versions of a tool's configuration."""
    changes = _state(ctx).configuration().diff(tool, from_version, to_version)
    if as_json:
        print_json(changes)
        return
    if not changes:
        console.print(f"versions {from_version} and {to_version} of {tool} are the same")
        return
    for change in changes:
        console.print(escape(_describe([change])))


def _describe(changes: Any) -> str:
    parts = []
    for change in changes:
        if change.get("secret"):
            parts.append(f"{change['field']}: (secret) changed")
        else:
            parts.append(f"{change['field']}: {literal(change['from'])} -> {literal(change['to'])}")
    return "; ".join(parts)


def _print_version(version: ConfigVersion, *, as_json: bool) -> None:
    if as_json:
        print_json(version.to_dict())
        return
    console.print(
        f"{version.tool} is now at version {version.version} "
        f"(environment {version.environment}, by {escape(version.actor)}): "
        f"{escape(_describe(version.changes)) or 'no change'}"
    )
