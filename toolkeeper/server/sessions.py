"""Browser sessions: sign in with a token, a signed cookie, and CSRF tokens for every change.

The cookie is Starlette's signed session cookie (itsdangerous), marked
``HttpOnly`` and ``SameSite=Strict``, and ``Secure`` when the request came over
HTTPS (or always/never, by setting). It holds the token's id, never the token,
and a CSRF token: a random value, different per session, which every
state-changing form must post back as ``csrf_token`` and every cookie-authenticated
unsafe API request must send as ``X-CSRF-Token`` (the synchronizer-token
pattern). Signing in replaces the session, so a session fixed before sign-in is
worthless; revoking the token ends its sessions at their next request.
"""

from __future__ import annotations

import hmac
import secrets
from html import escape
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import MutableHeaders
from starlette.middleware.sessions import SessionMiddleware

from toolkeeper.server.errors import ApiError

if TYPE_CHECKING:
    from fastapi import FastAPI
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from toolkeeper.server.settings import ServerSettings
    from toolkeeper.server.throttle import AuthThrottle
    from toolkeeper.server.tokens import TokenRegistry

__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "SESSION_TOKEN_KEY",
    "check_csrf_header",
    "csrf_token",
    "install_sessions",
    "router",
    "verify_csrf",
]

SESSION_COOKIE = "toolkeeper_session"
SESSION_TOKEN_KEY = "token_id"  # noqa: S105 - a key of the session dict, not a secret
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
_CSRF_KEY = "csrf"


class _SecureOverHttps:
    """Add ``Secure`` to the session cookie of responses to HTTPS requests.

    Starlette's middleware takes ``https_only`` once for all requests; a server
    reached over plain HTTP on loopback and over HTTPS through a proxy needs it
    per request.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("scheme") != "https":
            await self.app(scope, receive, send)
            return

        async def send_secure(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                cookies = headers.getlist("set-cookie")
                if any(c.startswith(SESSION_COOKIE + "=") for c in cookies):
                    del headers["set-cookie"]
                    for cookie in cookies:
                        secure = (
                            cookie.startswith(SESSION_COOKIE + "=")
                            and "secure" not in cookie.lower()
                        )
                        headers.append("set-cookie", cookie + "; secure" if secure else cookie)
            await send(message)

        await self.app(scope, receive, send_secure)


def install_sessions(app: FastAPI, *, secret: str, settings: ServerSettings) -> None:
    """Add the session middleware (and, when ``secure_cookies`` is automatic, the HTTPS marker)."""
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret,
        session_cookie=SESSION_COOKIE,
        max_age=settings.session_max_age_seconds,
        same_site="strict",
        https_only=bool(settings.secure_cookies),
    )
    if settings.secure_cookies is None:
        # Added last, so it wraps the session middleware and sees the cookie it sets.
        app.add_middleware(_SecureOverHttps)


def _session(request: Request) -> dict[str, Any]:
    if "session" not in request.scope:
        raise RuntimeError("sessions are not installed: create the app with create_app()")
    return request.session


def csrf_token(request: Request) -> str:
    """Return the session's CSRF token, creating it (and so the session) if needed.

    Pages put it in every form as ``csrf_token`` and in a ``<meta>`` for scripts.
    """
    session = _session(request)
    token = session.get(_CSRF_KEY)
    if not isinstance(token, str):
        token = session[_CSRF_KEY] = secrets.token_urlsafe(32)
    return token


def verify_csrf(request: Request, submitted: str | None) -> None:
    """Answer 403 unless ``submitted`` is the session's CSRF token (compared in constant time)."""
    expected = _session(request).get(_CSRF_KEY)
    if (
        not isinstance(expected, str)
        or not submitted
        or not hmac.compare_digest(expected.encode(), submitted.encode())
    ):
        raise ApiError(
            403,
            "csrf_failed",
            f"missing or wrong CSRF token: send the session's token as the {CSRF_FIELD!r} "
            f"form field or the {CSRF_HEADER} header",
        )


