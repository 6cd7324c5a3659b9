"""The server's credentials in the SQL store: API tokens (as hashes) and generated server keys.

The queries behind :class:`toolkeeper.server.tokens.TokenRegistry`. No plaintext
token ever reaches this module: callers pass the SHA-256 hash. Writes run in
transactions serialised by :data:`CREDENTIALS_LOCK_KEY` on PostgreSQL (SQLite's
``BEGIN IMMEDIATE`` does the same), so a get-or-create of a key is atomic across
processes sharing the store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, RowMapping, insert, select, update
from sqlalchemy.exc import IntegrityError

from toolkeeper._errors import ToolkeeperError
from toolkeeper.store.sql import Store
from toolkeeper.store.tables import api_tokens, server_keys

__all__ = ["CREDENTIALS_LOCK_KEY", "TokenRecord", "TokenTable"]

#: PostgreSQL advisory lock held by every credential write.
CREDENTIALS_LOCK_KEY = 0x746B_746F_6B6E  # "tktokn"

_t = api_tokens
_k = server_keys


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenRecord:
    """One stored API token: who it names, its role, and whether it still opens the door."""

    id: int
    name: str
    role: str
    token_hash: str = field(repr=False)
    created_at: datetime
    last_used_at: datetime | None
    revoked: bool
    revoked_at: datetime | None
    expires_at: datetime | None = None


class TokenTable:
    """Read and write the api_tokens and server_keys tables of one store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def insert(
        self,
        *,
        name: str,
        role: str,
        token_hash: str,
        created_at: datetime,
        expires_at: datetime | None = None,
    ) -> TokenRecord:
        """Store a new token; a name already taken is an error naming it."""
        row = {
            "name": name,
            "role": role,
            "token_hash": token_hash,
            "created_at": created_at,
            "revoked": False,
            "expires_at": expires_at,
        }
        try:
            with (
                self.store.translated(),
                self.store.transaction(write=True, serialize=CREDENTIALS_LOCK_KEY) as conn,
            ):
                taken = conn.execute(select(_t.c.id).where(_t.c.name == name)).first()
                if taken is not None:
                    raise ToolkeeperError(
                        f"a token named {name!r} already exists (revoked or not); "
                        "choose another name with --name"
                    )
                new_id = conn.execute(insert(_t).values(row).returning(_t.c.id)).scalar_one()
        except IntegrityError as exc:  # a concurrent insert of the same name
            raise ToolkeeperError(f"a token named {name!r} already exists") from exc
        found = self.by_id(new_id)
        assert found is not None
        return found

    def by_hash(self, token_hash: str) -> TokenRecord | None:
        """Return the token with this hash, revoked or not, or ``None``."""
        return self._one(_t.c.token_hash == token_hash)

    def by_id(self, token_id: int) -> TokenRecord | None:
        """Return the token with this id, revoked or not, or ``None``."""
        return self._one(_t.c.id == token_id)

    def by_name(self, name: str) -> TokenRecord | None:
        """Return the token with this name, revoked or not, or ``None``."""
        return self._one(_t.c.name == name)

    def all(self) -> list[TokenRecord]:
        """Return every token, oldest first."""
        with self.store.translated(), self.store.transaction(write=False) as conn:
            rows = conn.execute(select(_t).order_by(_t.c.id)).mappings().all()
        return [_record(row) for row in rows]

    def touch(self, token_id: int, when: datetime) -> None:
        """Set the token's last use to ``when``."""
        with self.store.translated(), self.store.transaction(write=True) as conn:
            conn.execute(update(_t).where(_t.c.id == token_id).values(last_used_at=when))

    def revoke(self, token_id: int, when: datetime) -> TokenRecord:
        """Mark the token revoked (idempotent: the first revocation time is kept)."""
        with (
            self.store.translated(),
            self.store.transaction(write=True, serialize=CREDENTIALS_LOCK_KEY) as conn,
        ):
            conn.execute(
                update(_t)
                .where((_t.c.id == token_id) & (_t.c.revoked == False))  # noqa: E712 - SQL
                .values(revoked=True, revoked_at=when)
            )
        self.store.note_revocation()
        found = self.by_id(token_id)
        if found is None:
            raise ToolkeeperError(f"no token with id {token_id}")
        return found

    def server_key(self, name: str, generate: Callable[[], str], *, now: datetime) -> str:
        """Return the key called ``name``, generating and storing it the first time.

        Every process sharing the store gets the same key: the first writer wins.
        """
        with self.store.translated():
            with self.store.transaction(write=False) as conn:
                value = conn.execute(select(_k.c.value).where(_k.c.name == name)).scalar()
            if value is not None:
                return str(value)
            with self.store.transaction(write=True, serialize=CREDENTIALS_LOCK_KEY) as conn:
                value = conn.execute(select(_k.c.value).where(_k.c.name == name)).scalar()
                if value is None:
                    value = generate()
                    conn.execute(insert(_k).values(name=name, value=value, created_at=now))
            return str(value)

    def replace_server_key(self, name: str, old: str, new: str, *, now: datetime) -> str:
        """Replace the key ``name`` by ``new`` if it is still ``old``; return the key now stored."""
        with (
            self.store.translated(),
            self.store.transaction(write=True, serialize=CREDENTIALS_LOCK_KEY) as conn,
        ):
            conn.execute(
                update(_k)
                .where((_k.c.name == name) & (_k.c.value == old))
                .values(value=new, created_at=now)
            )
            value = conn.execute(select(_k.c.value).where(_k.c.name == name)).scalar()
        return str(value)

    def _one(self, where: ColumnElement[bool]) -> TokenRecord | None:
        with self.store.translated(), self.store.transaction(write=False) as conn:
            row = conn.execute(select(_t).where(where)).mappings().first()
        return None if row is None else _record(row)


def _record(row: RowMapping) -> TokenRecord:
    return TokenRecord(
        id=row["id"],
        name=row["name"],
        role=row["role"],
        token_hash=row["token_hash"],
        created_at=row["created_at"],
        last_used_at=row["last_used_at"],
        revoked=bool(row["revoked"]),
        revoked_at=row["revoked_at"],
        expires_at=row["expires_at"],
    )
