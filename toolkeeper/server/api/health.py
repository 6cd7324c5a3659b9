"""``GET /api/v1/health``: the system's health and totals."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from toolkeeper.monitor.reports import SystemHealthReport
from toolkeeper.server.api._shared import KeeperDep

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/health", response_model=SystemHealthReport, summary="System health")
async def system_health(keeper: KeeperDep) -> SystemHealthReport:
    """Return health and totals over every tool (the formula is in docs/health.md)."""
    return await run_in_threadpool(keeper.monitoring.system_health_report)
