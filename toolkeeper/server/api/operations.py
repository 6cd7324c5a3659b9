"""``GET /api/v1/operations``: finished operations, filtered and paginated, newest first.

They come from the store, so a server running beside the application (another
process sharing the store) lists the application's operations; what this process
recorded is flushed first, so nothing recorded before the request is missing.
Raw operations are kept ``metrics_retention_days``. Error messages were redacted
of the tool's secrets when recorded.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from toolkeeper.monitor.persist import stored_operations
from toolkeeper.monitor.records import OperationStatus, WrapperOperationMetrics
from toolkeeper.server.api._shared import MOMENT_SCHEMA, KeeperDep, parse_moment, require_tool
from toolkeeper.server.api.models import Money
from toolkeeper.server.errors import error_responses

__all__ = ["MAX_PAGE", "Operation", "OperationPage", "router"]

router = APIRouter(tags=["operations"])

MAX_PAGE = 500
MAX_OFFSET = 100_000_000


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
    cost_estimate: Money
    input_tokens: int
    output_tokens: int
    quality_score: float | None
    user_id: str | None
    session_id: str | None
    request_id: str | None
    parent_id: str | None
    custom_metrics: dict[str, Any]
    labels: dict[str, str]
    cached_tokens: int = Field(description="Input tokens read from the provider's cache.")
    cache_write_tokens: int = Field(description="Input tokens written to the provider's cache.")
    reasoning_tokens: int = Field(description="Output tokens spent on reasoning.")

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
        str | None,
        Query(
            description="Ended at or after: ISO 8601 or a duration ago (1h).",
            json_schema_extra=MOMENT_SCHEMA,
        ),
    ] = None,
    until: Annotated[
        str | None,
        Query(
            description="Ended before: ISO 8601 or a duration ago.", json_schema_extra=MOMENT_SCHEMA
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> OperationPage:
    """Return finished operations matching every filter given, newest first."""
    if tool is not None:
        require_tool(keeper, tool)
    now = keeper.clock.now()
    low = parse_moment(since, name="since", now=now)
    high = parse_moment(until, name="until", now=now)
    keeper.flush()
    page, total = stored_operations(
        keeper.store, tool=tool, status=None if status is None else status.value,
        since=low, until=high, limit=limit, offset=offset,
    )  # fmt: skip
    return OperationPage(
        total=total, limit=limit, offset=offset, items=[Operation.of(r) for r in page]
    )
