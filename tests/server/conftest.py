"""Fixtures: a real uvicorn server on loopback, on SQLite and PostgreSQL, with tokens."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from tests.conftest import service_url
from toolkeeper._secrets import generate_key
from toolkeeper.keeper import Keeper
from toolkeeper.server import Role, ServerSettings, TokenRegistry, create_app

CANARY = "sk-canary-0123456789abcdef"
CANARY_VARIABLE = "TK_SERVER_CANARY"

CONFIG = f"""\
[tools.openai]
api_endpoint = "https://api.example.com/v1"
api_key = "env:{CANARY_VARIABLE}"
timeout_seconds = 30
max_retry_attempts = 0

[tools.local]
api_endpoint = "http://127.0.0.1:9/v1"

[environments.production.tools.openai]
timeout_seconds = 10
"""


@dataclass
class LiveServer:
    """A running server: its URL, the keeper it serves, and a token per role."""

    base_url: str
    keeper: Keeper
    app: FastAPI
    tokens: dict[Role, str] = field(default_factory=dict)

    def client(self, role: Role | None = None, **options: Any) -> httpx.Client:
        """Return a client for the server, sending the role's bearer token when one is named."""
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role is not None else {}
        # 30 s: a write waits for SQLite's lock behind the writer's batch, which a
        # loaded 2-core machine can hold for seconds; the tests judge answers, not speed.
        return httpx.Client(
            base_url=self.base_url, headers=headers, timeout=30, trust_env=False, **options
        )


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """Run ``app`` under uvicorn in a thread on a free loopback port; yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


@contextmanager
def postgres_database() -> Iterator[str]:
    """Create a fresh PostgreSQL database for a module of tests and drop it afterwards."""
    import psycopg

    server = service_url("TOOLKEEPER_TEST_POSTGRES")
    name = f"tk_server_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = server.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_workload(keeper: Keeper) -> None:
    """Record successes, a failure quoting the canary secret, and fallbacks through the wrapper."""

    def local_answer(prompt: str) -> str:
        return f"local: {prompt}"

    @keeper.tool("openai", operation="chat", fallback=local_answer)
    def chat(prompt: str) -> str:
        if prompt.startswith("fail"):
            raise RuntimeError(f"upstream refused key {CANARY} for {prompt}")
        return f"remote: {prompt}"

    @keeper.tool("openai", operation="embed")
    def embed(text: str) -> list[float]:
        if text == "boom":
            raise ValueError(f"bad request with Authorization: Bearer {CANARY}")
        return [0.1, 0.2]

    for index in range(8):
        chat(f"hello {index}")
    chat("fail once")
    embed("ok")
    with pytest.raises(ValueError, match="bad request"):
        embed("boom")
    keeper.monitoring.flush()


@contextmanager
def live(store_uri: str, tmp_path: Path, **settings: Any) -> Iterator[LiveServer]:
    """Open a keeper on ``store_uri``, serve it, and issue one token per role."""
    path = tmp_path / "toolkeeper.toml"
    path.write_text(CONFIG)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CANARY_VARIABLE, CANARY)
        patch.setenv("TOOLKEEPER_SECRET_KEY", generate_key())
        for variable in ("TOOLKEEPER_ENV", "TOOLKEEPER_CONFIG", "TOOLKEEPER_STORE"):
            patch.delenv(variable, raising=False)
        keeper = Keeper.open(path, store=store_uri, poll_interval_seconds=0.5)
        try:
            app = create_app(
                keeper, settings=ServerSettings(events_interval_seconds=0.3, **settings)
            )
            registry = TokenRegistry(keeper.store)
            tokens = {role: registry.create(role, name=f"{role.value}-test")[1] for role in Role}
            with serving(app) as base_url:
                run_workload(keeper)
                yield LiveServer(base_url=base_url, keeper=keeper, app=app, tokens=tokens)
        finally:
            keeper.close()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def live_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """Serve a keeper over real HTTP, on an SQLite file and then on a PostgreSQL database."""
    tmp_path = tmp_path_factory.mktemp("server")
    if request.param == "sqlite":
        with live(f"sqlite:///{tmp_path / 'state.db'}", tmp_path) as server:
            yield server
        return
    with postgres_database() as url, live(url, tmp_path) as server:
        yield server


@pytest.fixture(scope="module")
def sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Serve a keeper over real HTTP on an SQLite file (for tests that need one backend only)."""
    tmp_path = tmp_path_factory.mktemp("server")
    with live(f"sqlite:///{tmp_path / 'state.db'}", tmp_path) as server:
        yield server


def version_of(client: httpx.Client, tool: str) -> int:
    """Return a tool's current configuration version, read from its ETag."""
    response = client.get(f"/api/v1/config/{tool}")
    assert response.status_code == 200, response.text
    return int(response.headers["etag"].strip('"'))
