"""``toolkeeper health`` and ``toolkeeper export``: read what the store kept of every tool."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape

from toolkeeper._errors import ToolkeeperError, UnknownToolError
from toolkeeper._units import parse_duration
from toolkeeper.cli._context import open_keeper
from toolkeeper.cli._output import FittedTable, console, err_console, latency, print_json

if TYPE_CHECKING:
    from toolkeeper.keeper import Keeper
    from toolkeeper.monitor.records import WrapperOperationMetrics

__all__ = ["export", "health"]

_STYLE = {"healthy": "green", "degraded": "yellow", "unhealthy": "red", "critical": "bold red"}
FORMATS = ("json", "csv", "prometheus")
#: What the rate columns count, under the table (each line fits 80 columns).
_LEGEND = (
    "failed: calls that failed for the caller. provider: failed calls plus calls a\n"
    "fallback served after the provider failed. fallback: calls a fallback served."
)


def health(
    ctx: typer.Context,
    tool: str | None = typer.Argument(None, help="One tool (default: every tool)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Show each tool's health over its recent operations (see docs/health.md)."""
    keeper = open_keeper(ctx)
    monitor = keeper.monitoring
    known = sorted(set(monitor.tools()) | set(keeper.config.tools()))
    if tool is not None and tool not in known:
        raise UnknownToolError(tool, known)
    names = [tool] if tool else known
    reports = [monitor.get_wrapper_health(name) for name in names]
    if not reports and not as_json:
        console.print("no tools yet: none is configured, and no operation is in the store")
        return
    if as_json:
        data = [report.to_dict() for report in reports]
        print_json(data[0] if tool else {"system": monitor.get_system_health(), "tools": data})
        return
    # Fits 80 columns: figures never wrap, a long tool name folds onto a second line (never cut).
    table = FittedTable(title="tool health")
    table.add_column("tool", overflow="fold", ratio=1)
    for column in ("status", "score", "ops", "failed", "provider", "fallback", "p95", "circuit"):
        words = column in ("status", "circuit")
        table.add_column(column, justify="left" if words else "right", no_wrap=True)
    for report in reports:
        style = _STYLE.get(report.status.value, "dim")
        table.add_row(
            escape(report.wrapper_name),
            f"[{style}]{report.status.value}[/]",
            "-" if report.health_score is None else f"{report.health_score:.0f}",
            str(report.total_operations),
            f"{report.error_rate:.1%}",
            f"{report.provider_error_rate:.1%}",
            f"{report.fallback_rate:.1%}",
            latency(report.p95_latency_ms),
            report.circuit_state or "-",
        )
    console.print(table)
    console.print(_LEGEND, soft_wrap=False)
    for report in reports:
        if report.reasons:
            reasons = escape("; ".join(report.reasons))
            console.print(f"{escape(report.wrapper_name)}: {reasons}", soft_wrap=False)


def export(
    ctx: typer.Context,
    format_: str = typer.Option("json", "--format", "-f", help="json, csv or prometheus."),
    since: str = typer.Option("1h", "--since", help="How far back: 90s, 15m, 1h, 7d."),
    tool: str | None = typer.Option(None, "--tool", help="Only this tool."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to a file."),
    limit: int | None = typer.Option(
        None, "--limit", help="At most this many operations (default: all; a cut is reported)."
    ),
) -> None:
    """Export stored operations (json, csv; oldest first, streamed) or metrics (prometheus).

    Every operation of the range is written, from the store, in bounded memory; a
    progress bar on stderr follows a large export to a file.
    """
    if format_ not in FORMATS:
        raise ToolkeeperError(f"--format must be one of {', '.join(FORMATS)}, not {format_!r}")
    try:
        window = parse_duration(since)
    except ValueError as exc:
        raise ToolkeeperError(f"--since: {exc}") from None
    if limit is not None and limit < 0:
        raise ToolkeeperError(f"--limit must be 0 or more, not {limit}")
    keeper = open_keeper(ctx)
    if format_ == "prometheus":
        from prometheus_client import CollectorRegistry, generate_latest

        # Deferred: prometheus-client is needed by this format only.
        from toolkeeper.monitor import MonitoringCollector

        registry = CollectorRegistry()
        registry.register(MonitoringCollector(keeper.monitoring, fleet=True))
        _write([generate_latest(registry).decode()], output)
        return
    _export_operations(keeper, format_, keeper.clock.now() - window, tool, output, limit)


def _export_operations(
    keeper: Keeper,
    format_: str,
    start: datetime,
    tool: str | None,
    output: Path | None,
    limit: int | None,
) -> None:
    from itertools import islice

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    # Deferred: the store's readers load SQLAlchemy; the CLI starts without it.
    from toolkeeper.monitor.export import iter_csv, iter_json
    from toolkeeper.monitor.persist import count_stored_operations, iter_stored_operations

    matching = count_stored_operations(keeper.store, tool=tool, since=start)
    wanted = matching if limit is None else min(limit, matching)
    records = iter_stored_operations(keeper.store, tool=tool, since=start)
    if limit is not None:
        records = islice(records, limit)
    progress = Progress(
        "exporting", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=err_console, transient=True, disable=output is None or wanted < 10_000,
    )  # fmt: skip
    task = progress.add_task("operations", total=wanted)

    def counted(items: Iterator[WrapperOperationMetrics]) -> Iterator[WrapperOperationMetrics]:
        for item in items:
            yield item
            progress.advance(task)

    chunks = (iter_json if format_ == "json" else iter_csv)(counted(records))
    with progress:
        _write(chunks, output)
    if wanted < matching:
        err_console.print(
            f"[yellow]--limit {limit}: wrote the oldest {wanted} of {matching} operations[/]"
        )
    elif output is not None:
        console.print(f"wrote {wanted} operations to {output}", style="dim")


def _write(chunks: Iterable[str], output: Path | None) -> None:
    """Write ``chunks`` to stdout, or atomically to ``output`` (a temporary file, renamed)."""
    if output is None:
        for chunk in chunks:
            console.out(chunk, end="", highlight=False)
        return
    tmp = output.with_name(f".{output.name}.tmp")
    try:
        with tmp.open("w", encoding="utf-8", newline="") as file:
            for chunk in chunks:
                file.write(chunk)
        tmp.replace(output)
    finally:
        tmp.unlink(missing_ok=True)
