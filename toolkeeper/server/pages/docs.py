"""``GET /docs``: the OpenAPI reference in Swagger UI, served from the package (no CDN)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from toolkeeper.server.auth import Principal
from toolkeeper.server.errors import ApiError
from toolkeeper.server.pages._access import SignInRequiredError, page_principal
from toolkeeper.server.pages._render import base_path, templates
from toolkeeper.server.sessions import CSRF_FIELD, csrf_token
from toolkeeper.server.tokens import Role

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

#: Swagger UI styles itself inline and shows data: images; it loads and calls nothing elsewhere.
_DOCS_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
        "object-src 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


@router.get("/docs", response_class=HTMLResponse)
def docs(request: Request) -> HTMLResponse:
    """Render Swagger UI over ``/openapi.json`` under the pages' navigation; public, as the schema.

    A signed-in user sees the same top bar as on every page; anyone else a way to sign in.
    """
    try:
        principal: Principal | None = page_principal(request)
    except (SignInRequiredError, ApiError):
        principal = None
    page = templates.get_template("docs.html").render(
        base=base_path(request),
        principal=principal,
        is_admin=principal is not None and principal.role.allows(Role.ADMIN),
        csrf_field=CSRF_FIELD,
        csrf=csrf_token(request),
        path=request.url.path,
    )
    return HTMLResponse(page, headers=_DOCS_HEADERS)
