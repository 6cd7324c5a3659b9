"""``GET /api/v1/export``: stored operations as JSON or CSV, streamed.

Prometheus text is ``GET /metrics`` (``?tool=`` for one tool): counters have no ``since``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response, StreamingResponse

from toolkeeper.monitor.export import iter_csv, iter_json
from toolkeeper.monitor.persist import iter_stored_operations
from toolkeeper.server.api._shared import MOMENT_SCHEMA, KeeperDep, parse_moment, require_tool
from toolkeeper.server.errors import error_responses

__all__ = ["ExportFormat", "router"]

router = APIRouter(tags=["export"])


class ExportFormat(StrEnum):
    """The formats ``/export`` writes."""

    JSON = "json"
    CSV = "csv"


_MEDIA = {
    ExportFormat.JSON: "application/json",
    ExportFormat.CSV: "text/csv; charset=utf-8",
}


@router.get(
    "/export",
    summary="Export operations or metrics",
    response_class=Response,
    responses={
        200: {
            "description": "JSON: a list of operation records; CSV: the same with a header row.",
            "content": {
                "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
                "text/csv": {"schema": {"type": "string"}},
            },
        },
        **error_responses(404, 422),
    },
)
def export(
    *,
    keeper: KeeperDep,
    export_format: Annotated[
        ExportFormat, Query(alias="format", description="json or csv (Prometheus: /metrics).")
    ] = ExportFormat.JSON,
    tool: Annotated[str | None, Query(description="Only this tool.")] = None,
    since: Annotated[
        str | None,
        Query(
            description="Operations finished at or after (ISO 8601 or 1h).",
            json_schema_extra=MOMENT_SCHEMA,
        ),
    ] = None,
) -> Response:
    """Export every stored operation (of every process, oldest first).

    JSON and CSV are streamed from the store page by page: every matching
    operation, without a cap, in bounded memory. This process's own operations
    are flushed to the store first.
    """
    if tool is not None:
        require_tool(keeper, tool)
    start = parse_moment(since, name="since", now=keeper.clock.now())
    keeper.flush()
    records = iter_stored_operations(keeper.store, tool=tool, since=start)
    if export_format is ExportFormat.CSV:
        headers = {"Content-Disposition": 'attachment; filename="toolkeeper-operations.csv"'}
        return StreamingResponse(
            iter_csv(records), media_type=_MEDIA[export_format], headers=headers
        )
    return StreamingResponse(iter_json(records), media_type=_MEDIA[export_format])
