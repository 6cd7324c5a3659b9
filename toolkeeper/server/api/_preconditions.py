"""The preconditions of a configuration change: the version it is based on, and its reason.

``GET`` answers with ``ETag: "<version>"``; a change must send it back in
``If-Match`` (428 without it, 400 when it is not one version) and say why in
``X-Change-Reason`` (422 without). A form may say why in ``?reason=`` instead; the
schema names the header only, since OpenAPI cannot say "one of these two".

The parameters are read by hand (so a missing one gets its own status and words)
and declared by :func:`change_parameters`, which says exactly what is accepted.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import Header, Query

from toolkeeper._text import unstorable
from toolkeeper.server.errors import ApiError

__all__ = [
    "MAX_REASON",
    "ChangeReason",
    "IfMatch",
    "ReasonQuery",
    "change_parameters",
    "change_reason",
    "etag",
    "expected_version",
]

IF_MATCH_PATTERN = r'^"[0-9]{1,9}"$'
#: A reason header: something besides spaces and tabs (HTTP trims those around a value).
REASON_HEADER_PATTERN = r"\S"
MAX_REASON = 2000

IfMatch = Annotated[str | None, Header(alias="If-Match", include_in_schema=False)]
ChangeReason = Annotated[str | None, Header(alias="X-Change-Reason", include_in_schema=False)]
ReasonQuery = Annotated[str | None, Query(include_in_schema=False)]

_ETAG = re.compile(IF_MATCH_PATTERN)


def change_parameters(*, if_match: bool = True, reason: bool = True) -> list[dict[str, Any]]:
    """Return the OpenAPI parameters of a change: ``If-Match`` and ``X-Change-Reason``, required."""
    parameters: list[dict[str, Any]] = []
    if if_match:
        parameters.append({
            "name": "If-Match", "in": "header", "required": True,
            "description": 'The version you read, as its ETag: "3". 428 without it; 409 when '
            "another change came first.",
            "schema": {"type": "string", "pattern": IF_MATCH_PATTERN},
        })  # fmt: skip
    if reason:
        parameters.append({
            "name": "X-Change-Reason", "in": "header", "required": True,
            "description": "Why, kept with the version (UTF-8 bytes are read as UTF-8). An HTML "
            "form may send ?reason= instead.",
            "schema": {"type": "string", "minLength": 1, "maxLength": MAX_REASON,
                       "pattern": REASON_HEADER_PATTERN},
        })  # fmt: skip
    return parameters


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
    match = _ETAG.match(if_match.strip())
    if match is None:
        raise ApiError(
            400,
            "invalid_if_match",
            f'If-Match must be one version as an ETag, such as "3"; got {if_match[:40]!r}',
        )
    return int(match.group(0).strip('"'))


def change_reason(header: str | None, query: str | None) -> str:
    """Return the reason for a change; 422 when none was given, it is too long or unstorable.

    The header's limits apply to it as sent (as its schema says); its UTF-8 reading is
    what is kept, unless that reading is blank (then the text as sent).
    """
    given = header if header else query or ""
    rule: str | None = None
    if not given.strip():
        rule = "is required"
    elif len(given) > MAX_REASON:
        rule = f"must be at most {MAX_REASON} characters"
    elif (problem := unstorable(given)) is not None:
        rule = f"{problem}; only storable text is accepted"
    if rule is not None:
        raise ApiError(
            422,
            "invalid_reason",
            f"a change's reason {rule}: send X-Change-Reason or ?reason=",
            details={"issues": [{"path": "reason", "rule": rule}]},
        )
    return (_utf8(given) if header else given).strip() or given.strip()


def _utf8(header: str) -> str:
    """Return a header's text as UTF-8 when its bytes are (HTTP hands headers over as Latin-1)."""
    try:
        return header.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return header
