"""The token registry on every real store: hashed storage, roles, revocation, the session key."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from toolkeeper._clock import FakeClock
from toolkeeper._errors import ToolkeeperError
from toolkeeper._secrets import Keyring, generate_key
from toolkeeper.server import Role, TokenRegistry
from toolkeeper.store import open_store
from toolkeeper.store.sql import Store
from toolkeeper.store.tables import api_tokens, server_keys
from toolkeeper.store.tokens import TokenTable

NOW = datetime(2026, 1, 1, tzinfo=UTC)


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
    """Every registry on one store, with the same keyring, gets the same session key."""
    keyring = Keyring([generate_key()])
    key = TokenRegistry(store).session_key(keyring)
    assert len(key) >= 40
    assert TokenRegistry(store).session_key(keyring) == key


def _stored_session_key(store: Store) -> str:
    with store.transaction(write=False) as conn:
        return str(conn.execute(select(server_keys.c.value)).scalar_one())


def test_the_session_key_is_stored_encrypted(store: Store) -> None:
    """The store holds the session key only as an enc: value the keyring opens."""
    keyring = Keyring([generate_key()])
    key = TokenRegistry(store).session_key(keyring)
    stored = _stored_session_key(store)
    assert stored.startswith("enc:")
    assert key not in stored
    assert keyring.decrypt(stored) == key


def test_a_session_key_left_in_clear_is_replaced(store: Store) -> None:
    """A clear key written by an older version is never used: a new encrypted one replaces it."""
    clear = TokenTable(store).server_key("session", lambda: "clear-old-key-0123456789", now=NOW)
    keyring = Keyring([generate_key()])
    key = TokenRegistry(store).session_key(keyring)
    assert key != clear
    assert _stored_session_key(store).startswith("enc:")
    assert TokenRegistry(store).session_key(keyring) == key


def test_without_a_keyring_the_session_key_is_never_stored(store: Store) -> None:
    """With no secret key, each call makes a process-local key and the store holds none."""
    first = TokenRegistry(store).session_key(None)
    assert TokenRegistry(store).session_key(None) != first
    with store.transaction(write=False) as conn:
        assert conn.execute(select(server_keys)).first() is None


def test_roles_are_ordered() -> None:
    """viewer < operator < admin."""
    assert Role.ADMIN.allows(Role.OPERATOR)
    assert Role.OPERATOR.allows(Role.VIEWER)
    assert not Role.VIEWER.allows(Role.OPERATOR)
    assert not Role.OPERATOR.allows(Role.ADMIN)


def test_a_token_with_an_expiry_stops_working_then(store: Store) -> None:
    """A token created to expire in 30 days opens until then, and never after, sessions included."""
    clock = FakeClock()
    registry = TokenRegistry(store, clock=clock)
    record, token = registry.create(Role.ADMIN, name="temp", expires_in=timedelta(days=30))
    assert record.expires_at == clock.now() + timedelta(days=30)
    assert registry.authenticate(token) is not None
    clock.advance(timedelta(days=30).total_seconds() - 1)
    assert registry.authenticate(token) is not None
    clock.advance(1)
    assert registry.authenticate(token) is None
    assert registry.get(record.id) is None
    (listed,) = registry.list()
    assert listed.expired(clock.now())
    assert listed.last_used_at is not None


def test_a_token_without_expiry_never_expires(store: Store) -> None:
    """A token created without a lifetime still opens years later."""
    clock = FakeClock()
    registry = TokenRegistry(store, clock=clock)
    record, token = registry.create(Role.VIEWER, name="forever")
    assert record.expires_at is None
    clock.advance(timedelta(days=3650).total_seconds())
    assert registry.authenticate(token) is not None


def test_a_lifetime_must_be_positive(store: Store) -> None:
    """A zero or negative lifetime is refused with the value."""
    with pytest.raises(ToolkeeperError, match="must be positive"):
        TokenRegistry(store).create(Role.VIEWER, expires_in=timedelta(0))


# A server's registry remembers live tokens for a second (cache_seconds).


def test_a_remembered_token_is_refused_at_once_when_this_registry_revokes_it(
    store: Store,
) -> None:
    """Revoking through the registry that remembers a token forgets it: the next check refuses."""
    clock = FakeClock()
    registry = TokenRegistry(store, clock=clock, cache_seconds=1.0)
    record, token = registry.create(Role.OPERATOR, name="op")
    assert registry.authenticate(token) is not None
    assert registry.get(record.id) is not None
    assert registry.recall(token) is not None
    registry.revoke("op")
    assert registry.recall(token) is None
    assert registry.recall_id(record.id) is None
    assert registry.authenticate(token) is None
    assert registry.get(record.id) is None


def test_a_revocation_by_any_registry_of_the_same_store_is_seen_at_once(store: Store) -> None:
    """Another registry of this process's store revokes: the remembering one refuses at once."""
    clock = FakeClock()
    server = TokenRegistry(store, clock=clock, cache_seconds=1.0)
    record, token = server.create(Role.VIEWER, name="ann")
    _, other = server.create(Role.VIEWER, name="bob")
    assert server.authenticate(token) is not None
    assert server.authenticate(other) is not None
    TokenRegistry(store).revoke("ann")  # what the CLI's code does, in this process
    assert server.recall(token) is None
    assert server.authenticate(token) is None
    assert server.get(record.id) is None
    assert server.authenticate(other) is not None  # looked up again, still live


