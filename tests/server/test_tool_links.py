"""Links to a tool's page encode its name, so a name with a space, ``?``, ``#`` or ``%`` works."""

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

NAME = "search engine?v=2#50%"
CONFIG = f"""\
[tools."{NAME}"]
api_endpoint = "http://127.0.0.1:9/v1"
"""


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveServer]:
    """Serve a keeper whose one tool has a name full of URL delimiters, after one call."""
    monkeypatch.setenv("TOOLKEEPER_SECRET_KEY", generate_key())
    for variable in ("TOOLKEEPER_ENV", "TOOLKEEPER_CONFIG", "TOOLKEEPER_STORE"):
        monkeypatch.delenv(variable, raising=False)
    path = tmp_path / "toolkeeper.toml"
    path.write_text(CONFIG)
    keeper = Keeper.open(path, store=f"sqlite:///{tmp_path / 'state.db'}")
    try:

        @keeper.tool(NAME, operation="query")
        def query(text: str) -> str:
            return text.upper()

        query("hello")
        keeper.monitoring.flush()
        app = create_app(keeper, settings=ServerSettings())
        tokens = {Role.VIEWER: TokenRegistry(keeper.store).create(Role.VIEWER, name="v")[1]}
        with serving(app) as base_url:
            yield LiveServer(base_url=base_url, keeper=keeper, app=app, tokens=tokens)
    finally:
        keeper.close()


def test_every_link_to_the_tool_encodes_its_name_and_opens_its_page(server: LiveServer) -> None:
    """The dashboard's links to the tool carry its encoded name and each opens the tool's page."""
    with signed_in(server, Role.VIEWER) as client:
        page = client.get("/").text
        links = {unescape(href) for href in re.findall(r'href="([^"]*/tools/[^"]*)"', page)}
        assert links == {"/tools/" + quote(NAME)}
        for link in links:
            response = client.get(link)
            assert response.status_code == 200
            assert NAME in unescape(response.text)
