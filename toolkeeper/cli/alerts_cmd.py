"""``toolkeeper alerts list|test|silence|ack|escalate|config|notifier``: rules and states,
silences, actions, runtime versions and notifiers."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape

from toolkeeper._errors import ToolkeeperError
from toolkeeper.cli._context import default_actor, open_keeper
from toolkeeper.cli._output import FittedTable, console, print_json
from toolkeeper.cli.alert_config_cmd import config_app, notifier_app
from toolkeeper.store.alert_records import silence_seconds

if TYPE_CHECKING:
    from toolkeeper.alerts import AlertEngine, AlertRule, Silence

__all__ = ["app", "rule_data"]

app = typer.Typer(
    help="See alert rules and states, silence alerts, send a test notification.",
    no_args_is_help=True,
)

app.add_typer(config_app, name="config")
app.add_typer(notifier_app, name="notifier")

JSON_OPTION = typer.Option(False, "--json", help="Print JSON instead of tables.")
_STATE_STYLE = {"firing": "bold red", "pending": "yellow", "inactive": "dim"}


def rule_data(rule: AlertRule) -> dict[str, Any]:
    """Return a rule as JSON-ready data (the fields every surface shows)."""
    return rule.to_dict()


def _when(moment: datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment is not None else "-"


def _quiet(silenced_by: int | None, inhibited_by: str | None, acknowledged_by: str | None) -> str:
    """Say why an alert sends nothing now: silenced, inhibited, acknowledged, or 'no'."""
    reasons = []
    if silenced_by is not None:
        reasons.append(f"by silence {silenced_by}")
    if inhibited_by:
        reasons.append(f"inhibited by {escape(inhibited_by)}")
    if acknowledged_by:
        reasons.append(f"acknowledged by {escape(acknowledged_by)}")
    return ", ".join(reasons) or "no"


def _value(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


@app.command("list")
def list_alerts(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """List the rules and every alert's current state (firing first), as the store has them."""
    engine = open_keeper(ctx).alerts
    rules = engine.rules()
    statuses = engine.statuses()
    if as_json:
        print_json(
            {
                "rules": [rule_data(rule) for rule in rules],
                "statuses": [status.to_dict() for status in statuses],
            }
        )
        return
    table = FittedTable(title="alert rules")
    for column in ("rule", "tool", "condition", "window", "for", "severity", "notify"):
        table.add_column(column)
    for rule in rules:
        table.add_row(
            escape(rule.name),
            escape(rule.selector),
            escape(rule.condition),
            escape(str(rule.window)),
            f"{rule.for_seconds:g}s",
            escape(str(rule.severity)),
            escape(", ".join(rule.notify)) or "(policy)",
        )
    console.print(table)
    if not statuses:
        console.print("no alert has been evaluated yet: `toolkeeper serve` evaluates the rules")
        return
    states = FittedTable(title="alerts")
    for column in ("rule", "tool", "state", "value", "since", "quiet", "summary"):
        states.add_column(column)
    for status in statuses:
        style = _STATE_STYLE.get(status.state, "")
        states.add_row(
            escape(status.rule),
            escape(status.tool),
            f"[{style}]{status.state}[/]" if style else status.state,
            f"{_value(status.value)} {escape(status.op)} {status.threshold:g}",
            _when(status.since),
            _quiet(status.silenced_by, status.inhibited_by, status.acknowledged_by),
            escape(status.summary),
        )
    console.print(states)


