"""``/api/v1/alerts/config``: alerting's runtime configuration, its versions, diff and rollback.

Everyone signed in reads; admins change it. A change sends the version it is
based on in ``If-Match`` (409 when stale) and why in ``X-Change-Reason``; its
body is an object of runtime keys (``rules``, ``policy``, ``inhibit``,
``time_intervals``, ``escalations``, ``schedules``), written as in the file.
Every process sharing the store takes a new version at its next pass.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from toolkeeper.alerts.runtime import AlertConfigVersion, RuntimeAlerts
from toolkeeper.alerts.settings import (
    NOTIFIER_NAME_PATTERN,
    NOTIFIER_URL_PATTERN,
    WEBHOOK_PATTERN,
)
from toolkeeper.server.api._body import WholeNumber, read_json_object
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
from toolkeeper.server.auth import Admin
from toolkeeper.server.errors import ApiError, error_responses

__all__ = ["AlertConfigEntry", "AlertConfigHistory", "RollbackRequest", "router"]

router = APIRouter(prefix="/alerts/config", tags=["alerts"])


class AlertConfigEntry(BaseModel):
    """One version of alerting's runtime configuration; version 0 is the file's."""

    model_config = ConfigDict(extra="ignore")

    version: int
    document: dict[str, Any]
    actor: str
    reason: str
    source: str
    created_at: str | None

    @classmethod
    def of(cls, version: AlertConfigVersion) -> AlertConfigEntry:
        """Return the entry of a version."""
        return cls.model_validate(version.to_dict())


class AlertConfigHistory(BaseModel):
    """Versions, newest first."""

    versions: list[AlertConfigEntry]


class AlertConfigDiff(BaseModel):
    """What changed between two versions."""

    from_version: int
    to_version: int
    changes: list[dict[str, Any]]


#: One notifier: Apprise URLs and/or a signed webhook with the key that signs it. The
#: patterns are the ones the settings apply, so a body the schema takes is taken.
NOTIFIER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "urls": {
            "type": "array",
            "items": {"type": "string", "pattern": NOTIFIER_URL_PATTERN},
            "description": "Apprise URLs, or env:NAME / file:/path / enc: references.",
        },
        "webhook": {
            "type": "string", "pattern": WEBHOOK_PATTERN,
            "description": "An http(s) address receiving signed JSON (or a reference).",
        },
        "secret": {
            "type": "string", "minLength": 1,
            "description": "The key signing the webhook (HMAC-SHA256), or a reference.",
        },
    },
    "anyOf": [
        {
            "required": ["urls"],
            "properties": {"urls": {"minItems": 1}},
            "not": {"anyOf": [{"required": ["webhook"]}, {"required": ["secret"]}]},
        },
        {"required": ["webhook", "secret"]},
    ],
}  # fmt: skip

#: The body of a change: some of the runtime keys, each as in the file's ``[alerts]``.
#: What each value may hold is checked whole (one 422 naming every problem).
UPDATE_BODY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "description": "Some of the runtime keys of [alerts], written as in the file; keys left "
    "out keep their values.",
    "properties": {
        "rules": {"type": "array", "items": {"type": "object"}, "description": "[[alerts.rules]]"},
        "policy": {"type": "object", "description": "[alerts.policy]: the routing tree."},
        "inhibit": {"type": "array", "items": {"type": "object"}},
        "time_intervals": {"type": "object"},
        "escalations": {"type": "object"},
        "schedules": {"type": "object"},
        "notifiers": {
            "type": "object",
            "description": "[alerts.notifiers]: every notifier, by name (it replaces the "
            "file's). URLs are secrets: stored as env:/file: references or encrypted (enc:), "
            "shown masked; a masked value sent back as read keeps the stored one.",
            "propertyNames": {"pattern": NOTIFIER_NAME_PATTERN},
            "additionalProperties": NOTIFIER_SCHEMA,
        },
    },
}


class RollbackRequest(BaseModel):
    """Store an old version's document again as a new version."""

    model_config = ConfigDict(extra="forbid")

    to_version: WholeNumber = Field(ge=0, le=2**31 - 1)


