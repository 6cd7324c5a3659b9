"""``toolkeeper health`` and ``toolkeeper export``: read what the store kept of every tool."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from toolkeeper._errors import ToolkeeperError, UnknownToolError
from toolkeeper._units import parse_duration
from toolkeeper.cli._context import open_keeper
from toolkeeper.cli._output import console, latency, print_json

if TYPE_CHECKING:
    pass

__all__ = ["export", "health"]

_STYLE = {"healthy": "green", "degraded": "yellow", "unhealthy": "red", "critical": "bold red"}
FORMATS = ("json", "csv", "prometheus")


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
    table = Table(title="tool health", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    table.add_column("tool", overflow="fold", ratio=1)
    for column in ("status", "score", "ops", "success", "fallback", "p95", "circuit"):
        words = column in ("status", "circuit")
        table.add_column(column, justify="left" if words else "right", no_wrap=True)
    for report in reports:
        style = _STYLE.get(report.status.value, "dim")
        table.add_row(
            escape(report.wrapper_name),
            f"[{style}]{report.status.value}[/]",
            "-" if report.health_score is None else f"{report.health_score:.0f}",
            str(report.total_operations),
            f"{report.success_rate:.1%}",
            f"{report.fallback_rate:.1%}",
            latency(report.p95_latency_ms),
            report.circuit_state or "-",
        )
    console.print(table)
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
    limit: int = typer.Option(100_000, "--limit", help="At most this many operations."),
) -> None:
    """Export operations (json, csv) or current metrics (prometheus text)."""
    from toolkeeper.monitor import to_csv, to_json
    from toolkeeper.monitor.persist import stored_operations

    if format_ not in FORMATS:
        raise ToolkeeperError(f"--format must be one of {', '.join(FORMATS)}, not {format_!r}")
    try:
        window = parse_duration(since)
    except ValueError as exc:
        raise ToolkeeperError(f"--since: {exc}") from None
    keeper = open_keeper(ctx)
    if format_ == "prometheus":
        from prometheus_client import CollectorRegistry, generate_latest

        from toolkeeper.monitor import MonitoringCollector

        registry = CollectorRegistry()
        registry.register(MonitoringCollector(keeper.monitoring, fleet=True))
        text = generate_latest(registry).decode()
    else:
        start = keeper.clock.now() - window
        records, _ = stored_operations(keeper.store, tool=tool, since=start, limit=limit)
        records.reverse()  # oldest first, as a log reads
        text = to_json(records) + "\n" if format_ == "json" else to_csv(records)
    if output is None:
        console.out(text, end="", highlight=False)
    else:
        tmp = output.with_name(f".{output.name}.tmp")
        tmp.write_text(text)
        tmp.replace(output)
        console.print(f"wrote {output}", style="dim")
