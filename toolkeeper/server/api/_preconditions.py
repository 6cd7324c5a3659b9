"""The preconditions of a configuration change: the version it is based on, and its reason.

``GET`` answers with ``ETag: "<version>"``; a change must send it back in
``If-Match`` (428 without it, 400 when it is not one version) and say why in
``X-Change-Reason`` or ``?reason=`` (422 without).
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Header, Query

from toolkeeper.server.errors import ApiError

__all__ = ["ChangeReason", "IfMatch", "ReasonQuery", "change_reason", "etag", "expected_version"]

IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description='The version you read, as its ETag: "3".',
        json_schema_extra={"pattern": r'^"[0-9]{1,9}"$'},
    ),
]
ChangeReason = Annotated[
    str | None, Header(alias="X-Change-Reason", description="Why (or use ?reason=).")
]
ReasonQuery = Annotated[str | None, Query(description="Why (or use X-Change-Reason).")]

_ETAG = re.compile(r'^\s*"?(\d{1,9})"?\s*$')
_MAX_REASON = 2000


def etag(version: int) -> str:
    """Return the ETag of a configuration version."""
    return f'"{version}"'


def expected_version(if_match: str | None) -> int:
    """Return the version named by ``If-Match``; 428 when it is missing, 400 when malformed."""
    if if_match is None or not if_match.strip():
        raise ApiError(
            428,
            "precondition_required",
            "send If-Match with the version you read: the ETag of GET /api/v1/config/{tool}, "
            'such as "3"',
        )
    match = _ETAG.match(if_match)
    if match is None:
        raise ApiError(
            400,
            "invalid_if_match",
            f'If-Match must be one version as an ETag, such as "3"; got {if_match[:40]!r}',
        )
    return int(match.group(1))


def change_reason(header: str | None, query: str | None) -> str:
    """Return the reason for a change; 422 when none was given or it is too long."""
    reason = (_utf8(header) if header else query or "").strip()
    if not reason or len(reason) > _MAX_REASON:
        rule = "is required" if not reason else f"must be at most {_MAX_REASON} characters"
        raise ApiError(
            422,
            "invalid_reason",
            f"a change's reason {rule}: send X-Change-Reason or ?reason=",
            details={"issues": [{"path": "reason", "rule": rule}]},
        )
    return reason


def _utf8(header: str) -> str:
    """Return a header's text as UTF-8 when its bytes are (HTTP hands headers over as Latin-1)."""
    try:
        return header.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return header
