"""``toolkeeper costs``: spend over a range, budgets, unpriced calls, routing savings and advice."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import typer
from rich.markup import escape

from toolkeeper._errors import ToolkeeperError
from toolkeeper._units import format_money, parse_duration
from toolkeeper.cli._context import open_keeper
from toolkeeper.cli._output import FittedTable, console, print_json
from toolkeeper.costs.report import GROUPINGS
from toolkeeper.costs.report_model import BudgetRow, CostReport, OvershootRow
from toolkeeper.costs.usage import TokenCounts

__all__ = ["costs"]


def costs(
    ctx: typer.Context,
    since: str = typer.Option("24h", "--since", help="How far back: 90s, 15m, 24h, 7d."),
    by: str = typer.Option("tool", "--by", help="Group by tool, model, operation or label."),
    label: str | None = typer.Option(None, "--label", help="With --by label: only this label."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
) -> None:
    """Show spend over a range: by group, per success, waste, budgets, savings and advice.

    Calls whose model has no price are listed as unpriced, never counted as $0.
    """
    if by not in GROUPINGS:
        raise ToolkeeperError(f"--by must be one of {', '.join(GROUPINGS)}, not {by!r}")
    try:
        window = parse_duration(since)
    except ValueError as exc:
        raise ToolkeeperError(f"--since: {exc}") from None
    report = open_keeper(ctx).costs.report(since=window, by=by, label=label)
    if as_json:
        print_json(report.to_dict())
        return
    _print(report, since)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _say(*objects: Any, **options: Any) -> None:
    """Print for people, wrapped at the terminal's width (80 columns when not one)."""
    console.print(*objects, soft_wrap=False, **options)


def _usd(amount: Decimal | None) -> str:
    return format_money(amount, missing="-")


def _print(report: CostReport, since: str) -> None:
    unpriced = report.unpriced_calls
    _say(
        f"[bold]{_usd(report.total)}[/] over the last {escape(since)}: "
        f"{report.calls} operations, {report.priced_calls} priced"
        + (f", [yellow]{unpriced} unpriced (cost unknown)[/]" if unpriced else "")
    )
    tokens = _tokens(report.tokens)
    if tokens:
        _say(tokens)
    table = FittedTable(title=f"cost by {report.by}")
    for column in ("group", "cost", "calls", "unpriced", "failures"):
        table.add_column(column)
    for group in report.groups:
        cost = "unpriced" if group.cost is None else _usd(group.cost)
        shown = str(group.unpriced_calls) if group.unpriced_calls else "-"
        row = (group.key, cost, str(group.calls), shown, str(group.failures))
        table.add_row(*(escape(cell) for cell in row))
    _say(table)
    waste = report.waste
    _say(
        f"cost per successful operation: {_usd(report.cost_per_success)}; wasted "
        f"{_usd(waste.total)} ({_count(waste.failed_calls, 'failed call')} cost "
        f"{_usd(waste.failed_cost)}, retries of {_count(waste.retried_calls, 'call')} about "
        f"{_usd(waste.retry_cost_estimate)})"
    )
    for item in report.unpriced:
        calls = _count(item.calls, "call")
        _say(f"[yellow]unpriced:[/] {escape(item.model)}: {calls}, cost unknown")
    _print_budgets(report.budgets)
    _print_overshoots(report.overshoots or ())
    routing = report.routing
    if routing.requests:
        percent = routing.savings_percent
        _say(
            f"routing: {routing.priced_requests} of {routing.requests} decisions priced; "
            f"baseline (all on the strong model) {_usd(routing.baseline_cost)}, actual "
            f"{_usd(routing.actual_cost)}, saved {_usd(routing.savings)}"
            + (f" ({percent}%)" if percent is not None else "")
            + (f"; {routing.unpriced_count} unpriced" if routing.unpriced_count else "")
        )
    for advice in report.recommendations:
        saving = advice.estimated_savings
        _say(
            f"[bold]advice:[/] {escape(advice.title)}"
            + (f" (saves about {_usd(saving)})" if saving is not None else "")
        )
        _say(f"  {escape(advice.detail)}")
        evidence = ", ".join(f"{key}={value}" for key, value in advice.evidence.items())
        _say(f"  evidence: {escape(evidence)}", style="dim")
    _say(f"prices: {escape(report.prices or '')}", style="dim")
    if report.truncated:
        _say("[yellow]only the newest operations of the range were read[/]")


def _tokens(tokens: TokenCounts) -> str | None:
    """Say the tokens of every kind: ``tokens: 1,050 input (200 cache read, …), 300 output``."""
    if not (tokens.input_tokens or tokens.output_tokens):
        return None
    inside = [
        f"{count:,} {name}"
        for count, name in (
            (tokens.cached_tokens, "cache read"),
            (tokens.cache_write_tokens, "cache write"),
        )
        if count
    ]
    text = f"tokens: {tokens.input_tokens:,} input"
    text += f" ({', '.join(inside)})" if inside else ""
    text += f", {tokens.output_tokens:,} output"
    if tokens.reasoning_tokens:
        text += f" ({tokens.reasoning_tokens:,} reasoning)"
    return text


def _print_budgets(budgets: tuple[BudgetRow, ...]) -> None:
    if not budgets:
        return
    table = FittedTable(title="budgets")
    # Rates per hour: the period's average, then the last hour's (docs/money.md).
    # The scope's period and policy go under it, so the money columns fit 80 columns.
    columns = ("budget", "spent", "limit", "used", "avg/h", "1h/h", "projected")
    for column in columns:
        table.add_column(column)
    heading: list[str] = []
    for budget in budgets:
        used = budget.used_fraction
        projected = _usd(budget.projected)
        if budget.limit_reached_at:
            colour = "red" if budget.projected_over_limit else "yellow"
            projected = f"[{colour}]{projected}[/]"
            heading.append(f"[{colour}]{escape(budget.scope)}: {escape(budget.projection)}[/]")
        table.add_row(
            f"{escape(budget.scope)}\n[dim]{escape(budget.period)}, {budget.policy}[/]",
            _usd(budget.spent),
            _usd(budget.limit),
            "-" if used is None else f"{used:.0%}",
            _usd(budget.burn_per_hour),
            _usd(budget.burn_per_hour_recent),
            projected,
        )
    _say(table)
    for line in heading:
        _say(line)


def _print_overshoots(overshoots: tuple[OvershootRow, ...]) -> None:
    """List the calls that cost more than they reserved (all-time, every process)."""
    if not overshoots:
        return
    table = FittedTable(title="budget overshoots (all time, every process)")
    for column in ("tool", "calls", "beyond reservations", "largest"):
        table.add_column(column)
    for item in overshoots:
        table.add_row(escape(item.tool), str(item.calls), _usd(item.amount), _usd(item.largest))
    _say(table)
