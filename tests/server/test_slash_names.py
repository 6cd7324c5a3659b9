"""A tool whose name contains ``/`` works in every API route and page that names a tool."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.server.conftest import LiveServer, serving
from tests.server.test_pages import signed_in
from toolkeeper._secrets import generate_key
from toolkeeper.keeper import Keeper
from toolkeeper.server import Role, ServerSettings, TokenRegistry, create_app

NAME = "team/search/v2"
ENCODED = quote(NAME, safe="")
CONFIG = f"""\
[tools."{NAME}"]
api_endpoint = "http://127.0.0.1:9/v1"
"""


@pytest.fixture
def server(
    store_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LiveServer]:
    """Serve a keeper, on each SQL store, whose one tool has slashes in its name, after one call."""
    monkeypatch.setenv("TOOLKEEPER_SECRET_KEY", generate_key())
    for variable in ("TOOLKEEPER_ENV", "TOOLKEEPER_CONFIG", "TOOLKEEPER_STORE"):
        monkeypatch.delenv(variable, raising=False)
    path = tmp_path / "toolkeeper.toml"
    path.write_text(CONFIG)
    keeper = Keeper.open(path, store=store_uri)
    try:

        @keeper.tool(NAME, operation="query")
        def query(text: str) -> str:
            return text.upper()

        query("hello")
        keeper.monitoring.flush()
        app = create_app(keeper, settings=ServerSettings())
        registry = TokenRegistry(keeper.store)
        tokens = {Role.VIEWER: registry.create(Role.VIEWER, name="v")[1]}
        with serving(app) as base_url:
            yield LiveServer(base_url=base_url, keeper=keeper, app=app, tokens=tokens)
    finally:
        keeper.close()


def test_the_tool_api_routes_answer_for_a_name_with_slashes(server: LiveServer) -> None:
    """GET the tool, its metrics, its configuration and its history by the encoded name."""
    with server.client(Role.VIEWER) as client:
        detail = client.get(f"/api/v1/tools/{ENCODED}")
        assert detail.status_code == 200, detail.text
        assert detail.json()["name"] == NAME
        metrics = client.get(f"/api/v1/tools/{ENCODED}/metrics", params={"since": "15m"})
        assert metrics.status_code == 200, metrics.text
        assert metrics.json()["tool"] == NAME
        config = client.get(f"/api/v1/config/{ENCODED}")
        assert config.status_code == 200, config.text
        assert config.json()["tool"] == NAME
        history = client.get(f"/api/v1/config/{ENCODED}/history")
        assert history.status_code == 200, history.text
        unknown = client.get(f"/api/v1/tools/{quote('team/other', safe='')}")
        assert unknown.status_code == 404


def test_the_tool_page_opens_from_the_dashboards_link(server: LiveServer) -> None:
    """The dashboard links to the tool by its encoded name, and that page shows the tool."""
    with signed_in(server, Role.VIEWER) as client:
        page = client.get("/").text
        links = {unescape(href) for href in re.findall(r'href="([^"]*/tools/[^"]*)"', page)}
        assert links == {"/tools/" + quote(NAME)}
        response = client.get(f"/tools/{ENCODED}")
        assert response.status_code == 200
        assert "No tool is named" not in response.text
        assert NAME in unescape(response.text)
