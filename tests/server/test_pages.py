"""The pages over plain HTTP: sign-in redirects, roles, offline docs, a mount prefix, no secret."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from html import unescape

import httpx
import pytest
from fastapi import FastAPI

from tests.server.conftest import CANARY, LiveServer, serving, version_of
from tests.server.test_sessions import form_csrf
from toolkeeper.server import Role, create_app

PAGES = ["/", "/tools/openai", "/tools/local", "/costs", "/costs?since=7d"]


@contextmanager
def signed_in(server: LiveServer, role: Role) -> Iterator[httpx.Client]:
    """Yield a cookie-keeping client signed in with the role's token."""
    # 30 s, as LiveServer.client: a page waits behind a loaded machine, the test judges answers.
    with httpx.Client(
        base_url=server.base_url, trust_env=False, follow_redirects=False, timeout=30
    ) as client:
        csrf = form_csrf(client.get("/login").text)
        response = client.post(
            "/login", data={"token": server.tokens[role], "csrf_token": csrf, "next": "/"}
        )
        assert response.status_code == 303, response.text
        yield client


def page_csrf(page: str) -> str:
    """Return the CSRF token a page carries in its forms."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match is not None
    return match.group(1)


def edit_form(page: str) -> dict[str, str]:
    """Return the fields of the configuration page's edit form as a browser would post them."""
    form = page.split('class="fields"', 1)[1].split("</form>", 1)[0]
    fields = {
        name: unescape(value)
        for name, value in re.findall(r'<input id="f-[^"]+" name="([^"]+)" type="(?:text|number)"'
                                      r'[^>]*?value="([^"]*)"', form, flags=re.S)
    }  # fmt: skip
    for name, body in re.findall(
        r'<select id="f-[^"]+" name="([^"]+)".*?>(.*?)</select>', form, re.S
    ):
        chosen = re.search(r'<option value="([^"]*)" selected>', body)
        fields[name] = chosen.group(1) if chosen else ""
    fields["version"] = re.search(r'name="version" value="(\d+)"', page).group(1)  # type: ignore[union-attr]
    fields["csrf_token"] = page_csrf(page)
    return fields


def test_pages_send_the_signed_out_to_sign_in(sqlite_server: LiveServer) -> None:
    """Without a session every page redirects to /login with ``next`` pointing back."""
    with sqlite_server.client(follow_redirects=False) as client:
        for path in [*PAGES, "/config", "/config?env=production&tool=openai"]:
            response = client.get(path)
            assert response.status_code == 303, path
            location = response.headers["location"]
            assert location.startswith("/login?next=/"), location
        posted = client.post("/config/openai/preview", data={"timeout_seconds": "1"})
        assert posted.status_code == 303
        login = client.get("/login")
    assert 'href="/static/app.css"' in login.text
    assert 'name="token"' in login.text
    assert 'name="next"' in login.text


def test_a_viewer_sees_the_dashboard_tools_and_costs(sqlite_server: LiveServer) -> None:
    """A viewer gets every read-only page, with a card per tool and no Configuration link."""
    with signed_in(sqlite_server, Role.VIEWER) as client:
        pages = {path: client.get(path) for path in PAGES}
    for path, response in pages.items():
        assert response.status_code == 200, path
        assert "default-src 'self'" in response.headers["content-security-policy"]
        assert "viewer-test" in response.text
        assert 'href="/config"' not in response.text
    dashboard = pages["/"].text
    assert 'data-tool="openai"' in dashboard
    assert 'data-tool="local"' in dashboard
    assert "/static/vendor/chartjs/chart.umd.min.js" in dashboard
    assert "Circuit breaker" in pages["/tools/openai"].text
    assert "bad request with Authorization" in pages["/tools/openai"].text  # a recent error
    assert 'data-testid="by-model"' in pages["/costs"].text


