"""The pages: dashboard, tool detail, costs, alerts, configuration (admins), sign-in, API docs.

Server-rendered with Jinja2 and kept live by small scripts reading
``/api/v1/events``. Everything they load is served from the package
(``static/``, vendored libraries under ``static/vendor/``), so the pages work
offline. :func:`install_pages` adds them to an app built by ``create_app``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from toolkeeper.server.pages import alert_config, alerts, config, costs, dashboard, docs, tool
from toolkeeper.server.pages._access import (
    PageForbiddenError,
    SignInRequiredError,
    sign_in_redirect,
)
from toolkeeper.server.pages._render import render
from toolkeeper.server.pages.login import render_login_page

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["STATIC_DIR", "install_pages"]

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


def install_pages(app: FastAPI) -> None:
    """Add the pages, their static files, the styled sign-in page and the offline API docs."""
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for module in (dashboard, tool, costs, alerts, alert_config, config, docs):
        app.include_router(module.router)
    app.state.render_login = render_login_page

    async def sign_in(request: Request, _: Exception) -> Response:
        return sign_in_redirect(request)

    async def forbidden(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PageForbiddenError)
        return render(
            request,
            "forbidden.html",
            {"message": exc.message},
            principal=exc.principal,
            status_code=403,
        )

    app.add_exception_handler(SignInRequiredError, sign_in)
    app.add_exception_handler(PageForbiddenError, forbidden)
