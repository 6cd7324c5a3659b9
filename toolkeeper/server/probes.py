"""``GET /healthz`` (the process is up) and ``GET /readyz`` (the store answers): no authentication.

They say nothing about tools or configuration, so load balancers and
orchestrators may call them freely.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from toolkeeper._errors import StoreError
from toolkeeper.server.errors import ApiError, error_responses

__all__ = ["Probe", "router"]

router = APIRouter(tags=["probes"])


class Probe(BaseModel):
    """A probe's answer."""

    status: Literal["ok", "ready"]


@router.get("/healthz", response_model=Probe, summary="Liveness")
async def healthz() -> Probe:
    """Answer 200 while the process serves requests."""
    return Probe(status="ok")


@router.get("/readyz", response_model=Probe, summary="Readiness", responses=error_responses(503))
async def readyz(request: Request) -> Probe:
    """Answer 200 when the store answers a query, 503 when it does not."""
    store = request.app.state.keeper.store
    try:
        await run_in_threadpool(store.config_cursor)
    except StoreError:
        raise ApiError(503, "store_unavailable", "the store does not answer") from None
    return Probe(status="ready")
