"""A rule selecting a model, end to end: real calls, the store's rollups, the API, page and CLI."""

from __future__ import annotations

import contextlib
import html
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.server.conftest import LiveServer, postgres_database, serving
from tests.server.test_sessions import browser, sign_in
from tests.test_cli_alerts import make_app
from toolkeeper._secrets import generate_key
from toolkeeper.cli._output import console
from toolkeeper.keeper import Keeper
from toolkeeper.server import Role, ServerSettings, TokenRegistry, create_app

CONFIG = """\
[tools.llm]
api_endpoint = "http://127.0.0.1:9/v1"

[[alerts.rules]]
name = "gpt4o-chat-errors"
tool = "llm"
matchers = ['operation="chat"', 'model=~"gpt-4o"']
metric = "error_rate"
op = ">"
threshold = 0.5
min_calls = 1
severity = "critical"

[[alerts.rules]]
name = "llm-errors"
tool = "llm"
metric = "error_rate"
op = ">"
threshold = 0.5
min_calls = 1
"""
SELECTOR = 'llm{operation="chat", model=~"gpt-4o"}'


def call(keeper: Keeper, operation: str, model: str, *, fail: bool) -> None:
    """Make one call of ``llm`` served by ``model``, failing or not."""
    with contextlib.suppress(RuntimeError), keeper.operation("llm", operation) as op:
        op.usage(model=model, input_tokens=10, output_tokens=5)
        if fail:
            raise RuntimeError("upstream 500")


@contextlib.contextmanager
def selecting(store_uri: str, tmp_path: Path) -> Iterator[LiveServer]:
    """Serve a keeper whose gpt-4o chat calls fail while its other calls succeed."""
    path = tmp_path / "toolkeeper.toml"
    path.write_text(CONFIG)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TOOLKEEPER_SECRET_KEY", generate_key())
        for variable in ("TOOLKEEPER_ENV", "TOOLKEEPER_CONFIG", "TOOLKEEPER_STORE"):
            patch.delenv(variable, raising=False)
        keeper = Keeper.open(path, store=store_uri, follow_changes=False)
        try:
            for _ in range(3):
                call(keeper, "chat", "gpt-4o", fail=True)
            for _ in range(9):
                call(keeper, "chat", "gpt-4o-mini", fail=False)
            keeper.flush()
            keeper.alerts.evaluate()
            app = create_app(keeper, settings=ServerSettings(events_interval_seconds=0.5))
            registry = TokenRegistry(keeper.store)
            tokens = {role: registry.create(role, name=f"{role.value}-test")[1] for role in Role}
            with serving(app) as base_url:
                yield LiveServer(base_url=base_url, keeper=keeper, app=app, tokens=tokens)
        finally:
            keeper.close()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """Serve the keeper on an SQLite file and then on a PostgreSQL database."""
    tmp_path = tmp_path_factory.mktemp("selection")
    if request.param == "sqlite":
        with selecting(f"sqlite:///{tmp_path / 'state.db'}", tmp_path) as served:
            yield served
        return
    with postgres_database() as url, selecting(url, tmp_path) as served:
        yield served


def test_the_api_shows_the_matchers_and_the_alert_they_fire(server: LiveServer) -> None:
    """GET /alerts lists the rule's matchers and fires it on gpt-4o's calls alone."""
    with server.client(Role.VIEWER) as client:
        body = client.get("/api/v1/alerts").json()
    rules = {rule["name"]: rule for rule in body["rules"]}
    assert rules["gpt4o-chat-errors"]["matchers"] == ['operation="chat"', 'model=~"gpt-4o"']
    assert rules["llm-errors"]["matchers"] == []
    states = {status["rule"]: status for status in body["statuses"]}
    assert states["gpt4o-chat-errors"]["state"] == "firing"
    assert states["gpt4o-chat-errors"]["value"] == pytest.approx(1.0)
    assert states["gpt4o-chat-errors"]["labels"]["operation"] == "chat"
    assert "llm-errors" not in states  # 3 failures in 12 calls: never pending, never stored


def test_the_page_shows_what_a_rule_selects(server: LiveServer) -> None:
    """The alerts page's rules table shows the selector of a rule with matchers."""
    with browser(server) as client:
        sign_in(client, server.tokens[Role.VIEWER])
        page = html.unescape(client.get("/alerts").text)
    assert f"<code>{SELECTOR}</code>" in page


def test_the_cli_lists_the_matchers(
    server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``toolkeeper alerts list`` shows the selector, and its JSON the matchers."""
    monkeypatch.setattr(console, "_width", 200)  # a wide terminal: the selector on one line
    config = tmp_path / "toolkeeper.toml"
    config.write_text(CONFIG)
    options = ["--config", str(config), "--store", server.keeper.store.uri]
    listed = CliRunner().invoke(make_app(), [*options, "alerts", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    rules = {rule["name"]: rule for rule in json.loads(listed.output)["rules"]}
    assert rules["gpt4o-chat-errors"]["matchers"] == ['operation="chat"', 'model=~"gpt-4o"']
    table = CliRunner().invoke(make_app(), [*options, "alerts", "list"])
    assert table.exit_code == 0, table.output
    assert SELECTOR in table.output