def test_an_unknown_tool_page_is_a_404_page(sqlite_server: LiveServer) -> None:
    """A tool nobody configured or called gets a 404 page naming the known tools."""
    with signed_in(sqlite_server, Role.VIEWER) as client:
        response = client.get("/tools/nope")
    assert response.status_code == 404
    assert "/tools/openai" in response.text


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR])
def test_configuration_is_refused_to_non_admins(sqlite_server: LiveServer, role: Role) -> None:
    """Viewers and operators get a 403 page with nothing of the form, and cannot post to it."""
    before = version_of(sqlite_server.client(Role.ADMIN), "local")
    with signed_in(sqlite_server, role) as client:
        page = client.get("/config?tool=local")
        csrf = page_csrf(client.get("/").text)
        posted = client.post(
            "/config/local/preview",
            data={"csrf_token": csrf, "version": str(before), "max_retry_attempts": "4"},
        )
    for response in (page, posted):
        assert response.status_code == 403
        assert "for admins" in response.text
        assert "max_retry_attempts" not in response.text
        assert 'name="version"' not in response.text
    assert version_of(sqlite_server.client(Role.ADMIN), "local") == before


def test_the_api_docs_work_offline(sqlite_server: LiveServer) -> None:
    """/docs loads Swagger UI from the package and the schema from this server, nothing else."""
    with sqlite_server.client() as client:
        docs = client.get("/docs")
        bundle = client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js")
        styles = client.get("/static/vendor/swagger-ui/swagger-ui.css")
    assert docs.status_code == 200
    assets = [
        link
        for link in re.findall(r'(?:src|href)="([^"]+)"', docs.text)
        if link.startswith("/static/")
    ]
    assert assets == [
        "/static/favicon.svg",
        "/static/app.css",
        "/static/vendor/swagger-ui/swagger-ui.css",
        "/static/vendor/swagger-ui/swagger-ui-bundle.js",
        "/static/js/docs.js",
    ]
    assert all(link.startswith("/") for link in re.findall(r'(?:src|href)="([^"]+)"', docs.text))
    assert 'data-openapi="/openapi.json"' in docs.text
    assert 'href="/login">Sign in</a>' in docs.text  # the top bar, for someone not signed in
    assert bundle.status_code == 200
    assert styles.status_code == 200


def test_the_canary_is_on_no_page_for_any_role(live_server: LiveServer) -> None:
    """Every page, for every role, and the preview of a key containing the canary, hide it."""
    seen: dict[str, str] = {}
    for role in Role:
        with signed_in(live_server, role) as client:
            for path in [*PAGES, "/config?tool=openai", "/config?env=production&tool=openai",
                         "/docs", "/login"]:  # fmt: skip
                response = client.get(path)
                seen[f"{role} {path}"] = response.text + str(response.headers)
    with signed_in(live_server, Role.ADMIN) as client:
        form = edit_form(client.get("/config?tool=openai").text)
        form.update(api_key=f"{CANARY}-rotated", timeout_seconds="-1")
        seen["invalid with canary"] = client.post("/config/openai/preview", data=form).text
        form.update(timeout_seconds="30.0")
        preview = client.post("/config/openai/preview", data=form)
        assert preview.status_code == 200, preview.text
        assert "secret</span> changed" in preview.text
        seen["preview"] = preview.text
    assert [name for name, text in seen.items() if CANARY in text] == []


def test_the_pages_work_mounted_under_a_prefix(sqlite_server: LiveServer) -> None:
    """Mounted at /tk in another app, redirects, links, scripts and styles keep the prefix."""
    outer = FastAPI()
    outer.mount("/tk", create_app(sqlite_server.keeper))
    with serving(outer) as base, httpx.Client(base_url=base, trust_env=False, timeout=30) as client:
        redirect = client.get("/tk/costs")
        csrf = form_csrf(client.get("/tk/login").text)
        token = sqlite_server.tokens[Role.VIEWER]
        signed = client.post("/tk/login", data={"token": token, "csrf_token": csrf, "next": "/tk/"})
        page = client.get("/tk/").text
        stylesheet = client.get("/tk/static/app.css")
    assert redirect.status_code == 303
    assert redirect.headers["location"] == "/tk/login?next=/tk/costs"
    assert signed.headers["location"] == "/tk/"
    assert 'data-base="/tk"' in page
    assert 'href="/tk/static/app.css"' in page
    assert 'src="/tk/static/js/dashboard.js"' in page
    assert 'href="/tk/tools/openai"' in page
    assert stylesheet.status_code == 200
