"""``GET /metrics``: the Prometheus text exposition of the monitor's aggregates.

Scrapers cannot keep a browser session, so ``/metrics`` takes a bearer token of
any role (Prometheus: ``authorization: {type: Bearer, credentials_file: ...}``);
``ServerSettings(metrics_public=True)`` opens it to anyone who can reach the port,
for setups where the network is the boundary. It carries counts, latency,
cost and health per tool, never a configuration value.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import TYPE_CHECKING, Annotated, Protocol

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.concurrency import run_in_threadpool

from toolkeeper.costs.prometheus import OvershootCollector
from toolkeeper.monitor import MonitoringCollector
from toolkeeper.server.api._shared import require_tool
from toolkeeper.server.auth import bearer_scheme, identify

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from toolkeeper.costs.tracker import CostTracker
    from toolkeeper.monitor.performance import PerformanceMonitor

__all__ = ["prometheus_text", "router"]


class _Collector(Protocol):
    def collect(self) -> Iterator[Metric]: ...


class _OneTool:
    """Pass on only the samples labelled with one tool (and the metrics without a tool)."""

    def __init__(self, inner: _Collector, tool: str) -> None:
        self.inner = inner
        self.tool = tool

    def collect(self) -> Iterator[Metric]:
        for family in self.inner.collect():
            family.samples = [
                s for s in family.samples if s.labels.get("tool", self.tool) == self.tool
            ]
            yield family


def prometheus_text(
    monitor: PerformanceMonitor,
    *,
    tool: str | None = None,
    fleet: bool = False,
    costs: CostTracker | None = None,
) -> bytes:
    """Return the exposition text for every tool, or only ``tool``; ``fleet``: see the collector.

    ``costs`` adds its budget overshoots, as its ledger counts them.
    """
    registry = CollectorRegistry(auto_describe=False)
    collectors: list[_Collector] = [MonitoringCollector(monitor, fleet=fleet)]
    if costs is not None:
        collectors.append(OvershootCollector(costs))
    for collector in collectors:
        registry.register(collector if tool is None else _OneTool(collector, tool))
    return generate_latest(registry)


def _scraper(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> None:
    """Let anyone scrape when metrics are public; otherwise ask for a token, as the API does."""
    if not request.app.state.settings.metrics_public:
        identify(request)


router = APIRouter(tags=["metrics"])


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    dependencies=[Depends(_scraper)],
    responses={
        200: {
            "content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}},
            "description": "Prometheus text format.",
        },
        401: {"description": "No valid token (unless metrics are public)."},
        404: {"description": "No tool has that name."},
    },
)
async def metrics(
    request: Request,
    tool: Annotated[str | None, Query(description="Only this tool's samples.")] = None,
) -> Response:
    """Return every tool's counts, latency, cost, tokens, health and budget overshoots."""
    keeper = request.app.state.keeper
    if tool is not None:
        require_tool(keeper, tool)
    body = await run_in_threadpool(
        partial(
            prometheus_text,
            keeper.monitoring,
            tool=tool,
            fleet=keeper.follows_store,
            costs=keeper.costs,
        )
    )
    return Response(body, media_type=CONTENT_TYPE_LATEST)
