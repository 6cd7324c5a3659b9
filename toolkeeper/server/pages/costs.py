"""``GET /costs``: spend by tool, model and label, budgets, unpriced calls, savings and advice.

Everything comes from ``keeper.costs.report()`` (the same report as
``toolkeeper costs``), read from the store's operations over the chosen range.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from toolkeeper.keeper import Keeper
from toolkeeper.server.api._shared import KeeperDep
from toolkeeper.server.api.costs import MAX_OPERATIONS, RANGES, Range
from toolkeeper.server.pages._access import SignedIn
from toolkeeper.server.pages._render import render

__all__ = ["RANGES", "router"]

router = APIRouter(include_in_schema=False)

#: How often the open page asks for the report again (it reads the store's operations).
REFRESH_SECONDS = 5


def cost_context(keeper: Keeper, since: Range) -> dict[str, Any]:
    """Return the report by tool (with budgets, savings, advice) and the model and label groups.

    One report, one read of the store: the model and label groups come from the
    same operations as the tool groups, so the page's parts agree.
    """
    report = keeper.costs.report(
        since=RANGES[since], by="tool", also_by=("model", "label"), max_operations=MAX_OPERATIONS
    )
    unpriced_now = sorted(keeper.costs.unpriced().items(), key=lambda item: -item[1])
    return {
        "refresh_seconds": REFRESH_SECONDS,
        "now": keeper.clock.now(),
        "since": since,
        "ranges": list(RANGES),
        "report": report,
        "model_groups": report.groups_by("model"),
        "label_groups": report.groups_by("label"),
        "truncated": bool(report.truncated),
        "max_operations": MAX_OPERATIONS,
        "unpriced_since_start": [
            {"tool": tool, "model": model, "calls": calls} for (tool, model), calls in unpriced_now
        ],
    }


@router.get("/costs", response_class=HTMLResponse)
def costs_page(
    request: Request,
    principal: SignedIn,
    keeper: KeeperDep,
    since: Annotated[Range, Query(description="How far back: 1h, 24h, 7d or 30d.")] = "24h",
) -> HTMLResponse:
    """Render the cost report over the chosen range."""
    return render(request, "costs.html", cost_context(keeper, since), principal=principal)
