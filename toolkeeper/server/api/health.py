"""``GET /api/v1/health``: the system's health and totals."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from toolkeeper.server.api._shared import KeeperDep
from toolkeeper.server.api.models import SystemHealth

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/health", response_model=SystemHealth, summary="System health")
async def system_health(keeper: KeeperDep) -> SystemHealth:
    """Return health and totals over every tool (the formula is in docs/health.md)."""
    report = await run_in_threadpool(keeper.monitoring.system_health_report)
    return SystemHealth.model_validate(report, from_attributes=True)
