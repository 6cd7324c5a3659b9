"""Authentication and roles over real HTTP: tokens, 401 everywhere without one, 403 by role."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import httpx
import pytest
from fastapi.routing import APIRoute

from tests.server.conftest import LiveServer, live, version_of
from toolkeeper.server import Role, TokenRegistry
from toolkeeper.server.tokens import ApiToken


def app_routes(server: LiveServer) -> list[tuple[str, set[str]]]:
    """Return (path, methods) of every route of the app, routers included."""
    try:  # newer FastAPI keeps included routers lazily; this walks them
        from fastapi.routing import iter_route_contexts
    except ImportError:  # pragma: no cover - older FastAPI lists the routes flat
        return [
            (r.path, set(r.methods or ())) for r in server.app.routes if isinstance(r, APIRoute)
        ]
    return [
        (context.path, set(context.methods or ()))
        for context in iter_route_contexts(server.app.routes)
        if context.path is not None and context.methods
    ]


def api_requests(server: LiveServer) -> list[tuple[str, str]]:
    """List (method, path) for every /api/v1 route of the app, path parameters filled in."""
    found: list[tuple[str, str]] = []
    for path, methods in app_routes(server):
        if path.startswith("/api/v1"):
            filled = re.sub(r"\{[^}]+\}", "openai", path)
            found.extend((method, filled) for method in sorted(methods))
    return found


def test_the_api_lists_every_concept(live_server: LiveServer) -> None:
    """The routes enumerated for the 401 test cover every documented endpoint."""
    paths = {path for _, path in api_requests(live_server)}
    with live_server.client() as client:
        documented = client.get("/openapi.json").json()["paths"]
    assert {
        re.sub(r"\{[^}]+\}", "openai", path) for path in documented if "/api/v1" in path
    } <= paths
    assert {
        "/api/v1/health",
        "/api/v1/tools",
        "/api/v1/tools/openai",
        "/api/v1/tools/openai/metrics",
        "/api/v1/operations",
        "/api/v1/config",
        "/api/v1/config/openai",
        "/api/v1/config/openai/history",
        "/api/v1/config/openai/diff",
        "/api/v1/config/openai/rollback",
        "/api/v1/export",
        "/api/v1/events",
        "/api/v1/me",
    } <= paths


def test_every_api_endpoint_answers_401_without_a_token(live_server: LiveServer) -> None:
    """Every /api/v1 route, whatever its method, answers 401 with a Bearer challenge and no data."""
    with live_server.client() as client:
        for method, path in api_requests(live_server):
            response = client.request(method, path)
            assert response.status_code == 401, (method, path, response.text)
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert response.json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize(
    "authorization",
    ["Bearer tk_not-a-real-token", "Bearer", "Basic dXNlcjpwYXNz", "tk_abc", "Bearer " + "x" * 500],
)
def test_a_bad_authorization_header_answers_401(
    live_server: LiveServer, authorization: str
) -> None:
    """Unknown tokens, empty ones and other schemes are all refused with 401."""
    with live_server.client() as client:
        response = client.get("/api/v1/health", headers={"Authorization": authorization})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


def test_every_role_reads(live_server: LiveServer) -> None:
    """Viewers, operators and admins may all read health, tools, operations and config."""
    for role in Role:
        with live_server.client(role) as client:
            for path in ("/api/v1/health", "/api/v1/tools", "/api/v1/config/openai"):
                assert client.get(path).status_code == 200, (role, path)
            assert client.get("/api/v1/me").json() == {
                "name": f"{role.value}-test",
                "role": role.value,
                "via": "bearer",
                "csrf_token": None,
            }


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR])
def test_only_admins_change_configuration(live_server: LiveServer, role: Role) -> None:
    """A viewer's or operator's PATCH and rollback answer 403 and change nothing."""
    with live_server.client(role) as client:
        version = version_of(client, "openai")
        headers = {
            "If-Match": f'"{version}"',
            "Content-Type": "application/merge-patch+json",
            "X-Change-Reason": "try",
        }
        patched = client.patch(
            "/api/v1/config/openai", content=b'{"timeout_seconds": 5}', headers=headers
        )
        rolled = client.post(
            "/api/v1/config/openai/rollback",
            json={"to_version": 0, "reason": "try"},
            headers={"If-Match": f'"{version}"'},
        )
        assert version_of(client, "openai") == version
    for response in (patched, rolled):
        assert response.status_code == 403, response.text
        error = response.json()["error"]
        assert error["code"] == "forbidden"
        assert error["details"] == {"required_role": "admin", "role": role.value}


def test_a_revoked_token_is_refused_at_once(live_server: LiveServer) -> None:
    """Revoking a token makes its next request answer 401."""
    registry = TokenRegistry(live_server.keeper.store)
    _, token = registry.create(Role.VIEWER, name="short-lived")
    with httpx.Client(base_url=live_server.base_url, trust_env=False, timeout=30) as client:
        headers = {"Authorization": f"Bearer {token}"}
        assert client.get("/api/v1/health", headers=headers).status_code == 200
        registry.revoke("short-lived")
        assert client.get("/api/v1/health", headers=headers).status_code == 401


def test_a_token_the_server_remembers_is_refused_once_revoked(live_server: LiveServer) -> None:
    """A token remembered by the server answers 401 at once after any registry revokes it.

    A revocation by another process takes effect within ``token_cache_seconds``
    (tests/server/test_cli_server.py).
    """
    server: TokenRegistry = live_server.app.state.tokens
    for revoking in (server, TokenRegistry(live_server.keeper.store)):
        _, token = server.create(Role.VIEWER)
        with httpx.Client(base_url=live_server.base_url, trust_env=False, timeout=30) as client:
            headers = {"Authorization": f"Bearer {token}"}
            assert client.get("/api/v1/health", headers=headers).status_code == 200
            assert client.get("/api/v1/health", headers=headers).status_code == 200
            found = server.recall(token)
            assert found is not None
            revoking.revoke(found.name)
            assert server.recall(token) is None
            assert client.get("/api/v1/health", headers=headers).status_code == 401


def test_requests_carrying_one_token_share_its_lookup(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """32 requests arriving together with a token not remembered make one store lookup.

    Each is still judged: all 32 answer 200, and 8 carrying an unknown token 401.
    """
    registry: TokenRegistry = live_server.app.state.tokens
    _, token = registry.create(Role.VIEWER)
    looked_up: list[str] = []
    authenticate = registry.authenticate

    def slow(presented: str) -> ApiToken | None:
        looked_up.append(presented)
        time.sleep(0.3)  # the others arrive while it runs
        return authenticate(presented)

    monkeypatch.setattr(registry, "authenticate", slow)

    async def ask(presented: str, count: int) -> list[int]:
        headers = {"Authorization": f"Bearer {presented}"}
        async with httpx.AsyncClient(
            base_url=live_server.base_url, headers=headers, trust_env=False, timeout=30
        ) as client:
            answers = await asyncio.gather(*(client.get("/api/v1/me") for _ in range(count)))
        return [answer.status_code for answer in answers]

    assert asyncio.run(ask(token, 32)) == [200] * 32
    assert looked_up == [token]
    unknown = "tk_" + "x" * len(token.removeprefix("tk_"))
    assert asyncio.run(ask(unknown, 8)) == [401] * 8


def test_a_remembered_token_keeps_its_role(live_server: LiveServer) -> None:
    """A token the server remembers keeps the role the store gave it, request after request."""
    registry: TokenRegistry = live_server.app.state.tokens
    for role in Role:
        with live_server.client(role) as client:
            answers = [client.get("/api/v1/me") for _ in range(3)]
            changes = [client.post("/api/v1/alerts/test") for _ in range(2)]  # no notifiers
        assert registry.recall(live_server.tokens[role]) is not None
        assert [a.status_code for a in answers] == [200, 200, 200]
        assert {a.json()["role"] for a in answers} == {role.value}
        expected = [200, 200] if role is Role.ADMIN else [403, 403]  # admins only
        assert [c.status_code for c in changes] == expected, [c.text for c in changes]


def test_metrics_needs_a_token_of_any_role(live_server: LiveServer) -> None:
    """/metrics answers 401 without a token and 200 for a viewer's token."""
    with live_server.client() as anonymous:
        refused = anonymous.get("/metrics")
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"].startswith("Bearer")
    with live_server.client(Role.VIEWER) as viewer:
        assert viewer.get("/metrics").status_code == 200


def test_metrics_can_be_made_public(tmp_path: Path) -> None:
    """With metrics_public, /metrics answers without a token while the API still needs one."""
    uri = f"sqlite:///{tmp_path / 'state.db'}"
    with live(uri, tmp_path, metrics_public=True) as server, server.client() as client:
        assert client.get("/metrics").status_code == 200
        assert client.get("/api/v1/health").status_code == 401


def test_probes_need_no_token(live_server: LiveServer) -> None:
    """/healthz and /readyz answer without a token and say nothing about tools."""
    with live_server.client() as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/readyz").json() == {"status": "ready"}


def test_unknown_paths_use_the_error_body(live_server: LiveServer) -> None:
    """A path that does not exist answers 404 in the standard error shape."""
    with live_server.client(Role.ADMIN) as client:
        response = client.get("/no/such/page")
    assert response.status_code == 404
    assert response.json() == {
        "error": {"code": "not_found", "message": "Not Found", "details": None}
    }
