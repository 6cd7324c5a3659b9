"""``GET /api/v1/health``: the system's health and totals."""

from __future__ import annotations

from fastapi import APIRouter, Request

from toolkeeper.monitor.reports import SystemHealthReport
from toolkeeper.server.api._summary import shared_summary

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/health", response_model=SystemHealthReport, summary="System health")
async def system_health(request: Request) -> SystemHealthReport:
    """Return health and totals over every tool (the formula is in docs/health.md).

    From the shared summary: the figures ``/api/v1/tools`` and the live tick show.
    """
    summary = await shared_summary(request).acurrent()  # computed off the event loop
    return summary.health
