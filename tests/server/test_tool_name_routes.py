"""Every tool route reads the right tool when one name extends another (``a`` and ``a/b``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.server.conftest import LiveServer, serving
from toolkeeper import ConfigValidationError
from toolkeeper._secrets import generate_key
from toolkeeper.keeper import Keeper
from toolkeeper.server import Role, ServerSettings, TokenRegistry, create_app

CONFIG = """\
[tools.a]
max_retry_attempts = 1

[tools."a/b"]
max_retry_attempts = 2
"""


@pytest.fixture
def server(store_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveServer]:
    """Serve a keeper, on each SQL store, with tools ``a`` and ``a/b``, each called once."""
    monkeypatch.setenv("TOOLKEEPER_SECRET_KEY", generate_key())
    for variable in ("TOOLKEEPER_ENV", "TOOLKEEPER_CONFIG", "TOOLKEEPER_STORE"):
        monkeypatch.delenv(variable, raising=False)
    path = tmp_path / "toolkeeper.toml"
    path.write_text(CONFIG)
    keeper = Keeper.open(path, store=store_uri, follow_changes=False)
    try:
        for name in ("a", "a/b"):
            with keeper.operation(name, "call"):
                pass
        keeper.flush()
        app = create_app(keeper, settings=ServerSettings())
        registry = TokenRegistry(keeper.store)
        tokens = {Role.VIEWER: registry.create(Role.VIEWER, name="v")[1]}
        with serving(app) as base_url:
            yield LiveServer(base_url=base_url, keeper=keeper, app=app, tokens=tokens)
    finally:
        keeper.close()


@pytest.mark.parametrize("encode", [True, False], ids=["encoded", "plain"])
def test_a_name_extending_another_reads_its_own_tool_on_every_route(
    server: LiveServer, encode: bool
) -> None:
    """``a/b`` (sent with its slash encoded or not) is never read as ``a`` followed by a view."""
    b = quote("a/b", safe="") if encode else "a/b"
    with server.client(Role.VIEWER) as client:
        for route in ("/api/v1/tools/{}", "/api/v1/config/{}"):
            for name, sent in (("a", "a"), ("a/b", b)):
                response = client.get(route.format(sent))
                assert response.status_code == 200, (route, response.text)
                body = response.json()
                assert body.get("name", body.get("tool")) == name
        metrics = client.get(f"/api/v1/tools/{b}/metrics", params={"since": "15m"})
        assert metrics.status_code == 200, metrics.text
        assert metrics.json()["tool"] == "a/b"
        config = client.get(f"/api/v1/config/{b}").json()
        assert config["values"]["max_retry_attempts"] == 2
        history = client.get(f"/api/v1/config/{b}/history")
        assert history.status_code == 200, history.text


def test_a_name_that_would_collide_with_a_route_is_refused_when_the_file_is_read(
    tmp_path: Path,
) -> None:
    """``a/metrics`` beside ``a`` would make /api/v1/tools/a/metrics mean two things: refused."""
    path = tmp_path / "toolkeeper.toml"
    path.write_text(CONFIG + '\n[tools."a/metrics"]\nmax_retry_attempts = 3\n')
    with pytest.raises(ConfigValidationError, match=r"tools\.a/metrics = 'a/metrics': a tool name"):
        Keeper.open(path, store="memory://", follow_changes=False)
