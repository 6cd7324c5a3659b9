"""``/config`` (admins): see where each value comes from, edit, preview, save, roll back.

Every change goes edit → preview (the diff, secrets only as "changed") → save
with a reason, and is made as the signed-in token's name from source ``ui``.
The version the form was rendered from travels with it: if another change came
first, nothing is saved and the page says so. ``?env=`` selects the environment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from toolkeeper._errors import (
    ConfigError,
    UnknownEnvironmentError,
    UnknownToolError,
    UnknownVersionError,
    VersionConflictError,
)
from toolkeeper.config.live import Configuration
from toolkeeper.keeper import Keeper
from toolkeeper.server.api._shared import KeeperDep
from toolkeeper.server.auth import Principal
from toolkeeper.server.pages._access import AdminPage, check_form_csrf
from toolkeeper.server.pages._config_form import FORM_ERRORS, dry_run, field_specs, parse_form
from toolkeeper.server.pages._config_view import configuration_for, page_context
from toolkeeper.server.pages._render import base_path, render
from toolkeeper.server.pages._sealed import PendingChange, open_sealed, seal
from toolkeeper.server.sessions import CSRF_FIELD

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

Env = Annotated[str | None, Query(alias="env", max_length=200)]
Csrf = Annotated[str | None, Form(alias=CSRF_FIELD)]
Reason = Annotated[str, Form(max_length=2000)]
_MISSING = (UnknownToolError, UnknownEnvironmentError, UnknownVersionError)


@dataclass(frozen=True, slots=True)
class _Scope:
    """One request on one tool of one environment's configuration, by a signed-in admin."""

    request: Request
    principal: Principal
    configuration: Configuration
    tool: str | None

    def page(self, *, status_code: int = 200, **context: Any) -> HTMLResponse:
        form = context.pop("form", {})
        full = {**page_context(self.configuration, self.tool, **form), **context}
        return render(
            self.request, "config.html", full, principal=self.principal, status_code=status_code
        )

    def conflict(self, exc: VersionConflictError) -> HTMLResponse:
        message = (
            f"Not saved: {exc.tool} changed while you were editing. Your form was based on "
            f"version {exc.expected}; it is now version {exc.actual}. The values below are the "
            "current ones: review them and make your change again."
        )
        return self.page(status_code=409, conflict=message)

    def back(self, **flash: int) -> Response:
        query = urlencode({"env": self.configuration.environment, "tool": self.tool, **flash})
        return RedirectResponse(f"{base_path(self.request)}/config?{query}", status_code=303)


def _missing(request: Request, principal: Principal, exc: Exception) -> HTMLResponse:
    known: dict[str, Any] = {}
    if isinstance(exc, UnknownToolError):
        known["known_tools"] = list(exc.known)
    if isinstance(exc, UnknownEnvironmentError):
        known["known_environments"] = list(exc.known)
    return render(
        request, "not_found.html", {"what": str(exc), **known}, principal=principal, status_code=404
    )


def _scope(
    request: Request, principal: Principal, keeper: Keeper, *, env: str | None, tool: str | None
) -> _Scope:
    configuration = configuration_for(keeper, env)
    if tool is None:
        tool = next(iter(configuration.tools()), None)
    elif tool not in configuration.tools():
        raise UnknownToolError(tool, configuration.tools())
    return _Scope(request, principal, configuration, tool)


@router.get("/config", response_class=HTMLResponse)
def config_page(
    *, request: Request, principal: AdminPage, keeper: KeeperDep, env: Env = None,
    tool: Annotated[str | None, Query(max_length=200)] = None,
    saved: int | None = None, rolled_back: int | None = None,
) -> HTMLResponse:  # fmt: skip
    """Render the configuration of one tool in one environment, its history and its form."""
    try:
        scope = _scope(request, principal, keeper, env=env, tool=tool)
    except _MISSING as exc:
        return _missing(request, principal, exc)
    return scope.page(saved=saved, rolled_back=rolled_back)


def _preview(scope: _Scope, form: dict[str, str]) -> Response:
    configuration, tool = scope.configuration, scope.tool
    assert tool is not None
    check_form_csrf(scope.request, scope.principal, form.get(CSRF_FIELD))
    expected = int(form["version"]) if form.get("version", "").isdigit() else -1
    current = configuration.version(tool)
    if expected != current:
        return scope.conflict(VersionConflictError(tool, expected, current))
    specs = field_specs(type(configuration.get(tool)))
    values = {row["field"]: row["value"] for row in configuration.explain(tool)}
    changes, submitted = parse_form(specs, form, values)
    diff, storable, errors = dry_run(configuration, tool, changes)
    if errors:
        form_state = {"submitted": submitted, "errors": errors, "form_version": expected}
        return scope.page(status_code=422, form=form_state)
    if not changes:
        return scope.page(nothing_changed=True)
    pending = PendingChange(
        tool=tool, environment=configuration.environment, version=current, changes=storable,
        token_id=scope.principal.token_id,
    )  # fmt: skip
    return _render_preview(scope, pending, diff, sealed=seal(scope.request, pending))


def _render_preview(
    scope: _Scope, pending: PendingChange, diff: list[dict[str, Any]], *, sealed: str,
    reason_error: str | None = None,
) -> HTMLResponse:  # fmt: skip
    context = {
        "tool": pending.tool, "environment": pending.environment, "version": pending.version,
        "diff": diff, "sealed": sealed, "reason_error": reason_error,
    }  # fmt: skip
    status = 422 if reason_error else 200
    return render(
        scope.request, "config_preview.html", context, principal=scope.principal,
        status_code=status,
    )  # fmt: skip