@app.command("test")
def send_test(
    ctx: typer.Context,
    notifier: str | None = typer.Argument(None, help="One notifier (default: every notifier)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Send a test notification through each notifier; exit 1 if any delivery failed."""
    engine = open_keeper(ctx).alerts
    known = engine.notifier_names()
    if notifier is not None and notifier not in known:
        raise ToolkeeperError(
            f"no notifier is named {notifier!r}; the configured ones are "
            f"{', '.join(known) or 'none'} ([alerts.notifiers.NAME] in the configuration file)"
        )
    if not known:
        raise ToolkeeperError(
            "no notifier is configured: add an [alerts.notifiers.NAME] table with urls = [...] "
            "to the configuration file"
        )
    results = engine.test_notification(notifier)
    failed = sorted(name for name, delivered in results.items() if not delivered)
    if as_json:
        print_json({"results": results, "failed": failed})
    else:
        for name, delivered in results.items():
            mark = "[green]delivered[/]" if delivered else "[bold red]failed[/]"
            urls = ", ".join(engine.notifier_urls_masked(name))
            console.print(f"{escape(name)}: {mark} ({escape(urls)})")
    if failed:
        raise ToolkeeperError(
            f"the test notification could not be delivered by {', '.join(map(repr, failed))}; "
            "check the notifier's URLs and that its service is reachable"
        )


@app.command("silence")
def silence(
    ctx: typer.Context,
    rule: str = typer.Option("*", "--rule", help="Rule name or glob to silence (default: every)."),
    tool: str = typer.Option("*", "--tool", help="Tool name or glob to silence (default: every)."),
    matchers: list[str] | None = typer.Option(
        None,
        "--matcher",
        help="A label matcher that must hold too, e.g. 'severity=\"critical\"' (repeatable).",
    ),
    duration: str | None = typer.Option(
        None, "--for", help="How long, e.g. 30m, 2h, 1d (required to create a silence)."
    ),
    comment: str | None = typer.Option(
        None, "--comment", "-m", help="Why (required to create a silence; kept with it)."
    ),
    by: str | None = typer.Option(None, "--by", help="Who silences or expires (default: $USER)."),
    list_: bool = typer.Option(False, "--list", help="List the active silences instead."),
    expire: int | None = typer.Option(
        None, "--expire", metavar="ID", help="End the silence with this id now, instead."
    ),
    include_expired: bool = typer.Option(
        False, "--all", help="With --list: include ended and expired silences."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Silence matching alerts for a while (they still show, nothing is sent); list or expire.

    toolkeeper alerts silence --rule circuit-open --tool openai --for 2h --comment "provider
    incident"; toolkeeper alerts silence --matcher 'team="payments"' --matcher
    'severity!="critical"' --for 1h -m "deploy"; toolkeeper alerts silence --list;
    toolkeeper alerts silence --expire 3.
    """
    if list_ and expire is not None:
        raise ToolkeeperError("--list and --expire do different things: give one of them")
    creating = not list_ and expire is None
    if not creating:
        given = [name for name, value in (("--for", duration), ("--comment", comment)) if value]
        given += [name for name, value in (("--rule", rule), ("--tool", tool)) if value != "*"]
        given += ["--matcher"] if matchers else []
        if given:
            action = "--list" if list_ else "--expire"
            raise ToolkeeperError(
                f"{', '.join(given)} only apply when creating a silence, not with {action}"
            )
    if list_:
        _list_silences(open_keeper(ctx).alerts, include_expired=include_expired, as_json=as_json)
        return
    if expire is not None:
        engine = open_keeper(ctx).alerts
        try:
            ended = engine.expire_silence(expire, by=by or default_actor())
        except KeyError:
            raise ToolkeeperError(
                f"--expire: no silence has id {expire}; `toolkeeper alerts silence --list --all` "
                "lists them"
            ) from None
        except ValueError as exc:  # a blank --by
            raise ToolkeeperError(f"--by: {exc}") from None
        _print_silence(ended, as_json=as_json, verb="expired")
        return
    if duration is None:
        raise ToolkeeperError("--for is required to create a silence: say how long, e.g. --for 2h")
    if comment is None or not comment.strip():
        raise ToolkeeperError("--comment is required to create a silence: say why, in a few words")
    try:
        seconds = silence_seconds(duration, option="--for")
        created = open_keeper(ctx).alerts.silence(
            rule=rule,
            tool=tool,
            matchers=matchers or (),
            duration_s=seconds,
            created_by=by or default_actor(),
            comment=comment.strip(),
        )
    except ValueError as exc:
        raise ToolkeeperError(str(exc)) from None
    _print_silence(created, as_json=as_json, verb="created")


@app.command("ack")
def acknowledge(
    ctx: typer.Context,
    rule: str = typer.Argument(..., help="The alert's rule."),
    tool: str = typer.Argument(..., help="The alert's tool."),
    comment: str = typer.Option(..., "--comment", "-m", help="Why, or what is being done."),
    by: str | None = typer.Option(None, "--by", help="Who acknowledges (default: $USER)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Acknowledge a firing alert: no more repeats, no escalation, until it resolves.

    toolkeeper alerts ack openai-errors openai -m "rolling back the deploy"
    """
    engine = open_keeper(ctx).alerts
    try:
        status = engine.acknowledge(rule, tool, by=by or default_actor(), comment=comment)
    except (KeyError, ValueError) as exc:
        raise ToolkeeperError(str(exc.args[0]) if isinstance(exc, KeyError) else str(exc)) from None
    if as_json:
        print_json(status.to_dict())
        return
    console.print(
        f"acknowledged {escape(rule)} on {escape(tool)} as {escape(status.acknowledged_by or '')}"
    )


@app.command("escalate")
def escalate(
    ctx: typer.Context,
    rule: str = typer.Argument(..., help="The alert's rule."),
    tool: str = typer.Argument(..., help="The alert's tool."),
    by: str | None = typer.Option(None, "--by", help="Who escalates (default: $USER)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Notify the next level of a firing alert's escalation chain now."""
    engine = open_keeper(ctx).alerts
    try:
        status = engine.escalate(rule, tool, by=by or default_actor())
    except (KeyError, ValueError) as exc:
        raise ToolkeeperError(str(exc.args[0]) if isinstance(exc, KeyError) else str(exc)) from None
    if as_json:
        print_json(status.to_dict())
        return
    console.print(f"escalated {escape(rule)} on {escape(tool)} to level {status.escalation_level}")


def _list_silences(engine: AlertEngine, *, include_expired: bool, as_json: bool) -> None:
    silences = engine.silences(include_expired=include_expired)
    if as_json:
        print_json([item.to_dict() for item in silences])
        return
    if not silences:
        console.print("no active silence" if not include_expired else "no silence yet")
        return
    table = FittedTable(title="silences")
    for column in ("id", "rule", "tool", "matchers", "from", "until", "by", "comment", "state"):
        table.add_column(column)
    for item in silences:
        state = f"expired by {item.expired_by}" if item.expired_by else "ended"
        table.add_row(
            str(item.id),
            escape(item.rule),
            escape(item.tool),
            escape(", ".join(item.matchers)) or "-",
            _when(item.starts_at),
            _when(item.ends_at),
            escape(item.created_by),
            escape(item.comment),
            escape(state) if item.expired else "[green]active[/]",
        )
    console.print(table)


def _print_silence(item: Silence, *, as_json: bool, verb: str) -> None:
    if as_json:
        print_json(item.to_dict())
        return
    who = item.expired_by if verb == "expired" and item.expired_by else item.created_by
    where = f" where {escape(', '.join(item.matchers))}" if item.matchers else ""
    console.print(
        f"{verb} silence {item.id} of rule {escape(item.rule)} on tool {escape(item.tool)}{where} "
        f"(by {escape(who or '-')}), until {_when(item.ends_at)}: {escape(item.comment)}"
    )
