"""The recent operations and failures a server shows are every process's, read from the store."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import pytest

from tests.server.conftest import LiveServer, serving
from tests.server.test_pages import signed_in
from tests.test_cli_provider_errors import CONFIG, served_outage  # noqa: F401 - a fixture
from toolkeeper._secrets import generate_key
from toolkeeper.keeper import Keeper
from toolkeeper.server import Role, ServerSettings, TokenRegistry, create_app


def _rows(page: str, heading: str) -> list[str]:
    """Return the text of each operation row of the table that follows ``heading``."""
    table = page.split(heading, 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr data-operation=[^>]*>(.*?)</tr>", table, flags=re.S)
    return [" ".join(unescape(re.sub(r"<[^>]+>", " ", row)).split()) for row in rows]


def test_a_server_beside_the_application_lists_its_operations_and_failures(
    served_outage: str,  # noqa: F811 - the fixture imported above
    tmp_path: Path,
) -> None:
    """A server in another process shows the application's 5 calls and its 3 failed attempts."""
    config = tmp_path / "serve.toml"
    config.write_text(CONFIG)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TOOLKEEPER_SECRET_KEY", generate_key())
        for variable in ("TOOLKEEPER_ENV", "TOOLKEEPER_CONFIG", "TOOLKEEPER_STORE"):
            patch.delenv(variable, raising=False)
        keeper = Keeper.open(config, store=served_outage, follow_changes=False)
    try:
        app = create_app(keeper, settings=ServerSettings())
        registry = TokenRegistry(keeper.store)
        token = registry.create(Role.VIEWER, name="viewer")[1]
        with serving(app) as base_url:
            tokens = {Role.VIEWER: token}
            server = LiveServer(base_url=base_url, keeper=keeper, app=app, tokens=tokens)
            with signed_in(server, Role.VIEWER) as client:
                dashboard = client.get("/")
                tool = client.get("/tools/llm")
    finally:
        keeper.close()
    assert dashboard.status_code == 200, dashboard.text
    assert tool.status_code == 200, tool.text
    operations = _rows(dashboard.text, "Recent operations")
    assert len(operations) == 5, operations
    assert sum("fallback" in row for row in operations) == 3, operations
    failures = _rows(tool.text, "Recent failures")
    assert len(failures) == 3, failures
    assert all("Provider error, fallback served" in row for row in failures), failures
    assert all("upstream down" in row for row in failures), failures
