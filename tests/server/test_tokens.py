"""The token registry on every real store: hashed storage, roles, revocation, the session key."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from toolkeeper._clock import FakeClock
from toolkeeper._errors import ToolkeeperError
from toolkeeper.server import Role, TokenRegistry
from toolkeeper.store import open_store
from toolkeeper.store.sql import Store
from toolkeeper.store.tables import api_tokens


@pytest.fixture
def store(store_uri: str) -> Iterator[Store]:
    """Open a fresh store on each real backend."""
    opened = open_store(store_uri)
    yield opened
    opened.close()


def test_a_token_is_random_prefixed_and_stored_only_as_its_hash(store: Store) -> None:
    """Tokens are tk_ plus 43 URL-safe characters; the table holds the SHA-256, not the token."""
    registry = TokenRegistry(store)
    record, token = registry.create(Role.ADMIN, name="ana")
    assert re.fullmatch(r"tk_[A-Za-z0-9_-]{43}", token)
    assert record.name == "ana"
    assert record.role is Role.ADMIN
    with store.transaction(write=False) as conn:
        rows = conn.execute(select(api_tokens)).mappings().all()
    assert [row["token_hash"] for row in rows] == [hashlib.sha256(token.encode()).hexdigest()]
    assert all(token not in str(dict(row)) for row in rows)
    assert token not in repr(record)


def test_authenticate_accepts_live_tokens_only(store: Store) -> None:
    """A live token authenticates; a revoked, altered or malformed one does not."""
    registry = TokenRegistry(store)
    _, token = registry.create(Role.VIEWER, name="vic")
    found = registry.authenticate(token)
    assert found is not None
    assert found.name == "vic"
    assert registry.authenticate(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert registry.authenticate("not a token") is None
    registry.revoke("vic")
    assert registry.authenticate(token) is None
    assert registry.get(found.id) is None
    assert [t.revoked for t in registry.list()] == [True]


def test_names_are_unique_and_checked(store: Store) -> None:
    """A name may be used once; odd names are refused with the rule."""
    registry = TokenRegistry(store)
    registry.create(Role.VIEWER, name="ci")
    with pytest.raises(ToolkeeperError, match="already exists"):
        registry.create(Role.ADMIN, name="ci")
    with pytest.raises(ToolkeeperError, match="not allowed"):
        registry.create(Role.ADMIN, name="has space")
    generated, _ = registry.create("operator")
    assert generated.name.startswith("operator-")


def test_revoking_an_unknown_name_lists_the_tokens(store: Store) -> None:
    """Revoking a token that does not exist names the ones that do."""
    registry = TokenRegistry(store)
    registry.create(Role.VIEWER, name="vic")
    with pytest.raises(ToolkeeperError, match="no token named 'nobody'; tokens: vic"):
        registry.revoke("nobody")


def test_last_use_is_written_at_most_once_a_minute(store: Store) -> None:
    """Authenticating records the last use, but not more often than the touch interval."""
    clock = FakeClock()
    registry = TokenRegistry(store, clock=clock, touch_interval=timedelta(minutes=1))
    _, token = registry.create(Role.VIEWER, name="vic")
    first = registry.authenticate(token)
    assert first is not None
    assert first.last_used_at == clock.now()
    clock.advance(30)
    assert registry.list()[0].last_used_at == first.last_used_at
    registry.authenticate(token)
    assert registry.list()[0].last_used_at == first.last_used_at
    clock.advance(31)
    registry.authenticate(token)
    assert registry.list()[0].last_used_at == clock.now()


def test_the_session_key_is_made_once_per_store(store: Store) -> None:
    """Every registry on one store gets the same session key."""
    key = TokenRegistry(store).session_key()
    assert len(key) >= 40
    assert TokenRegistry(store).session_key() == key


def test_roles_are_ordered() -> None:
    """viewer < operator < admin."""
    assert Role.ADMIN.allows(Role.OPERATOR)
    assert Role.OPERATOR.allows(Role.VIEWER)
    assert not Role.VIEWER.allows(Role.OPERATOR)
    assert not Role.OPERATOR.allows(Role.ADMIN)