@router.post("/config/{tool:path}/preview", response_class=HTMLResponse)
async def preview(
    *, request: Request, tool: str, principal: AdminPage, keeper: KeeperDep, env: Env = None
) -> Response:
    """Check the edited values without saving: the errors beside their fields, or the diff."""
    form = {key: value for key, value in (await request.form()).items() if isinstance(value, str)}
    try:
        scope = await run_in_threadpool(_scope, request, principal, keeper, env=env, tool=tool)
        return await run_in_threadpool(_preview, scope, form)
    except _MISSING as exc:
        return _missing(request, principal, exc)


def _save(scope: _Scope, sealed: str, reason: str) -> Response:
    configuration, tool = scope.configuration, scope.tool
    assert tool is not None
    pending = open_sealed(scope.request, sealed, token_id=scope.principal.token_id)
    if pending is None or (pending.tool, pending.environment) != (tool, configuration.environment):
        return scope.page(status_code=400, expired=True)
    if not reason.strip():
        diff, _, _ = dry_run(configuration, tool, pending.changes)
        why = "Say why you make this change: it is kept in the history."
        return _render_preview(scope, pending, diff, sealed=sealed, reason_error=why)
    try:
        entry = configuration.update(
            tool, pending.changes, actor=scope.principal.name, reason=reason.strip(),
            source="ui", expected_version=pending.version,
        )  # fmt: skip
    except VersionConflictError as exc:
        return scope.conflict(exc)
    except ConfigError as exc:
        return scope.page(status_code=422, form={"errors": {FORM_ERRORS: [str(exc)]}})
    return scope.back(saved=entry.version)


@router.post("/config/{tool:path}/save", response_class=HTMLResponse)
def save(
    *, request: Request, tool: str, principal: AdminPage, keeper: KeeperDep,
    change: Annotated[str, Form(max_length=100_000)], csrf: Csrf = None, reason: Reason = "",
    env: Env = None,
) -> Response:  # fmt: skip
    """Save a previewed change as a new version, with the signed-in token as actor."""
    check_form_csrf(request, principal, csrf)
    try:
        return _save(_scope(request, principal, keeper, env=env, tool=tool), change, reason)
    except _MISSING as exc:
        return _missing(request, principal, exc)


def _rollback(
    scope: _Scope, *, version: int, to_version: int, reason: str, confirmed: bool
) -> Response:
    assert scope.tool is not None
    if not reason.strip():
        errors = {"rollback": [f"Say why you roll back to version {to_version}."]}
        return scope.page(status_code=422, form={"errors": errors})
    if not confirmed:  # first show what would change, and ask again
        try:
            diff = scope.configuration.diff(scope.tool, version, to_version)
        except UnknownVersionError as exc:
            return _missing(scope.request, scope.principal, exc)
        context = {
            "tool": scope.tool, "environment": scope.configuration.environment,
            "version": version, "to_version": to_version, "reason": reason.strip(), "diff": diff,
        }  # fmt: skip
        return render(scope.request, "config_rollback.html", context, principal=scope.principal)
    try:
        entry = scope.configuration.rollback(
            scope.tool, to_version, actor=scope.principal.name, reason=reason.strip(),
            source="ui", expected_version=version,
        )  # fmt: skip
    except VersionConflictError as exc:
        return scope.conflict(exc)
    return scope.back(rolled_back=entry.version)


@router.post("/config/{tool:path}/rollback", response_class=HTMLResponse)
def rollback(
    *, request: Request, tool: str, principal: AdminPage, keeper: KeeperDep,
    version: Annotated[int, Form()], to_version: Annotated[int, Form(ge=0)], csrf: Csrf = None,
    reason: Reason = "", confirm: Annotated[str, Form(max_length=10)] = "", env: Env = None,
) -> Response:  # fmt: skip
    """Make an earlier version current again, as a new version; needs a reason and a confirmation.

    Without ``confirm=yes`` it only shows what the rollback would change, and asks.
    """
    check_form_csrf(request, principal, csrf)
    try:
        scope = _scope(request, principal, keeper, env=env, tool=tool)
        return _rollback(
            scope, version=version, to_version=to_version, reason=reason,
            confirmed=confirm == "yes",
        )  # fmt: skip
    except _MISSING as exc:
        return _missing(request, principal, exc)


@router.get("/config/{tool:path}/diff", response_class=HTMLResponse)
def diff_page(
    *, request: Request, tool: str, principal: AdminPage, keeper: KeeperDep, env: Env = None,
    from_version: Annotated[int, Query(alias="from", ge=0)] = 0,
    to_version: Annotated[int | None, Query(alias="to", ge=0)] = None,
) -> HTMLResponse:  # fmt: skip
    """Show what differs between any two versions of a tool (``to`` defaults to the current)."""
    try:
        scope = _scope(request, principal, keeper, env=env, tool=tool)
        assert scope.tool is not None
        configuration = scope.configuration
        newer = configuration.version(scope.tool) if to_version is None else to_version
        diff = configuration.diff(scope.tool, from_version, newer)
    except _MISSING as exc:
        return _missing(request, principal, exc)
    context = {
        "tool": scope.tool, "environment": configuration.environment, "from_version": from_version,
        "to_version": newer, "current": configuration.version(scope.tool), "diff": diff,
    }  # fmt: skip
    return render(request, "config_diff.html", context, principal=principal)
