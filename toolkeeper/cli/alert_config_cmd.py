"""``toolkeeper alerts config|notifier``: alerting's runtime versions and its notifiers.

``alerts config show|history|diff|rollback`` read and roll back the versions
that the API's ``/api/v1/alerts/config`` writes; ``alerts notifier
list|set|remove`` change one notifier as a new version, with who and why.
Notifier URLs are secrets: every output shows them masked; a URL given in
clear is stored encrypted (``TOOLKEEPER_SECRET_KEY``), a reference
(``env:NAME``, ``file:/path``) as written. Pass ``-`` to read a URL from
standard input, out of the shell's history.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape

from toolkeeper._errors import ToolkeeperError
from toolkeeper.cli._context import default_actor, open_keeper
from toolkeeper.cli._output import FittedTable, console, literal, print_json

if TYPE_CHECKING:
    from toolkeeper.alerts.runtime import AlertConfigVersion, RuntimeAlerts

__all__ = ["config_app", "notifier_app"]

config_app = typer.Typer(
    help="Alerting's runtime versions: show, history, diff, rollback.", no_args_is_help=True
)
notifier_app = typer.Typer(
    help="Alert notifiers: list, set or remove one (a new version, URLs masked).",
    no_args_is_help=True,
)

JSON_OPTION = typer.Option(False, "--json", help="Print JSON instead of text.")
REASON_OPTION = typer.Option(..., "--reason", "-m", help="Why (kept with the version).")
BY_OPTION = typer.Option(None, "--by", help="Who changes it (default: $USER).")


def _runtime(ctx: typer.Context) -> RuntimeAlerts:
    runtime = open_keeper(ctx).alerts.config
    if runtime is None:  # pragma: no cover - a keeper's alerting always has one
        raise ToolkeeperError("this keeper's alerting is not editable")
    return runtime


def _line(version: AlertConfigVersion) -> str:
    when = version.created_at.isoformat(timespec="seconds") if version.created_at else "-"
    return (
        f"version {version.version} by {escape(version.actor)} ({version.source}, {when}): "
        f"{escape(version.reason)}"
    )


def _fail(exc: Exception) -> ToolkeeperError:
    return ToolkeeperError(str(exc.args[0]) if isinstance(exc, KeyError) else str(exc))


@config_app.command("show")
def show(
    ctx: typer.Context,
    version: int | None = typer.Option(None, "--version", help="A version (default: newest)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Print a version's document (notifier URLs masked)."""
    runtime = _runtime(ctx)
    found = runtime.current() if version is None else runtime.get(version)
    data = found.to_dict()
    if as_json:
        print_json(data)
        return
    console.print(_line(found))
    print_json(data["document"])


@config_app.command("history")
def history(
    ctx: typer.Context,
    limit: int = typer.Option(20, "--limit", min=1, max=1000, help="How many, newest first."),
    as_json: bool = JSON_OPTION,
) -> None:
    """List the versions, newest first, with who, when, why and from where."""
    versions = _runtime(ctx).history(limit)
    if as_json:
        print_json([version.to_dict() for version in versions])
        return
    table = FittedTable(title="alerting versions")
    for column in ("version", "by", "from", "when", "why"):
        table.add_column(column)
    for version in versions:
        when = version.created_at.isoformat(timespec="seconds") if version.created_at else "-"
        table.add_row(str(version.version), escape(version.actor), version.source, when,
                      escape(version.reason))  # fmt: skip
    console.print(table)


@config_app.command("diff")
def diff(
    ctx: typer.Context,
    from_version: int = typer.Argument(..., help="The older version."),
    to_version: int = typer.Argument(..., help="The newer version."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Print what changed between two versions (notifier URLs masked)."""
    changes = _runtime(ctx).diff(from_version, to_version)
    if as_json:
        print_json(changes)
        return
    if not changes:
        console.print(f"versions {from_version} and {to_version} are the same")
    for change in changes:
        console.print(f"{escape(change['path'])}: {escape(literal(change['old']))} -> "
                      f"{escape(literal(change['new']))}")  # fmt: skip


@config_app.command("rollback")
def rollback(
    ctx: typer.Context,
    to_version: int = typer.Argument(..., help="The version whose document comes back."),
    reason: str = REASON_OPTION,
    by: str | None = BY_OPTION,
) -> None:
    """Store an old version's document again as a new version."""
    try:
        made = _runtime(ctx).rollback(
            to_version=to_version, actor=by or default_actor(), reason=reason, source="cli"
        )
    except ValueError as exc:
        raise _fail(exc) from None
    console.print(f"rolled back to version {to_version}: {_line(made)}")


@notifier_app.command("list")
def list_notifiers(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """List the notifiers in force with their URLs masked."""
    engine = open_keeper(ctx).alerts
    found = {name: engine.notifier_urls_masked(name) for name in engine.notifier_names()}
    if as_json:
        print_json(found)
        return
    if not found:
        console.print("no notifier: alerts are shown but sent nowhere")
    for name, urls in found.items():
        console.print(f"{escape(name)}: {escape(', '.join(urls))}")


@notifier_app.command("set")
def set_notifier(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The notifier's name (lowercase, digits, - and _)."),
    urls: list[str] = typer.Option(
        [], "--url", help="An Apprise URL or env:NAME / file:/path; - reads it from stdin."
    ),
    webhook: str | None = typer.Option(None, "--webhook", help="A signed JSON webhook address."),
    secret: str | None = typer.Option(None, "--secret", help="The webhook's signing key (or -)."),
    reason: str = REASON_OPTION,
    by: str | None = BY_OPTION,
) -> None:
    """Add or replace one notifier, keeping the others, as a new version.

    toolkeeper alerts notifier set ops --url env:SLACK_WEBHOOK_URL -m "page ops on Slack"
    """
    entry: dict[str, Any] = {}
    if urls:
        entry["urls"] = [_read(url) for url in urls]
    if webhook is not None:
        entry["webhook"] = _read(webhook)
    if secret is not None:
        entry["secret"] = _read(secret)
    _change(ctx, lambda notifiers: {**notifiers, name: entry}, reason=reason, by=by)
    console.print(f"notifier {escape(name)} set (a new version); its URLs are stored encrypted "
                  "or as references")  # fmt: skip


@notifier_app.command("remove")
def remove_notifier(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The notifier to remove."),
    reason: str = REASON_OPTION,
    by: str | None = BY_OPTION,
) -> None:
    """Remove one notifier as a new version (rules naming it must be changed first)."""

    def without(notifiers: dict[str, Any]) -> dict[str, Any]:
        if name not in notifiers:
            raise ToolkeeperError(f"no notifier named {name!r}; known: {', '.join(notifiers)}")
        return {key: value for key, value in notifiers.items() if key != name}

    _change(ctx, without, reason=reason, by=by)
    console.print(f"notifier {escape(name)} removed (a new version)")


def _change(ctx: typer.Context, edit: Any, *, reason: str, by: str | None) -> None:
    """Apply ``edit`` to the notifiers in force and store them as the next version."""
    runtime = _runtime(ctx)
    current = runtime.current()
    notifiers = current.document.get("notifiers", {})
    try:
        runtime.update(
            {"notifiers": edit(dict(notifiers) if isinstance(notifiers, dict) else {})},
            actor=by or default_actor(), reason=reason, expected_version=current.version,
            source="cli",
        )  # fmt: skip
    except ValueError as exc:
        raise _fail(exc) from None


def _read(value: str) -> str:
    return sys.stdin.readline().rstrip("\r\n") if value == "-" else value
