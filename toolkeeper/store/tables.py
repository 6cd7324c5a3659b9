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
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)

__all__ = [
    "VERSION_TABLE",
    "UTCDateTime",
    "alert_config_versions",
    "alert_events",
    "alert_groups",
    "alert_silences",
    "alert_states",
    "api_tokens",
    "budget_overshoots",
    "budget_reservations",
    "budget_spend",
    "budget_warnings",
    "config_versions",
    "metadata",
    "server_keys",
]

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


# Budgets (toolkeeper.costs). Money is whole nano-dollars in BigInteger columns: SQLite
# would keep a Numeric as a float. Times of buckets and periods are UTC epoch seconds.

budget_spend = Table(
    "budget_spend",
    metadata,
    # A budget's key: its scope and period, such as "tool:openai|daily@Europe/Paris".
    Column("budget", String(400), primary_key=True),
    Column("bucket", BigInteger, primary_key=True, autoincrement=False),
    Column("spent_nanos", BigInteger, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

budget_reservations = Table(
    "budget_reservations",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("budget", String(400), primary_key=True),
    Column("amount_nanos", BigInteger, nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Index("ix_budget_reservations_budget", "budget", "expires_at"),
)

budget_warnings = Table(
    "budget_warnings",
    metadata,
    # One row per warning threshold reached per period: the deduplication of warnings.
    Column("budget", String(400), primary_key=True),
    Column("period", BigInteger, primary_key=True, autoincrement=False),
    Column("threshold", String(20), primary_key=True),
    Column("spent_nanos", BigInteger, nullable=False),
    Column("fired_at", UTCDateTime(), nullable=False),
)

budget_overshoots = Table(
    "budget_overshoots",
    metadata,
    # Per tool, all-time: the calls whose actual cost exceeded their reservation.
    Column("tool", String(200), primary_key=True),
    Column("calls", BigInteger, nullable=False),
    Column("amount_nanos", BigInteger, nullable=False),
    Column("largest_nanos", BigInteger, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)


# The server's credentials (toolkeeper.server). Tokens are kept only as SHA-256 hashes;
# see toolkeeper.server.tokens for why a fast hash is right for them.

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("role", String(20), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("last_used_at", UTCDateTime(), nullable=True),
    Column("revoked", Boolean, nullable=False, default=False),
    Column("revoked_at", UTCDateTime(), nullable=True),
    Column("expires_at", UTCDateTime(), nullable=True),
    sqlite_autoincrement=True,
)

server_keys = Table(
    "server_keys",
    metadata,
    # Keys the server generates once and shares with every process on the store,
    # such as "session" (signs session cookies).
    Column("name", String(100), primary_key=True),
    Column("value", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)


# Alerts (toolkeeper.alerts). One state row per (rule, tool) that was ever pending or
# firing; every change of state is a compare-and-set on its version, so evaluators in
# several processes never both make (and notify) the same transition.

alert_states = Table(
    "alert_states",
    metadata,
    Column("rule", String(200), primary_key=True),
    Column("tool", String(200), primary_key=True),
    Column("state", String(20), nullable=False),
    Column("since", UTCDateTime(), nullable=False),
    Column("value", Float, nullable=True),
    Column("fired_at", UTCDateTime(), nullable=True),
    Column("resolved_at", UTCDateTime(), nullable=True),
    Column("last_notified_at", UTCDateTime(), nullable=True),
    # The silence that suppressed this alert's last due notification, if one did.
    Column("silenced_by", Integer, nullable=True),
    Column("version", Integer, nullable=False),
    Column("evaluated_at", UTCDateTime(), nullable=False),
    # The firing alert ("rule/tool") an inhibition rule mutes this one with.
    Column("inhibited_by", String(401), nullable=True),
    Column("acknowledged_by", String(200), nullable=True),
    Column("acknowledged_at", UTCDateTime(), nullable=True),
    Column("ack_comment", Text, nullable=True),
    Column("escalation_level", Integer, nullable=False, server_default="1"),
    # When a firing alert's condition turned false (keep_firing_for counts from it).
    Column("clear_since", UTCDateTime(), nullable=True),
    # The evaluation error of an alert in the "error" state.
    Column("error", Text, nullable=True),
)

# One row per notification group (a route and the values of its group_by labels): when it
# opened, when it last sent, which alerts that notification listed as firing. Sending is a
# compare-and-set on its version, so one process sends each grouped notification.
alert_groups = Table(
    "alert_groups",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("route", String(200), nullable=False),
    Column("group_key", Text, nullable=False),
    Column("opened_at", UTCDateTime(), nullable=True),
    Column("flushed_at", UTCDateTime(), nullable=True),
    Column("notified", Text, nullable=False),
    Column("version", Integer, nullable=False),
)

# Alerting's runtime configuration (rules, policies, inhibition, escalations, schedules,
# time intervals) as versioned JSON documents: the newest version overrides the file's.
alert_config_versions = Table(
    "alert_config_versions",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("document", Text, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("reason", Text, nullable=False),
    Column("source", String(20), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

alert_events = Table(
    "alert_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("rule", String(200), nullable=False),
    Column("tool", String(200), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("detail", Text, nullable=False),
    Index("ix_alert_events_at", "at"),
    sqlite_autoincrement=True,
)

alert_silences = Table(
    "alert_silences",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # fnmatch globs over rule names and tool names.
    Column("rule", String(200), nullable=False),
    Column("tool", String(200), nullable=False),
    Column("starts_at", UTCDateTime(), nullable=False),
    Column("ends_at", UTCDateTime(), nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("comment", Text, nullable=False),
    Column("expired_by", String(200), nullable=True),
    Column("expired_at", UTCDateTime(), nullable=True),
    # A JSON list of label matchers ('team="pay"'), all of which must hold too; NULL: none.
    Column("matchers", Text, nullable=True),
    Index("ix_alert_silences_ends_at", "ends_at"),
    sqlite_autoincrement=True,
)
