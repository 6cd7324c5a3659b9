"""Fixtures for cost tests: a ledger URI and an open ledger on every real backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from toolkeeper.costs import Ledger, open_ledger


@pytest.fixture(params=["memory", "sqlite", "postgresql", "redis"])
def ledger_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Return a ledger URI for each backend: memory, an SQLite file, PostgreSQL, Redis."""
    if request.param == "memory":
        return "memory://"
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    url: str = request.getfixturevalue(
        "postgres_url" if request.param == "postgresql" else "redis_url"
    )
    return url


@pytest.fixture
def ledger(ledger_uri: str) -> Iterator[Ledger]:
    """Open the ledger at ``ledger_uri`` and close it afterwards."""
    opened = open_ledger(ledger_uri)
    yield opened
    opened.close()
