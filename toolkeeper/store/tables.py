"""Define the store's tables with SQLAlchemy Core.

JSON columns are ``Text`` holding ``json.dumps(..., sort_keys=True)``, so SQLite
and PostgreSQL store and compare the same bytes. The schema itself is created and
changed only by the Alembic migrations in ``migrations/versions``; these objects
describe it for queries and must agree with the latest migration.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Dialect,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)

__all__ = ["VERSION_TABLE", "UTCDateTime", "config_versions", "metadata"]

#: Alembic's revision table, named so it cannot clash with an application's own
#: ``alembic_version`` when the store shares a database with it.
VERSION_TABLE = "toolkeeper_schema_version"

metadata = MetaData()


class UTCDateTime(TypeDecorator[datetime]):
    """Store timezone-aware datetimes as UTC and always read them back aware, in UTC.

    SQLite keeps no offset, so a naive value read from it is UTC by construction.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(
        self,
        value: datetime | None,
        dialect: Dialect,  # noqa: ARG002 - signature fixed by TypeDecorator
    ) -> datetime | None:
        """Refuse naive datetimes and convert aware ones to UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"a stored time must be timezone-aware, got {value!r}")
        return value.astimezone(UTC)

    def process_result_value(
        self,
        value: Any,
        dialect: Dialect,  # noqa: ARG002 - signature fixed by TypeDecorator
    ) -> datetime | None:
        """Return the stored time as an aware UTC datetime."""
        if value is None:
            return None
        assert isinstance(value, datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


config_versions = Table(
    "config_versions",
    metadata,
    # A global, ever-growing cursor: pollers ask for ids above the last one they saw.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("environment", String(200), nullable=False),
    Column("tool", String(200), nullable=False),
    Column("version", Integer, nullable=False),
    Column("values", Text, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("reason", Text, nullable=False),
    Column("source", String(50), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("diff", Text, nullable=False),
    UniqueConstraint("environment", "tool", "version", name="uq_config_versions_version"),
    # Never reuse an id, even of a row deleted later: a poller's cursor must only grow.
    sqlite_autoincrement=True,
)
