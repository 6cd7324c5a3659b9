"""Shared fixtures: real services (PostgreSQL, Redis) and store URIs for every backend."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--integrations``: also run the tests that need heavy extras (``[routellm]``)."""
    parser.addoption(
        "--integrations",
        action="store_true",
        help="run the tests marked 'integrations' (they need toolkeeper[routellm] installed)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the ``integrations`` tests unless ``--integrations`` asks for them."""
    if config.getoption("--integrations"):
        return
    kept = [item for item in items if item.get_closest_marker("integrations") is None]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept


def service_url(variable: str) -> str:
    """Return a real service's URL, failing under CI and skipping elsewhere when it is absent."""
    url = os.environ.get(variable)
    if url:
        return url
    message = f"{variable} is not set; run the tests through ./scripts/test.sh to start the service"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """Give a test its own, freshly created PostgreSQL database, dropped afterwards."""
    import psycopg

    server = service_url("TOOLKEEPER_TEST_POSTGRES")
    name = f"tk_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = server.rpartition("/")
    yield f"{base}/{name}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def redis_url() -> Iterator[str]:
    """Give a test a real Redis database, flushed before and after."""
    import redis

    url = service_url("TOOLKEEPER_TEST_REDIS")
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Return a store URI for each real backend: an SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def test_output() -> Path:
    """Return the folder where tests leave artefacts (screenshots, exports)."""
    path = Path(os.environ.get("TOOLKEEPER_TEST_OUTPUT", "test-output"))
    path.mkdir(parents=True, exist_ok=True)
    return path
