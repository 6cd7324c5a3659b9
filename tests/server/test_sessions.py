"""Browser sign-in over real HTTP: the session cookie's flags, CSRF on every change, sign-out."""

from __future__ import annotations

import re

import httpx

from tests.server.conftest import LiveServer, version_of
from toolkeeper.server import Role, TokenRegistry


def browser(server: LiveServer, **headers: str) -> httpx.Client:
    """Return a cookie-keeping client that sends no token."""
    return httpx.Client(
        base_url=server.base_url,
        trust_env=False,
        headers=headers,
        follow_redirects=False,
        timeout=30,
    )


def form_csrf(page: str) -> str:
    """Return the CSRF token embedded in the sign-in form."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match is not None, page
    return match.group(1)


def sign_in(client: httpx.Client, token: str) -> httpx.Response:
    """Load the sign-in form and post the token with the form's CSRF token."""
    csrf = form_csrf(client.get("/login").text)
    return client.post("/login", data={"token": token, "csrf_token": csrf, "next": "/somewhere"})


def test_signing_in_sets_a_strict_httponly_cookie(sqlite_server: LiveServer) -> None:
    """A valid token opens a session: HttpOnly, SameSite=Strict, not Secure over plain HTTP."""
    with browser(sqlite_server) as client:
        response = sign_in(client, sqlite_server.tokens[Role.VIEWER])
        assert response.status_code == 303
        assert response.headers["location"] == "/somewhere"
        cookie = response.headers["set-cookie"].lower()
        assert cookie.startswith("toolkeeper_session=")
        assert "httponly" in cookie
        assert "samesite=strict" in cookie
        assert "secure" not in cookie
        me = client.get("/api/v1/me").json()
    assert me["name"] == "viewer-test"
    assert me["via"] == "session"
    assert me["csrf_token"]
    assert sqlite_server.tokens[Role.VIEWER] not in response.headers["set-cookie"]


def test_the_sign_in_page_cannot_be_framed_or_cached(sqlite_server: LiveServer) -> None:
    """The sign-in page forbids framing, scripts from anywhere, and caching."""
    with browser(sqlite_server) as client:
        headers = client.get("/login").headers
    assert headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["cache-control"] == "no-store"


def test_the_cookie_is_secure_over_https(sqlite_server: LiveServer) -> None:
    """Behind an HTTPS proxy (X-Forwarded-Proto from loopback) the session cookie is Secure."""
    with browser(sqlite_server, **{"X-Forwarded-Proto": "https"}) as client:
        response = client.get("/login")
    assert "secure" in response.headers["set-cookie"].lower()


def test_a_cookie_session_change_without_the_csrf_token_is_refused(
    sqlite_server: LiveServer,
) -> None:
    """A signed-in admin's PATCH needs X-CSRF-Token: without it 403, nothing saved; with it 200."""
    with browser(sqlite_server) as client:
        sign_in(client, sqlite_server.tokens[Role.ADMIN])
        csrf = client.get("/api/v1/me").json()["csrf_token"]
        version = version_of(client, "local")
        headers = {
            "Content-Type": "application/merge-patch+json",
            "If-Match": f'"{version}"',
            "X-Change-Reason": "from the browser",
        }
        body = b'{"max_retry_attempts": 3}'
        refused = client.patch("/api/v1/config/local", content=body, headers=headers)
        wrong = client.patch(
            "/api/v1/config/local", content=body, headers={**headers, "X-CSRF-Token": "guess"}
        )
        assert version_of(client, "local") == version
        accepted = client.patch(
            "/api/v1/config/local", content=body, headers={**headers, "X-CSRF-Token": csrf}
        )
    for response in (refused, wrong):
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "csrf_failed"
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["entry"]["actor"] == "admin-test"


def test_signing_in_needs_the_form_csrf_token(sqlite_server: LiveServer) -> None:
    """A sign-in post without the form's CSRF token is refused and opens no session."""
    with browser(sqlite_server) as client:
        client.get("/login")
        response = client.post("/login", data={"token": sqlite_server.tokens[Role.ADMIN]})
        assert response.status_code == 403
        assert client.get("/api/v1/me").status_code == 401


def test_a_bad_token_does_not_sign_in(sqlite_server: LiveServer) -> None:
    """An unknown token answers 401 with the form again and no session."""
    with browser(sqlite_server) as client:
        response = sign_in(client, "tk_" + "a" * 43)
        assert response.status_code == 401
        assert "unknown, revoked or expired" in response.text
        assert client.get("/api/v1/me").status_code == 401


def test_sign_in_only_redirects_within_the_site(sqlite_server: LiveServer) -> None:
    """A ``next`` pointing at another site is replaced by the home page."""
    with browser(sqlite_server) as client:
        csrf = form_csrf(client.get("/login").text)
        token = sqlite_server.tokens[Role.VIEWER]
        response = client.post(
            "/login", data={"token": token, "csrf_token": csrf, "next": "//evil.example/"}
        )
    assert response.headers["location"] == "/"


def test_signing_out_needs_csrf_and_ends_the_session(sqlite_server: LiveServer) -> None:
    """Sign-out without the CSRF token is refused; with it the session ends."""
    with browser(sqlite_server) as client:
        sign_in(client, sqlite_server.tokens[Role.VIEWER])
        csrf = client.get("/api/v1/me").json()["csrf_token"]
        assert client.post("/logout").status_code == 403
        assert client.get("/api/v1/me").status_code == 200
        assert client.post("/logout", data={"csrf_token": csrf}).status_code == 303
        assert client.get("/api/v1/me").status_code == 401


def test_revoking_a_token_ends_its_sessions(sqlite_server: LiveServer) -> None:
    """A session opened with a token stops working when the token is revoked."""
    registry = TokenRegistry(sqlite_server.keeper.store)
    _, token = registry.create(Role.VIEWER, name="browser-user")
    with browser(sqlite_server) as client:
        sign_in(client, token)
        assert client.get("/api/v1/me").status_code == 200
        registry.revoke("browser-user")
        assert client.get("/api/v1/me").status_code == 401


def test_a_forged_cookie_is_ignored(sqlite_server: LiveServer) -> None:
    """A session cookie not signed with the server's key authenticates no one."""
    with browser(sqlite_server) as client:
        client.cookies.set("toolkeeper_session", "eyJ0b2tlbl9pZCI6IDF9.forged.signature")
        assert client.get("/api/v1/me").status_code == 401


def test_a_reader_of_the_store_cannot_forge_a_session(live_server: LiveServer) -> None:
    """Signing a cookie with what the store holds as the session key opens no session."""
    import base64
    import json

    from itsdangerous import TimestampSigner
    from sqlalchemy import select

    from toolkeeper.store.tables import server_keys

    store = live_server.keeper.store
    with store.transaction(write=False) as conn:
        stored = [str(value) for value in conn.execute(select(server_keys.c.value)).scalars()]
    assert stored
    admin = next(t for t in TokenRegistry(store).list() if t.role is Role.ADMIN)
    payload = base64.b64encode(json.dumps({"token_id": admin.id, "csrf": "x"}).encode())
    for value in stored:
        cookie = TimestampSigner(value).sign(payload).decode()
        with browser(live_server) as client:
            client.cookies.set("toolkeeper_session", cookie)
            assert client.get("/api/v1/me").status_code == 401
