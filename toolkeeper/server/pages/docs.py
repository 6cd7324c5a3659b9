"""``GET /docs``: the OpenAPI reference in Swagger UI, served from the package (no CDN)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from toolkeeper.server.pages._render import base_path, templates

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
    """Render Swagger UI over ``/openapi.json``; public, like the schema it reads."""
    page = templates.get_template("docs.html").render(base=base_path(request))
    return HTMLResponse(page, headers=_DOCS_HEADERS)
