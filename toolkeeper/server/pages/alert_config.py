"""``/alerts`` forms changing alerting's runtime configuration: notifiers and rollback (admins).

Each change is a new version with the signed-in admin as its author and the
reason typed in the form, compare-and-set on the version the page showed (a
stale page is told so, nothing is stored). A notifier's URLs are secrets: the
form's fields are write-only (the page shows only masked values) and what is
stored is a reference or ``enc:`` ciphertext
(:mod:`toolkeeper.alerts.notifier_secrets`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from toolkeeper._errors import ConfigValidationError, UnknownVersionError, VersionConflictError
from toolkeeper.alerts.runtime import RuntimeAlerts
from toolkeeper.keeper import Keeper
from toolkeeper.server.api._shared import KeeperDep
from toolkeeper.server.auth import Principal
from toolkeeper.server.pages._access import AdminPage, check_form_csrf
from toolkeeper.server.pages._render import base_path, render
from toolkeeper.server.pages.alerts import Csrf, _context

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

Version = Annotated[int, Form(ge=0, le=2**31 - 1)]
Reason = Annotated[str, Form(max_length=2000)]
Name = Annotated[str, Form(max_length=200)]


def _runtime(keeper: Keeper) -> RuntimeAlerts:
    runtime = keeper.alerts.config
    assert runtime is not None  # a served keeper's alerting is always editable
    return runtime


def _stored(
    request: Request, principal: Principal, keeper: Keeper, change: Callable[[], int]
) -> Response:
    """Run ``change``; redirect to the page's versions, or show why nothing was stored."""
    try:
        version = change()
    except (ConfigValidationError, VersionConflictError, UnknownVersionError, ValueError) as exc:
        context = _context(keeper, principal)
        issues = getattr(exc, "issues", None)
        context["config_error"] = (
            [str(issue) for issue in issues] if issues else [str(exc).splitlines()[0]]
        )
        status = 409 if isinstance(exc, VersionConflictError) else 422
        return render(request, "alerts.html", context, principal=principal, status_code=status)
    target = f"{base_path(request)}/alerts?config={version}#config-title"
    return RedirectResponse(target, status_code=303)


@router.post("/alerts/notifiers", response_class=HTMLResponse)
def set_notifier(
    *, request: Request, principal: AdminPage, keeper: KeeperDep, csrf: Csrf = None,
    version: Version, name: Name = "", reason: Reason = "",
    urls: Annotated[str, Form(max_length=20_000)] = "",
    webhook: Annotated[str, Form(max_length=4000)] = "",
    secret: Annotated[str, Form(max_length=4000)] = "",
) -> Response:  # fmt: skip
    """Add or replace one notifier (URLs one a line), keeping the others; a new version."""
    check_form_csrf(request, principal, csrf)
    entry: dict[str, Any] = {}
    listed = [line.strip() for line in urls.splitlines() if line.strip()]
    if listed:
        entry["urls"] = listed
    if webhook.strip():
        entry["webhook"] = webhook.strip()
    if secret:
        entry["secret"] = secret
    runtime = _runtime(keeper)

    def change() -> int:
        notifiers = _notifiers(runtime, version)
        return runtime.update(
            {"notifiers": {**notifiers, name.strip(): entry}}, actor=principal.name,
            reason=reason, expected_version=version, source="ui",
        ).version  # fmt: skip

    return _stored(request, principal, keeper, change)


@router.post("/alerts/notifiers/remove", response_class=HTMLResponse)
def remove_notifier(
    *, request: Request, principal: AdminPage, keeper: KeeperDep, csrf: Csrf = None,
    version: Version, name: Name = "", reason: Reason = "",
) -> Response:  # fmt: skip
    """Remove one notifier as a new version (rules naming it must be changed first)."""
    check_form_csrf(request, principal, csrf)
    runtime = _runtime(keeper)

    def change() -> int:
        notifiers = _notifiers(runtime, version)
        if name not in notifiers:
            raise ValueError(f"there is no notifier {name!r}")
        kept = {key: value for key, value in notifiers.items() if key != name}
        return runtime.update({"notifiers": kept}, actor=principal.name, reason=reason,
                              expected_version=version, source="ui").version  # fmt: skip

    return _stored(request, principal, keeper, change)


@router.post("/alerts/config/rollback", response_class=HTMLResponse)
def rollback(
    *, request: Request, principal: AdminPage, keeper: KeeperDep, csrf: Csrf = None,
    to_version: Version, reason: Reason = "",
) -> Response:  # fmt: skip
    """Store an old version's document again as a new version."""
    check_form_csrf(request, principal, csrf)
    runtime = _runtime(keeper)
    return _stored(
        request, principal, keeper,
        lambda: runtime.rollback(to_version=to_version, actor=principal.name, reason=reason,
                                 source="ui").version,
    )  # fmt: skip


def _notifiers(runtime: RuntimeAlerts, version: int) -> dict[str, Any]:
    """Return the notifiers (as stored) of the version in force, if it is the one the page read."""
    current = runtime.current()
    if current.version != version:
        raise VersionConflictError("(alerts)", version, current.version)
    found = current.document.get("notifiers", {})
    return dict(found) if isinstance(found, dict) else {}
