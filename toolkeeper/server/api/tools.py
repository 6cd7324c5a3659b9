"""``/api/v1/tools``: every tool's health card, one tool in detail, and its time buckets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from toolkeeper.monitor.series import TIERS, WINDOWS, granularity_for
from toolkeeper.server.api._shared import (
    MOMENT_SCHEMA,
    KeeperDep,
    parse_moment,
    require_tool,
)
from toolkeeper.server.api._summary import shared_summary, tool_summary
from toolkeeper.server.api.models import (
    CircuitSnapshot,
    Stats,
    ToolDetail,
    ToolList,
    ToolMetrics,
    stats_of,
)
from toolkeeper.server.errors import error_responses

__all__ = ["router", "tool_summary"]

router = APIRouter(prefix="/tools", tags=["tools"])

ToolName = Annotated[str, Path(description="A tool's name.")]
#: How far back the finest history reaches: the last tier's span.
_HISTORY_SECONDS = TIERS[-1][0] * TIERS[-1][1]


@router.get(
    "",
    response_model=ToolList,
    summary="Every tool with its health",
    responses={304: {"description": "Not modified: the ETag sent in If-None-Match is current."}},
)
async def list_tools(request: Request) -> Response:
    """Return every tool the configuration declares or the monitor has seen, with its health.

    The shared summary (also the event stream's tick and the dashboard's cards),
    at most one tick old and never older than the figures it shows. Carries an
    ETag; a request whose ``If-None-Match`` names it gets 304 and no body.
    """
    summary = await shared_summary(request).acurrent()  # computed off the event loop
    headers = {"ETag": summary.etag, "Cache-Control": "no-cache"}
    if summary.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(summary.body, media_type="application/json", headers=headers)


@router.get(
    "/{tool:path}/metrics",
    response_model=ToolMetrics,
    summary="One tool's time buckets",
    responses=error_responses(404, 422),
)
def tool_metrics(
    keeper: KeeperDep,
    tool: ToolName,
    since: Annotated[
        str | None,
        Query(
            description="ISO 8601 time or a duration ago (15m, 1h, 24h); default 1h.",
            json_schema_extra=MOMENT_SCHEMA,
        ),
    ] = None,
) -> ToolMetrics:
    """Return buckets since ``since``, oldest first, empty ones included (the last 24 h are kept).

    Buckets are 10 s for up to 6 minutes, 1 min for up to 61 minutes, else 15 min.
    """
    require_tool(keeper, tool)
    now = keeper.clock.now()
    start = parse_moment(since, name="since", now=now) or now - timedelta(hours=1)
    start = min(max(start, now - timedelta(seconds=_HISTORY_SECONDS)), now)
    size = granularity_for(max((now - start).total_seconds(), 1.0))
    found = {
        int(stats.start.timestamp()) // size: stats
        for stats in (
            keeper.monitoring.get_wrapper_metrics(tool, start)
            if keeper.monitoring.knows(tool)
            else []
        )
    }
    first, last = int(start.timestamp()) // size, int(now.timestamp()) // size
    buckets = []
    for index in range(first, last + 1):
        begin = datetime.fromtimestamp(index * size, UTC)
        end = begin + timedelta(seconds=size)
        buckets.append(stats_of(found.get(index), start=begin, end=end, seconds=size))
    return ToolMetrics(tool=tool, since=start, until=now, bucket_seconds=size, buckets=buckets)


# Last: ``{tool:path}`` would also match the GET routes above that end in a suffix.
@router.get(
    "/{tool:path}",
    response_model=ToolDetail,
    summary="One tool in detail",
    responses=error_responses(404),
)
def tool_detail(keeper: KeeperDep, tool: ToolName) -> ToolDetail:
    """Return a tool's health, circuit breaker and its 1m, 5m, 1h and 24h windows."""
    configured = require_tool(keeper, tool)
    monitor = keeper.monitoring
    known = monitor.knows(tool)
    now = keeper.clock.now()
    windows: dict[str, Stats] = {}
    for window, seconds in WINDOWS.items():
        stats = monitor.get_window_stats(tool, window) if known else None
        windows[window] = stats_of(
            stats, start=now - timedelta(seconds=seconds), end=now, seconds=seconds
        )
    breaker = keeper.runtimes.breaker(tool)
    return ToolDetail(
        name=tool,
        configured=configured,
        active_operations=monitor.active_operation_counts().get(tool, 0),
        health=monitor.get_wrapper_health(tool),
        circuit=CircuitSnapshot.model_validate(breaker.snapshot()) if breaker else None,
        windows=windows,
    )
