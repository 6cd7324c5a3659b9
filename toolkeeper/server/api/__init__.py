"""The REST API under ``/api/v1``: one router per concept, every route behind authentication.

To add a concept (costs, alerts), write ``api/<concept>.py`` with a ``router``
and list it in :data:`ROUTERS`; it is then authenticated and documented like
the rest.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from toolkeeper.server.api import (
    alert_config,
    alerts,
    config,
    costs,
    events,
    export,
    health,
    me,
    operations,
    tools,
)
from toolkeeper.server.auth import authenticate
from toolkeeper.server.errors import error_responses

__all__ = ["PREFIX", "ROUTERS", "api_router"]

PREFIX = "/api/v1"

ROUTERS: tuple[APIRouter, ...] = (
    health.router,
    tools.router,
    operations.router,
    config.router,
    alert_config.router,
    alerts.router,
    costs.router,
    export.router,
    events.router,
    me.router,
)


def api_router() -> APIRouter:
    """Return the ``/api/v1`` router; it authenticates every request before any route runs."""
    router = APIRouter(
        prefix=PREFIX, dependencies=[Depends(authenticate)], responses=error_responses(401, 429)
    )
    for concept in ROUTERS:
        router.include_router(concept)
    return router