def _runtime(keeper: Any) -> RuntimeAlerts:
    runtime = keeper.alerts.config
    if runtime is None:
        raise ApiError(404, "no_runtime_config", "this keeper's alerting is not editable")
    assert isinstance(runtime, RuntimeAlerts)
    return runtime


@router.get(
    "",
    response_model=AlertConfigEntry,
    summary="Alerting's runtime configuration",
    responses=error_responses(404),
)
def current(keeper: KeeperDep, response: Response) -> AlertConfigEntry:
    """Return the version in force (its number also as the ETag)."""
    version = _runtime(keeper).current()
    response.headers["ETag"] = etag(version.version)
    return AlertConfigEntry.of(version)


@router.put(
    "",
    response_model=AlertConfigEntry,
    summary="Change alerting's runtime configuration",
    responses=error_responses(400, 403, 409, 413, 415, 422, 428),
    openapi_extra={
        "parameters": change_parameters(),
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": UPDATE_BODY_SCHEMA}},
        },
    },
)
async def update(
    request: Request,
    *,
    response: Response,
    principal: Admin,
    keeper: KeeperDep,
    if_match: IfMatch = None,
    reason_header: ChangeReason = None,
    reason: ReasonQuery = None,
) -> AlertConfigEntry:
    """Store the body's runtime keys as the next version; admins only."""
    expected = expected_version(if_match)
    why = change_reason(reason_header, reason)
    data = await read_json_object(request, media_type="application/json")
    runtime = _runtime(keeper)
    version = await run_in_threadpool(
        lambda: runtime.update(
            data, actor=principal.name, reason=why, expected_version=expected, source="api"
        )
    )
    response.headers["ETag"] = etag(version.version)
    return AlertConfigEntry.of(version)


@router.get(
    "/history",
    response_model=AlertConfigHistory,
    summary="Alerting's versions",
    responses=error_responses(404, 422),
)
def history(
    keeper: KeeperDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="How many, newest first.")] = 50,
) -> AlertConfigHistory:
    """Return the versions, newest first, with who, when, why and from where."""
    found = _runtime(keeper).history(limit)
    return AlertConfigHistory(versions=[AlertConfigEntry.of(version) for version in found])


@router.get(
    "/diff",
    response_model=AlertConfigDiff,
    summary="Compare two versions",
    responses=error_responses(404, 422),
)
def diff(
    keeper: KeeperDep,
    from_version: Annotated[int, Query(alias="from", ge=0, le=2**31 - 1)],
    to_version: Annotated[int, Query(alias="to", ge=0, le=2**31 - 1)],
) -> AlertConfigDiff:
    """Return each change from one version to another (rules named by their names)."""
    changes = _runtime(keeper).diff(from_version, to_version)
    return AlertConfigDiff(from_version=from_version, to_version=to_version, changes=changes)


@router.post(
    "/rollback",
    response_model=AlertConfigEntry,
    summary="Roll back alerting's configuration",
    responses=error_responses(400, 403, 404, 409, 413, 415, 422),
    openapi_extra={
        "parameters": change_parameters(if_match=False),
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": RollbackRequest.model_json_schema()}},
        },
    },
)
async def rollback(
    request: Request,
    principal: Admin,
    keeper: KeeperDep,
    reason_header: ChangeReason = None,
    reason: ReasonQuery = None,
) -> AlertConfigEntry:
    """Store an old version's document as a new version; admins only."""
    why = change_reason(reason_header, reason)
    data = await read_json_object(request, media_type="application/json")
    try:
        body = RollbackRequest.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]
        ) from None
    runtime = _runtime(keeper)
    version = await run_in_threadpool(
        lambda: runtime.rollback(
            to_version=body.to_version, actor=principal.name, reason=why, source="api"
        )
    )
    return AlertConfigEntry.of(version)
