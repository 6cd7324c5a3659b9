"""The styled sign-in page; ``sessions`` serves it at ``/login`` and handles its form."""

from __future__ import annotations

from fastapi import Request

from toolkeeper.server.pages._render import base_path, templates
from toolkeeper.server.sessions import CSRF_FIELD

__all__ = ["render_login_page"]


def render_login_page(
    request: Request, csrf: str, *, error: str | None = None, next_path: str = "/"
) -> str:
    """Return the sign-in form: it posts ``token``, ``csrf_token`` and ``next``; no script."""
    return templates.get_template("login.html").render(
        base=base_path(request),
        csrf_field=CSRF_FIELD,
        csrf=csrf,
        error=error,
        next_path=next_path,
    )
