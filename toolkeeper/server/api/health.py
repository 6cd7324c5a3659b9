"""``GET /api/v1/health``: the system's health and totals."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from toolkeeper.monitor.reports import SystemHealthReport
from toolkeeper.server.api._summary import shared_summary

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/health", response_model=SystemHealthReport, summary="System health")
async def system_health(request: Request) -> SystemHealthReport:
    """Return health and totals over every tool (the formula is in docs/health.md).

    From the shared summary: the figures ``/api/v1/tools`` and the live tick show.
    """
    shared = shared_summary(request)
    summary = shared.fresh()
    if summary is None:  # computing it is the threadpool's work, not the event loop's
        summary = await run_in_threadpool(shared.current)
    return summary.health