def check_csrf_header(request: Request) -> None:
    """Check the ``X-CSRF-Token`` header of a cookie-authenticated API request."""
    verify_csrf(request, request.headers.get(CSRF_HEADER))


router = APIRouter(include_in_schema=False)

#: The sign-in page loads only local styles, runs no script, posts only here, is never framed.
_PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
}


def _safe_next(request: Request, target: str | None) -> str:
    # Only a path on this site: "//host" and "/\host" would leave it.
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return str(request.scope.get("root_path", "")) + "/"


def render_login(csrf: str, *, error: str | None = None, next_path: str = "/") -> str:
    """Return the sign-in page: one field for the token, no script, nothing from elsewhere.

    The pages may serve their own; it must post ``token``, ``csrf_token`` and ``next``.
    """
    message = f'<p role="alert">{escape(error)}</p>' if error else ""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        "<title>Sign in · toolkeeper</title></head><body><main>"
        f"<h1>Sign in to toolkeeper</h1>{message}"
        '<form method="post" action="login">'
        f'<input type="hidden" name="{CSRF_FIELD}" value="{escape(csrf)}">'
        f'<input type="hidden" name="next" value="{escape(next_path)}">'
        '<label for="token">API token</label> '
        '<input id="token" name="token" type="password" autocomplete="current-password" required>'
        ' <button type="submit">Sign in</button></form>'
        "<p>Make a token with <code>toolkeeper tokens create --role viewer</code>.</p>"
        "</main></body></html>"
    )


def _login_html(request: Request, *, error: str | None = None, next_path: str = "/") -> str:
    """Return the sign-in page: the pages' own (``app.state.render_login``) if installed."""
    csrf = csrf_token(request)
    custom = getattr(request.app.state, "render_login", None)
    if custom is not None:
        return str(custom(request, csrf, error=error, next_path=next_path))
    return render_login(csrf, error=error, next_path=next_path)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None) -> HTMLResponse:  # noqa: A002 - the query name
    """Show the sign-in form."""
    page = _login_html(request, next_path=_safe_next(request, next))
    return HTMLResponse(page, headers=_PAGE_HEADERS)


@router.post("/login")
def login(
    request: Request,
    token: Annotated[str, Form()],
    csrf: Annotated[str | None, Form(alias=CSRF_FIELD)] = None,
    next_path: Annotated[str | None, Form(alias="next")] = None,
) -> Response:
    """Open a session for a valid token and go on to ``next``; else answer 401 with the form."""
    verify_csrf(request, csrf)
    throttle: AuthThrottle = request.app.state.auth_throttle
    address = request.client.host if request.client is not None else "unknown"
    refused = throttle.refusal(address)
    if refused is not None:
        page = _login_html(
            request,
            error=f"Too many failed sign-ins from this address; try again in "
            f"{refused.retry_after_seconds}s.",
            next_path=_safe_next(request, next_path),
        )
        headers = {**_PAGE_HEADERS, "Retry-After": str(refused.retry_after_seconds)}
        return HTMLResponse(page, status_code=429, headers=headers)
    registry: TokenRegistry = request.app.state.tokens
    found = registry.authenticate(token.strip())
    session = _session(request)
    if found is None:
        throttle.failed(address, "unknown, revoked or expired token", via="sign-in")
        page = _login_html(
            request,
            error="That token is unknown, revoked or expired.",
            next_path=_safe_next(request, next_path),
        )
        return HTMLResponse(page, status_code=401, headers=_PAGE_HEADERS)
    session.clear()
    session[SESSION_TOKEN_KEY] = found.id
    session[_CSRF_KEY] = secrets.token_urlsafe(32)
    return RedirectResponse(_safe_next(request, next_path), status_code=303)


@router.post("/logout")
def logout(
    request: Request, csrf: Annotated[str | None, Form(alias=CSRF_FIELD)] = None
) -> Response:
    """End the session and go back to the sign-in page."""
    verify_csrf(request, csrf)
    _session(request).clear()
    return RedirectResponse("login", status_code=303)
