"""Fixtures for store tests: an opened store on every real backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from toolkeeper.store import open_store
from toolkeeper.store.sql import Store


@pytest.fixture
def store(store_uri: str) -> Iterator[Store]:
    """Open a fresh store on each real backend and close it afterwards."""
    opened = open_store(store_uri)
    yield opened
    opened.close()
