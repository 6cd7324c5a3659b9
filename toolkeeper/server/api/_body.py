"""Read request bodies by hand, after authentication, with errors that name the rule broken.

FastAPI would parse a declared body before any dependency runs, so a malformed
body could be judged before the caller is; routes that change state read it here.
JSON merge patch (RFC 7396) is applied here too.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import Request
from pydantic import BeforeValidator

from toolkeeper.server.errors import ApiError

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_DEPTH",
    "MERGE_PATCH",
    "WholeNumber",
    "apply_merge_patch",
    "read_json_object",
]

MERGE_PATCH = "application/merge-patch+json"
MAX_BODY_BYTES = 64 * 1024
#: No configuration value nests deeper than this; deeper bodies are refused before use.
MAX_DEPTH = 32


def _whole_number(value: Any) -> int:
    """Return a JSON integer (``3`` or ``3.0``, as JSON Schema's ``integer`` says) as an int.

    pydantic's lax mode would also take ``true`` and ``"3"``, which the schema refuses.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        # pydantic turns a ValueError into a field error; a TypeError would escape as a 500.
        raise ValueError(f"must be a whole number, not {type(value).__name__}")  # noqa: TRY004
    if isinstance(value, float) and not value.is_integer():
        raise ValueError(f"must be a whole number, not {value!r}")
    return int(value)


WholeNumber = Annotated[int, BeforeValidator(_whole_number)]
"""A body field holding a JSON integer: exactly what ``{"type": "integer"}`` accepts."""


def _depth(value: Any) -> int:
    """Return how deep arrays and objects nest in ``value`` (iteratively: no recursion limit)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: list[Any] = list(item.values())
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level + 1)
        if deepest > MAX_DEPTH:
            return deepest
        stack.extend((child, level + 1) for child in children)
    return deepest


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"{text} is too large for a number")
    return value


async def read_json_object(request: Request, *, media_type: str) -> dict[str, Any]:
    """Return the body as a JSON object, answering 415, 413, 400 or 422 when it is not one."""
    given = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if given != media_type:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"send the body as Content-Type: {media_type} (got {given or 'none'})",
        )
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(413, "body_too_large", f"the body is over {MAX_BODY_BYTES} bytes")
    try:
        data = json.loads(raw, parse_constant=_reject_constant, parse_float=_finite_float)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "invalid_json", f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        raise ApiError(
            400, "invalid_json", f"the body nests arrays or objects more than {MAX_DEPTH} deep"
        ) from None
    if _depth(data) > MAX_DEPTH:
        raise ApiError(
            422,
            "invalid_request",
            f"the body nests arrays or objects more than {MAX_DEPTH} deep",
        )
    if not isinstance(data, dict):
        raise ApiError(
            422, "invalid_request", f"the body must be a JSON object, not {type(data).__name__}"
        )
    return data


def apply_merge_patch(target: Any, patch: Any) -> Any:
    """Return ``target`` with the JSON merge ``patch`` applied (RFC 7396); inputs unchanged."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = apply_merge_patch(merged.get(key), value)
    return merged
