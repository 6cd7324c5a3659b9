"""``GET /api/v1/operations``: finished operations, filtered and paginated, newest first.

For now they come from the monitor's bounded ring of recent records
(``recent_size``, 10 000 by default); ``total`` counts what the ring holds that
matches. Error messages were redacted of the tool's secrets when recorded.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from toolkeeper.monitor.records import OperationStatus, WrapperOperationMetrics
from toolkeeper.server.api._shared import KeeperDep, parse_moment, require_tool
from toolkeeper.server.errors import error_responses

__all__ = ["MAX_PAGE", "Operation", "OperationPage", "router"]

router = APIRouter(tags=["operations"])

MAX_PAGE = 500


class Operation(BaseModel):
    """One finished call of a tool. Durations are milliseconds, cost US dollars."""

    operation_id: str
    wrapper_name: str
    operation_type: str
    start_time: datetime
    end_time: datetime | None
    duration_ms: float | None
    status: str
    error_message: str | None
    error_code: str | None
    fallback_used: bool
    fallback_reason: str | None
    fallback_name: str | None
    fallback_duration_ms: float | None
    original_error: str | None
    cost_estimate: float
    input_tokens: int
    output_tokens: int
    quality_score: float | None
    user_id: str | None
    session_id: str | None
    request_id: str | None
    parent_id: str | None
    custom_metrics: dict[str, Any]
    labels: dict[str, str]

    @classmethod
    def of(cls, record: WrapperOperationMetrics) -> Operation:
        """Build from a monitor record."""
        return cls.model_validate(record.to_dict())


class OperationPage(BaseModel):
    """One page of operations, newest first; ``total`` is the number matching the filters."""

    total: int
    limit: int
    offset: int
    items: list[Operation]


@router.get(
    "/operations",
    response_model=OperationPage,
    summary="Recent operations",
    responses=error_responses(404, 422),
)
def list_operations(
    *,
    keeper: KeeperDep,
    tool: Annotated[str | None, Query(description="Only this tool's operations.")] = None,
    status: Annotated[
        OperationStatus | None, Query(description="Only operations that ended so.")
    ] = None,
    since: Annotated[
        str | None, Query(description="Ended at or after: ISO 8601 or a duration ago (1h).")
    ] = None,
    until: Annotated[
        str | None, Query(description="Ended before: ISO 8601 or a duration ago.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> OperationPage:
    """Return finished operations matching every filter given, newest first."""
    if tool is not None:
        require_tool(keeper, tool)
    now = keeper.clock.now()
    low = parse_moment(since, name="since", now=now)
    high = parse_moment(until, name="until", now=now)
    matching = [
        record
        for record in reversed(keeper.monitoring.recent_operations(tool))
        if (status is None or record.status is status)
        and (low is None or (record.end_time is not None and record.end_time >= low))
        and (high is None or (record.end_time is not None and record.end_time < high))
    ]
    page = matching[offset : offset + limit]
    return OperationPage(
        total=len(matching), limit=limit, offset=offset, items=[Operation.of(r) for r in page]
    )
