"""``GET /``: the dashboard, system health, a card per tool, charts and recent operations."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from toolkeeper.server.api._shared import KeeperDep
from toolkeeper.server.api._summary import shared_summary
from toolkeeper.server.pages._access import SignedIn
from toolkeeper.server.pages._data import recent_operations, spend_of
from toolkeeper.server.pages._render import render

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request, principal: SignedIn, keeper: KeeperDep) -> HTMLResponse:
    """Render the dashboard; its script keeps it live from ``/api/v1/events``."""
    summary = shared_summary(request).current()  # the API's and the live tick's figures
    cards = list(summary.tools)
    return render(
        request,
        "dashboard.html",
        {
            "health": summary.health,
            "cards": cards,
            "spend": spend_of(keeper, [card.name for card in cards]),
            "operations": recent_operations(keeper),
        },
        principal=principal,
    )
