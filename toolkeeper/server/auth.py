"""Who is calling: a bearer token, or a browser session opened with one; and what their role allows.

Every ``/api/v1`` route depends on :func:`authenticate` (the router adds it, so
no route can forget). A request with an ``Authorization`` header is judged on
that header alone; without one, on the session cookie. A cookie-authenticated
request that may change state (anything but GET, HEAD, OPTIONS) must also carry
the session's CSRF token in ``X-CSRF-Token``: browsers attach cookies to
cross-site requests, never bearer headers. Failed bearer tokens are counted
per client address (:mod:`toolkeeper.server.throttle`): over the limit, 429.
Routes take ``Admin`` (changing configuration) or ``Operator`` (acting on
alerts) to require a role.

A token the registry remembers as live (see :mod:`toolkeeper.server.tokens`:
by its SHA-256, for a second) is judged on the event loop, with no store query
and no thread; when it expires, the requests carrying it share one lookup in a
worker thread. Anything else (an unknown token, a failure to count, failure
counts kept in Redis) goes to a worker thread and the store, by the same rules.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Literal

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from toolkeeper.server.errors import ApiError
from toolkeeper.server.flights import Flights
from toolkeeper.server.sessions import SESSION_TOKEN_KEY, check_csrf_header
from toolkeeper.server.throttle import AuthThrottle, Refusal
from toolkeeper.server.tokens import ApiToken, Role, TokenRegistry, hash_token

__all__ = [
    "Admin",
    "Authenticated",
    "Operator",
    "Principal",
    "authenticate",
    "bearer_scheme",
    "identify",
    "registry_of",
    "require",
]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="toolkeeper"'}
bearer_scheme = HTTPBearer(
    auto_error=False, description="An API token, from `toolkeeper tokens create`."
)


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller: the token's name (the audit trail's actor), role, and how it was presented."""

    name: str
    role: Role
    token_id: int
    via: Literal["bearer", "session"]


def registry_of(request: Request) -> TokenRegistry:
    """Return the app's token registry."""
    registry: TokenRegistry = request.app.state.tokens
    return registry


def throttle_of(request: Request) -> AuthThrottle:
    """Return the app's counter of failed sign-ins and bearer tokens."""
    throttle: AuthThrottle = request.app.state.auth_throttle
    return throttle


def client_address(request: Request) -> str:
    """Return the address failures are counted against (the proxy's view with --proxy-headers)."""
    return request.client.host if request.client is not None else "unknown"


def too_many_failures(refusal: Refusal) -> ApiError:
    """Return the 429 answer for an address over its failure limit."""
    return ApiError(
        429,
        "too_many_failures",
        "too many failed sign-ins or bad tokens from this address; "
        f"try again in {refusal.retry_after_seconds}s",
        headers={"Retry-After": str(refusal.retry_after_seconds)},
    )


def unauthorized(message: str) -> ApiError:
    """Return the 401 answer, with the challenge that tells clients to send a bearer token."""
    return ApiError(401, "unauthorized", message, headers=_CHALLENGE)


def identify(request: Request) -> Principal:
    """Return the caller, or answer 401 (no or bad credentials) or 403 (CSRF check failed).

    Reads the store: call it from a thread, not the event loop.
    """
    principal = _identify(request, remembered_only=False)
    assert principal is not None  # only a remembered-only judgement returns None
    return principal


def recall(request: Request) -> Principal | None:
    """Return the caller if it can be told without I/O (a remembered token), else ``None``.

    Answers 429 and 403 as :func:`identify` does; never reads the store, never
    counts a failure (a request it cannot judge goes to :func:`identify`).
    """
    if request.headers.get("authorization") is not None and not throttle_of(request).in_memory:
        return None  # checking the address's failures is a Redis round trip
    return _identify(request, remembered_only=True)


