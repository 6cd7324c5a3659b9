"""``GET /api/v1/costs``: the cost report of ``toolkeeper costs --json``, over a chosen range.

Money is exact decimal strings (docs/money.md): ``"0.0075"``, never ``0.0075`` as
a float nor ``"7.5E-3"``. ``overshoots`` lists, per tool, the calls that cost more
than they had reserved, as the ledger counted them in every process.
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from toolkeeper.server.api._shared import KeeperDep

__all__ = ["MAX_OPERATIONS", "RANGES", "Range", "router"]

router = APIRouter(tags=["costs"])

#: The ranges the report covers, as the costs page offers them.
RANGES = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
Range = Literal["1h", "24h", "7d", "30d"]
#: The newest operations the report's detail reads at most (it says when a range held more).
MAX_OPERATIONS = 200_000


@router.get("/costs", summary="Cost report")
async def cost_report(
    keeper: KeeperDep,
    since: Annotated[Range, Query(description="How far back: 1h, 24h, 7d or 30d.")] = "24h",
    by: Annotated[
        Literal["tool", "model", "operation", "label"],
        Query(description="Group the spend by tool, model, operation or label."),
    ] = "tool",
) -> dict[str, Any]:
    """Return spend, tokens, groups, waste, budgets, overshoots, routing savings and advice."""
    read = partial(keeper.costs.report, since=RANGES[since], by=by, max_operations=MAX_OPERATIONS)
    report = await run_in_threadpool(read)
    return report.to_dict()