def test_a_lookup_that_a_revocation_overtakes_is_not_remembered(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A token read live just before another thread revoked it is returned once, not kept."""
    clock = FakeClock()
    server = TokenRegistry(store, clock=clock, cache_seconds=1.0)
    _, token = server.create(Role.VIEWER, name="racy")
    table = server._table
    by_hash = table.by_hash

    def read_then_revoked(digest: str) -> object:
        found = by_hash(digest)  # the store says live …
        TokenRegistry(store).revoke("racy")  # … and a revocation lands before it is kept
        return found

    monkeypatch.setattr(table, "by_hash", read_then_revoked)
    assert server.authenticate(token) is not None
    monkeypatch.setattr(table, "by_hash", by_hash)
    assert server.recall(token) is None
    assert server.authenticate(token) is None


def test_a_revocation_by_another_process_takes_effect_within_the_cache_time(
    store: Store, store_uri: str
) -> None:
    """A token revoked through another connection is trusted only until cache_seconds pass."""
    clock = FakeClock()
    server = TokenRegistry(store, clock=clock, cache_seconds=1.0)
    record, token = server.create(Role.VIEWER, name="vic")
    assert server.authenticate(token) is not None
    assert server.get(record.id) is not None
    elsewhere = open_store(store_uri)  # its own engine and connections, as another process has
    try:
        assert TokenRegistry(elsewhere).revoke("vic").revoked
    finally:
        elsewhere.close()
    clock.advance(0.5)
    remembered = server.authenticate(token)
    assert remembered is not None  # trusted from memory, as documented, for at most a second
    assert remembered.name == "vic"
    assert server.get(record.id) is not None
    clock.advance(0.501)
    assert server.recall(token) is None
    assert server.authenticate(token) is None
    assert server.get(record.id) is None


def test_a_failed_lookup_is_never_remembered(store: Store) -> None:
    """Unknown, malformed and revoked tokens are asked of the store every time, never remembered."""
    clock = FakeClock()
    registry = TokenRegistry(store, clock=clock, cache_seconds=1.0)
    _, revoked = registry.create(Role.ADMIN, name="gone")
    registry.revoke("gone")
    unknown = "tk_" + "A" * 43
    for token in (unknown, "not a token", revoked):
        assert registry.authenticate(token) is None
        assert registry.recall(token) is None
    assert registry.get(999) is None
    assert registry.recall_id(999) is None
    assert registry._recent is not None
    assert registry._recent.digests() == []


def test_the_cache_keeps_digests_and_roles_never_tokens(store: Store) -> None:
    """What a registry remembers is keyed by SHA-256 and holds each role, never the token."""
    registry = TokenRegistry(store, clock=FakeClock(), cache_seconds=1.0)
    issued = {role: registry.create(role, name=role.value)[1] for role in Role}
    for role, token in issued.items():
        found = registry.authenticate(token)
        assert found is not None
        assert found.role is role
    for role, token in issued.items():
        recalled = registry.recall(token)
        assert recalled is not None
        assert (recalled.name, recalled.role) == (role.value, role)
    assert registry._recent is not None
    assert sorted(registry._recent.digests()) == sorted(
        hashlib.sha256(token.encode()).hexdigest() for token in issued.values()
    )
    held = repr(vars(registry._recent)) + repr(list(registry._recent._by_digest.items()))
    assert not any(token in held or token[3:] in held for token in issued.values())


def test_a_remembered_token_that_expires_is_refused(store: Store) -> None:
    """A token's own expiry is checked on every use, remembered or not."""
    clock = FakeClock()
    registry = TokenRegistry(store, clock=clock, cache_seconds=1.0)
    record, token = registry.create(Role.VIEWER, name="brief", expires_in=timedelta(seconds=0.5))
    assert registry.authenticate(token) is not None
    assert registry.get(record.id) is not None
    clock.advance(0.5)
    assert registry.recall(token) is None
    assert registry.authenticate(token) is None
    assert registry.get(record.id) is None


def test_the_cache_is_bounded(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A registry remembers at most its cache size of tokens; the others are looked up again."""
    import toolkeeper.server.tokens as tokens_module

    monkeypatch.setattr(tokens_module, "_CACHE_SIZE", 2)
    registry = TokenRegistry(store, clock=FakeClock(), cache_seconds=1.0)
    issued = [registry.create(Role.VIEWER, name=f"t{i}")[1] for i in range(3)]
    for token in issued:
        assert registry.authenticate(token) is not None
    assert registry._recent is not None
    assert len(registry._recent.digests()) == 2
    assert all(registry.authenticate(token) is not None for token in issued)


def test_without_cache_seconds_nothing_is_remembered(store: Store) -> None:
    """The CLI's registries (cache_seconds 0) ask the store on every check."""
    registry = TokenRegistry(store)
    _, token = registry.create(Role.VIEWER, name="cli")
    assert registry.authenticate(token) is not None
    assert registry.recall(token) is None
