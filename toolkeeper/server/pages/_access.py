"""Who may see a page: a signed-in session (or a bearer token), and admins for configuration.

A page request without a session goes to the sign-in page with ``next`` set to
where it was headed; a signed-in user without the role gets a 403 page saying
so. Forms post the session's CSRF token as ``csrf_token``; the page routes
check it themselves, since :func:`~toolkeeper.server.auth.identify` expects
the ``X-CSRF-Token`` header that scripts send.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response

from toolkeeper.server.auth import Principal, identify, registry_of
from toolkeeper.server.errors import ApiError
from toolkeeper.server.sessions import SESSION_TOKEN_KEY, verify_csrf
from toolkeeper.server.tokens import Role

__all__ = [
    "AdminPage",
    "PageForbiddenError",
    "SignInRequiredError",
    "SignedIn",
    "check_form_csrf",
    "page_principal",
    "sign_in_redirect",
]


class SignInRequiredError(Exception):
    """The request has no live session: send the browser to the sign-in page."""


class PageForbiddenError(Exception):
    """The signed-in user may not do this; the message says why, for the 403 page."""

    def __init__(self, principal: Principal | None, message: str) -> None:
        super().__init__(message)
        self.principal = principal
        self.message = message


def page_principal(request: Request) -> Principal:
    """Return the signed-in user, or raise :class:`SignInRequiredError`.

    Reads the store: a plain ``def``, so FastAPI runs it in its thread pool.
    """
    if "authorization" in request.headers:
        try:
            return identify(request)
        except ApiError as exc:
            if exc.status == 401:
                raise SignInRequiredError from None
            raise
    session = request.session if "session" in request.scope else {}
    token_id = session.get(SESSION_TOKEN_KEY)
    if not isinstance(token_id, int):
        raise SignInRequiredError
    token = registry_of(request).get(token_id)
    if token is None:
        session.clear()
        raise SignInRequiredError
    return Principal(name=token.name, role=token.role, token_id=token.id, via="session")


SignedIn = Annotated[Principal, Depends(page_principal)]


def require_role(principal: Principal, role: Role, what: str) -> Principal:
    """Return ``principal`` if its role allows ``role``, else raise :class:`PageForbiddenError`.

    ``what`` completes "… is for <role>s", e.g. "The configuration pages are".
    """
    if not principal.role.allows(role):
        raise PageForbiddenError(
            principal,
            f"{what} for {role.value}s. You are signed in as {principal.name!r}, a "
            f"{principal.role.value}; ask an {role.value}, or sign in with an {role.value} token.",
        )
    return principal


def admin_page(principal: SignedIn) -> Principal:
    """Return the signed-in user if an admin, else raise :class:`PageForbiddenError`."""
    return require_role(principal, Role.ADMIN, "The configuration pages are")


AdminPage = Annotated[Principal, Depends(admin_page)]


def check_form_csrf(request: Request, principal: Principal, submitted: str | None) -> None:
    """Raise :class:`PageForbiddenError` unless the form carried the session's CSRF token."""
    try:
        verify_csrf(request, submitted)
    except ApiError:
        raise PageForbiddenError(
            principal,
            "The form was not accepted: it lacked this session's security token. "
            "Reload the page and submit it again.",
        ) from None


def sign_in_redirect(request: Request) -> Response:
    """Return a redirect to sign-in that comes back here (a GET) or to the dashboard (a post)."""
    base = str(request.scope.get("root_path", "")).rstrip("/")
    target = request.url.path if request.method == "GET" else base + "/"
    if request.method == "GET" and request.url.query:
        target += "?" + request.url.query
    return RedirectResponse(f"{base}/login?next={quote(target, safe='/')}", status_code=303)