async def authenticate(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal:
    """Return the caller (see :func:`identify`); the bearer scheme documents it in OpenAPI.

    A remembered token is judged on the event loop; any other in the thread
    pool, since that reads the store.
    """
    principal = recall(request)
    if principal is None and await _look_up_once(request):
        principal = recall(request)  # remembered now if it is live
    if principal is not None:
        return principal
    return await run_in_threadpool(identify, request)


async def _look_up_once(request: Request) -> bool:
    """Look the request's token up in the store once for every request carrying it meanwhile.

    A remembered token expires for every request in flight at once; they share
    one lookup (:class:`Flights`, keyed by the token's SHA-256 or the session's
    token id) instead of each taking a thread and a query. Returns whether it
    looked (``False`` when :func:`recall` could not judge the request anyway).
    """
    registry = registry_of(request)
    header = request.headers.get("authorization")
    lookup: Callable[[], object]
    if header is not None:
        credentials = _bearer(header)
        if credentials is None or not throttle_of(request).in_memory:
            return False
        key: tuple[str, object] = ("bearer", hash_token(credentials))
        lookup = partial(registry.authenticate, credentials)
    else:
        token_id = _session_token_id(request)
        if token_id is None:
            return False
        key, lookup = ("session", token_id), partial(registry.get, token_id)
    lookups: Flights = request.app.state.token_lookups
    await lookups.run(key, lookup)
    return True


def _identify(request: Request, *, remembered_only: bool) -> Principal | None:
    """Judge the request's credentials; ``remembered_only``: ``None`` where the store is needed."""
    registry = registry_of(request)
    header = request.headers.get("authorization")
    if header is not None:
        address = client_address(request)
        throttle = throttle_of(request)
        refused = throttle.refusal(address)
        if refused is not None:
            raise too_many_failures(refused)
        credentials = _bearer(header)
        if credentials is None:
            if remembered_only:
                return None
            throttle.failed(address, "malformed Authorization header", via="bearer")
            raise unauthorized("the Authorization header must be 'Bearer <token>'")
        if remembered_only:
            token = registry.recall(credentials)
            return None if token is None else _principal(token, "bearer")
        token = registry.authenticate(credentials)
        if token is None:
            throttle.failed(address, "unknown, revoked or expired token", via="bearer")
            raise unauthorized("the token is unknown, revoked or expired")
        return _principal(token, "bearer")
    token_id = _session_token_id(request)
    if token_id is None:
        if remembered_only:
            return None
        raise unauthorized("sign in, or send 'Authorization: Bearer <token>'")
    token = registry.recall_id(token_id) if remembered_only else registry.get(token_id)
    if token is None:
        if remembered_only:
            return None
        request.session.clear()
        raise unauthorized("the session's token was revoked; sign in again")
    if request.method not in SAFE_METHODS:
        check_csrf_header(request)
    return _principal(token, "session")


def _bearer(header: str) -> str | None:
    """Return the token of an ``Authorization: Bearer <token>`` header, or ``None``."""
    scheme, _, credentials = header.strip().partition(" ")
    credentials = credentials.strip()
    return credentials if scheme.lower() == "bearer" and credentials else None


def _session_token_id(request: Request) -> int | None:
    """Return the token id the request's session was opened with, or ``None``."""
    token_id = (request.session if "session" in request.scope else {}).get(SESSION_TOKEN_KEY)
    return token_id if isinstance(token_id, int) else None


def _principal(token: ApiToken, via: Literal["bearer", "session"]) -> Principal:
    return Principal(name=token.name, role=token.role, token_id=token.id, via=via)


Authenticated = Annotated[Principal, Depends(authenticate)]


def require(role: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """Return a dependency answering 403 unless the caller's role is at least ``role``."""

    async def check(principal: Authenticated) -> Principal:  # no I/O: no thread needed
        if not principal.role.allows(role):
            raise ApiError(
                403,
                "forbidden",
                f"this needs the {role.value} role; token {principal.name!r} is a "
                f"{principal.role.value}",
                details={"required_role": role.value, "role": principal.role.value},
            )
        return principal

    check.__name__ = f"require_{role.value}"
    return check


Operator = Annotated[Principal, Depends(require(Role.OPERATOR))]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
