"""One error body for every failure: ``{"error": {"code", "message", "details"}}``.

toolkeeper's own errors map to statuses here, in one table; request validation
errors lose the ``input`` FastAPI would echo (it may be a secret the client
sent); anything unexpected is a 500 that is logged and says nothing more.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from toolkeeper._errors import (
    ConfigError,
    ConfigValidationError,
    SecretError,
    StoreError,
    ToolkeeperError,
    UnknownEnvironmentError,
    UnknownToolError,
    UnknownVersionError,
    VersionConflictError,
)

__all__ = ["ApiError", "ErrorBody", "ErrorDetail", "error_responses", "install_error_handlers"]

log = logging.getLogger("toolkeeper.server")


class ErrorDetail(BaseModel):
    """What went wrong: a stable machine ``code``, a sentence for people, and structured details."""

    code: str
    message: str
    details: dict[str, Any] | None = None


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: ErrorDetail


class ApiError(Exception):
    """An error the API answers with ``status`` and the standard error body."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = dict(headers or {})


_DESCRIPTIONS = {
    400: "The request is malformed.",
    401: "No valid token or session.",
    403: "The token's role may not do this, or the CSRF token is missing.",
    404: "No such tool, version or path.",
    409: "The configuration changed since the version in If-Match, or the alert's state "
    "does not allow this.",
    413: "The body is too large.",
    415: "The body's content type is not accepted.",
    422: "A field or parameter breaks a rule; every problem is listed.",
    428: "If-Match is required.",
    429: "Too many failed sign-ins or bad tokens from this address; see Retry-After.",
    503: "The store cannot be reached.",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Return OpenAPI ``responses`` entries documenting these error statuses."""
    return {
        status: {"model": ErrorBody, "description": _DESCRIPTIONS[status]} for status in statuses
    }


def error_response(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """Return a JSON response carrying the standard error body."""
    body = ErrorBody(error=ErrorDetail(code=code, message=message, details=details))
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)


def _details(exc: ToolkeeperError) -> dict[str, Any] | None:
    """Return the structured details of the toolkeeper errors that carry any."""
    if isinstance(exc, UnknownToolError):
        return {"tool": exc.name, "known_tools": list(exc.known)}
    if isinstance(exc, UnknownVersionError):
        return {"tool": exc.tool, "version": exc.version, "latest_version": exc.latest}
    if isinstance(exc, VersionConflictError):
        return {"tool": exc.tool, "expected_version": exc.expected, "current_version": exc.actual}
    if isinstance(exc, ConfigValidationError):
        return {"issues": [_issue(i.path, i.rule, i.value, i.has_value) for i in exc.issues]}
    if isinstance(exc, UnknownEnvironmentError):
        return {"known": list(exc.known)}
    return None


#: Status and code per toolkeeper error, most specific first.
_STATUSES: tuple[tuple[type[ToolkeeperError], int, str], ...] = (
    (UnknownToolError, 404, "unknown_tool"),
    (UnknownVersionError, 404, "unknown_version"),
    (UnknownEnvironmentError, 404, "unknown_environment"),
    (VersionConflictError, 409, "version_conflict"),
    (ConfigValidationError, 422, "invalid_config"),
    (SecretError, 422, "secret_error"),
    (ConfigError, 422, "config_error"),
    (StoreError, 503, "store_unavailable"),
)


def _from_toolkeeper(exc: ToolkeeperError) -> ApiError:
    """Translate a toolkeeper error into its HTTP answer (its message never holds a secret)."""
    status, code = next(
        ((status, code) for kind, status, code in _STATUSES if isinstance(exc, kind)),
        (500, "internal_error"),
    )
    message = str(exc)
    if isinstance(exc, ConfigValidationError):
        count = len(exc.issues)
        message = f"{count} configuration problem{'s' if count != 1 else ''}; nothing was saved"
    elif status >= 500:
        # A store's or driver's words are for the log, not the client.
        message = {503: "the store cannot be reached; try again shortly"}.get(
            status, "the server failed to handle the request"
        )
    headers = {"ETag": f'"{exc.actual}"'} if isinstance(exc, VersionConflictError) else None
    return ApiError(status, code, message, details=_details(exc), headers=headers)


def _issue(path: str, rule: str, value: Any, has_value: bool) -> dict[str, Any]:
    data: dict[str, Any] = {"path": path, "rule": rule}
    if has_value:
        data["value"] = value
    return data


def allowed_methods(request: Request) -> str:
    """Return every method some route serves at the request's path, for ``Allow``.

    Starlette names only the first route that matched the path; a path served by
    several routes (GET and PATCH declared apart) must list them all.
    """
    methods: set[str] = set()
    for route in request.app.router.routes:
        route_methods = getattr(route, "methods", None)
        if route_methods and route.matches(request.scope)[0] is not Match.NONE:
            methods.update(route_methods)
    return ", ".join(sorted(methods))


def install_error_handlers(app: FastAPI) -> None:
    """Make every error, expected or not, answer with the standard body."""

    async def api_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)

    async def toolkeeper_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ToolkeeperError)
        translated = _from_toolkeeper(exc)
        if translated.status >= 500:
            log.error("%s %s failed: %s", request.method, request.url.path, exc)
        return await api_error(request, translated)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        phrase = HTTPStatus(exc.status_code).phrase
        code = phrase.lower().replace(" ", "_").replace("-", "_")
        message = exc.detail if isinstance(exc.detail, str) else phrase
        headers = exc.headers
        if exc.status_code == HTTPStatus.METHOD_NOT_ALLOWED:
            headers = {**(headers or {}), "Allow": allowed_methods(request)}
        return error_response(exc.status_code, code, message, headers=headers)

    async def validation_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {
                "loc": [str(part) for part in error.get("loc", ())],
                "msg": error.get("msg", ""),
                "type": error.get("type", ""),
            }
            for error in exc.errors()
        ]
        where = ", ".join(".".join(error["loc"]) for error in errors) or "the request"
        return error_response(422, "invalid_request", f"invalid {where}", {"errors": errors})

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return error_response(500, "internal_error", "the server failed to handle the request")

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(ToolkeeperError, toolkeeper_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, unexpected)
