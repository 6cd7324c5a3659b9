"""``/api/v1/config``: read a tool's configuration (masked), change it, see its history, roll back.

Changes follow HTTP's optimistic concurrency: ``GET`` answers with the version
as ``ETag: "<version>"``; ``PATCH`` (a JSON merge patch of fields, ``null``
removing a runtime override) and ``POST .../rollback`` must send it back in
``If-Match`` (428 without, 409 when another change came first). Every change
needs a reason (``X-Change-Reason`` or ``?reason=``); the actor is the
token's name and the source ``api``. Only admins change configuration.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from toolkeeper.config.live import ConfigVersion
from toolkeeper.keeper import Keeper
from toolkeeper.server.api._body import MERGE_PATCH, apply_merge_patch, read_json_object
from toolkeeper.server.api._preconditions import (
    ChangeReason,
    IfMatch,
    ReasonQuery,
    change_parameters,
    change_reason,
    etag,
    expected_version,
)
from toolkeeper.server.api._shared import KeeperDep
from toolkeeper.server.api.config_models import (
    ConfigChange,
    ConfigDiff,
    ConfigHistory,
    ConfigOverview,
    ConfigToolSummary,
    ConfigVersionEntry,
    RollbackRequest,
    ToolConfig,
    tool_config,
)
from toolkeeper.server.auth import Admin
from toolkeeper.server.errors import error_responses

__all__ = ["router"]

router = APIRouter(prefix="/config", tags=["config"])

ToolName = Annotated[str, Path(description="A configured tool's name.")]
_CHANGE_ERRORS = error_responses(400, 403, 404, 409, 413, 415, 422, 428)


def _written(
    keeper: Keeper, tool: str, previous: int, entry: ConfigVersion, response: Response
) -> ConfigChange:
    config = tool_config(keeper.config, tool)
    response.headers["ETag"] = etag(config.version)
    return ConfigChange(
        changed=entry.version != previous,
        previous_version=previous,
        version=config.version,
        entry=ConfigVersionEntry.of(entry) if entry.version != previous else None,
        config=config,
    )


@router.get("", response_model=ConfigOverview, summary="Configured tools and environments")
def overview(keeper: KeeperDep) -> ConfigOverview:
    """Return the configured tools with their versions, the environment served and all others."""
    configuration = keeper.config
    tools = [
        ConfigToolSummary(
            name=name,
            type=type(configuration.get(name)).type_name,
            version=configuration.version(name),
        )
        for name in configuration.tools()
    ]
    return ConfigOverview(
        environment=configuration.environment,
        environments=configuration.environments(),
        tools=tools,
    )


@router.patch(
    "/{tool:path}",
    response_model=ConfigChange,
    summary="Change fields (JSON merge patch)",
    responses=_CHANGE_ERRORS,
    openapi_extra={
        "parameters": change_parameters(),
        "requestBody": {
            "required": True,
            "content": {
                MERGE_PATCH: {
                    "schema": {
                        "type": "object",
                        "additionalProperties": True,
                        "description": "Fields to change; null removes a runtime override.",
                    }
                }
            },
        }
    },
)
async def patch_tool(
    *,
    request: Request,
    response: Response,
    principal: Admin,
    keeper: KeeperDep,
    tool: ToolName,
    if_match: IfMatch = None,
    x_change_reason: ChangeReason = None,
    reason: ReasonQuery = None,
) -> ConfigChange:
    """Apply a JSON merge patch to the tool's runtime values, validated whole; admins only."""
    current = await run_in_threadpool(tool_config, keeper.config, tool)
    expected = expected_version(if_match)
    why = change_reason(x_change_reason, reason)
    patch = await read_json_object(request, media_type=MERGE_PATCH)
    changes = {
        name: apply_merge_patch(current.values.get(name), value)
        if isinstance(value, dict)
        else value
        for name, value in patch.items()
    }

    def write() -> ConfigChange:
        entry = keeper.config.update(
            tool, changes, actor=principal.name, reason=why, source="api", expected_version=expected
        )
        return _written(keeper, tool, expected, entry, response)

    return await run_in_threadpool(write)


@router.get(
    "/{tool:path}/history",
    response_model=ConfigHistory,
    summary="A tool's versions",
    responses=error_responses(404),
)
def history(keeper: KeeperDep, tool: ToolName) -> ConfigHistory:
    """Return every runtime version of the tool, oldest first, with actor, reason and changes."""
    versions = [ConfigVersionEntry.of(v) for v in keeper.config.history(tool)]
    return ConfigHistory(
        tool=tool,
        environment=keeper.config.environment,
        current_version=versions[-1].version if versions else 0,
        versions=versions,
    )


@router.get(
    "/{tool:path}/diff",
    response_model=ConfigDiff,
    summary="Compare two versions",
    responses=error_responses(404, 422),
)
def diff(
    keeper: KeeperDep,
    tool: ToolName,
    from_version: Annotated[int, Query(alias="from", ge=0, le=999_999_999)],
    to_version: Annotated[int, Query(alias="to", ge=0, le=999_999_999)],
) -> ConfigDiff:
    """Return the fields whose effective value differs between two versions (secrets as changed)."""
    changes = keeper.config.diff(tool, from_version, to_version)
    return ConfigDiff(
        tool=tool,
        environment=keeper.config.environment,
        from_version=from_version,
        to_version=to_version,
        changes=changes,
    )


@router.post(
    "/{tool:path}/rollback",
    response_model=ConfigChange,
    summary="Restore an earlier version",
    responses=_CHANGE_ERRORS,
    openapi_extra={
        "parameters": change_parameters(reason=False),  # the reason is in the body
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": RollbackRequest.model_json_schema()}},
        },
    },
)
async def rollback(
    *,
    request: Request,
    response: Response,
    principal: Admin,
    keeper: KeeperDep,
    tool: ToolName,
    if_match: IfMatch = None,
) -> ConfigChange:
    """Make ``to_version``'s values current again as a new version; admins only."""
    await run_in_threadpool(keeper.config.version, tool)  # 404 for an unknown tool first
    expected = expected_version(if_match)
    data = await read_json_object(request, media_type="application/json")
    try:
        body = RollbackRequest.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]
        ) from None
    why = change_reason(None, body.reason)

    def write() -> ConfigChange:
        entry = keeper.config.rollback(
            tool,
            body.to_version,
            actor=principal.name,
            reason=why,
            source="api",
            expected_version=expected,
        )
        return _written(keeper, tool, expected, entry, response)

    return await run_in_threadpool(write)


# Last: ``{tool:path}`` would also match the GET routes above that end in a suffix.
@router.get(
    "/{tool:path}",
    response_model=ToolConfig,
    summary="A tool's configuration, masked",
    responses=error_responses(404, 422),
)
def read_tool(keeper: KeeperDep, tool: ToolName, response: Response) -> ToolConfig:
    """Return every field's value (secrets masked) and origin; the version is also the ETag."""
    config = tool_config(keeper.config, tool)
    response.headers["ETag"] = etag(config.version)
    return config
