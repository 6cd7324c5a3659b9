"""Render pages: one Jinja2 environment, the layout's context, and the headers every page sends.

Templates autoescape everything; a page's context never holds a secret, only
values the configuration layer already masked.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from toolkeeper._units import format_money
from toolkeeper.monitor.buckets import failed_attempt
from toolkeeper.server.auth import Principal
from toolkeeper.server.sessions import CSRF_FIELD, csrf_token
from toolkeeper.server.tokens import Role

__all__ = ["PAGE_HEADERS", "base_path", "render", "templates"]

_HERE = Path(__file__).resolve().parent.parent
templates = Jinja2Templates(directory=_HERE / "templates")

#: Scripts and styles come from this server only; nothing inline, nothing framed, nothing cached.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
        "object-src 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
}


def base_path(request: Request) -> str:
    """Return the path the app is mounted at ("" at the root), to prefix every link with."""
    return str(request.scope.get("root_path", "")).rstrip("/")


DASH = "\u2013"  # shown for a figure that does not exist (no operations yet)


def _number(value: float | None, digits: int = 0) -> str:
    return DASH if value is None else f"{value:,.{digits}f}"


def _percent(value: float | None) -> str:
    return DASH if value is None else f"{value * 100:.1f}%"


def _usd(value: Decimal | float | str | None) -> str:
    return format_money(value, missing=DASH)


def _moment(value: datetime | str | None) -> str:
    if value is None:
        return DASH
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


templates.env.filters.update(number=_number, percent=_percent, usd=_usd, moment=_moment)
templates.env.tests["failed_attempt"] = failed_attempt


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    principal: Principal | None,
    status_code: int = 200,
) -> HTMLResponse:
    """Render ``template`` inside the layout: navigation, the signed-in name and the CSRF token."""
    full = {
        "base": base_path(request),
        "principal": principal,
        "is_admin": principal is not None and principal.role.allows(Role.ADMIN),
        "csrf_field": CSRF_FIELD,
        "csrf": csrf_token(request),
        "path": request.url.path,
        **context,
    }
    return templates.TemplateResponse(
        request, template, full, status_code=status_code, headers=PAGE_HEADERS
    )
