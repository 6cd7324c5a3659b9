"""Each writer's exact rollups, all-time totals and raw-row counts in the SQL store.

``rollups`` keeps one aggregated bucket per (writer, tool, operation, model,
resolution, minute or hour); ``operation_totals`` one per (writer, tool,
operation, model) since the writer started, never pruned; ``writers`` one row of
raw-row counts per writer. Each writing process owns its rows and overwrites them
with its running values, built from its exact aggregates (never from the raw rows
that reached the store): writers never contend for a row, readers add writers up,
and a fleet total summed over ``operation_totals`` never decreases.
Model ``""`` means the operations named no model. Buckets are the JSON of
:meth:`toolkeeper.monitor.buckets.Bucket.to_dict` plus ``unpriced`` (a count).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Float,
    Index,
    Integer,
    RowMapping,
    String,
    Table,
    Text,
    delete,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite

from toolkeeper.store.sql import Store
from toolkeeper.store.tables import metadata

__all__ = [
    "RollupRow",
    "TotalRow",
    "WriterRow",
    "load_rollup",
    "load_rollups",
    "load_totals",
    "load_writers",
    "prune_rollups",
    "upsert_rollups",
    "upsert_totals",
    "upsert_writer",
]

rollups = Table(
    "rollups",
    metadata,
    Column("writer", String(64), primary_key=True),
    Column("tool", String(200), primary_key=True),
    Column("operation", String(200), primary_key=True),
    Column("model", String(200), primary_key=True),
    Column("resolution", Integer, primary_key=True, autoincrement=False),
    Column("bucket_start", BigInteger, primary_key=True, autoincrement=False),
    Column("bucket", Text, nullable=False),
    Column("operations", BigInteger, nullable=False),
    Column("last_error_ts", Float),
    Column("last_error", Text),
    Column("updated_ts", Float, nullable=False),
    Index("ix_rollups_time", "resolution", "bucket_start"),
)

operation_totals = Table(
    "operation_totals",
    metadata,
    Column("writer", String(64), primary_key=True),
    Column("tool", String(200), primary_key=True),
    Column("operation", String(200), primary_key=True),
    Column("model", String(200), primary_key=True),
    Column("bucket", Text, nullable=False),
    Column("operations", BigInteger, nullable=False),
    Column("updated_ts", Float, nullable=False),
)

writers = Table(
    "writers",
    metadata,
    Column("writer", String(64), primary_key=True),
    Column("started_ts", Float, nullable=False),
    Column("updated_ts", Float, nullable=False),
    Column("stored_rows", BigInteger, nullable=False),
    Column("dropped_rows", BigInteger, nullable=False),
    Column("refused_rows", BigInteger, nullable=False),
)


@dataclass(frozen=True, slots=True)
class RollupRow:
    """One writer's bucket for one (tool, operation, model) over one minute or hour."""

    writer: str
    tool: str
    operation: str
    model: str
    resolution: int
    bucket_start: int
    bucket: Any
    """The bucket's JSON decoded: a dict (``Bucket.to_dict``), or what ``load_rollups``'s
    ``decode`` made of it."""
    operations: int
    last_error_ts: float | None
    last_error: str | None


@dataclass(frozen=True, slots=True)
class TotalRow:
    """One writer's totals for one (tool, operation, model) since it started."""

    writer: str
    tool: str
    operation: str
    model: str
    bucket: dict[str, Any]
    operations: int
    updated_ts: float


@dataclass(frozen=True, slots=True)
class WriterRow:
    """One writer's raw-row counts: stored, dropped (writer behind), refused by the database."""

    writer: str
    started_ts: float
    updated_ts: float
    stored_rows: int
    dropped_rows: int
    refused_rows: int


def _dumps(bucket: dict[str, Any]) -> str:
    return json.dumps(bucket, separators=(",", ":"))


def _insert(conn: Connection, table: Table) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def upsert_rollups(conn: Connection, rows: Sequence[RollupRow], now: float) -> None:
    """Overwrite each writer's rollup rows with their running values."""
    if not rows:
        return
    statement = _insert(conn, rollups)
    statement = statement.on_conflict_do_update(
        index_elements=["writer", "tool", "operation", "model", "resolution", "bucket_start"],
        set_={
            name: statement.excluded[name]
            for name in ("bucket", "operations", "last_error_ts", "last_error", "updated_ts")
        },
    )
    conn.execute(
        statement,
        [
            {
                "writer": row.writer, "tool": row.tool, "operation": row.operation,
                "model": row.model, "resolution": row.resolution,
                "bucket_start": row.bucket_start, "bucket": _dumps(row.bucket),
                "operations": row.operations, "last_error_ts": row.last_error_ts,
                "last_error": row.last_error, "updated_ts": now,
            }
            for row in rows
        ],
    )  # fmt: skip


def upsert_totals(conn: Connection, rows: Sequence[TotalRow]) -> None:
    """Overwrite each writer's totals with their running values."""
    if not rows:
        return
    statement = _insert(conn, operation_totals)
    statement = statement.on_conflict_do_update(
        index_elements=["writer", "tool", "operation", "model"],
        set_={name: statement.excluded[name] for name in ("bucket", "operations", "updated_ts")},
    )
    conn.execute(
        statement,
        [
            {
                "writer": row.writer, "tool": row.tool, "operation": row.operation,
                "model": row.model, "bucket": _dumps(row.bucket), "operations": row.operations,
                "updated_ts": row.updated_ts,
            }
            for row in rows
        ],
    )  # fmt: skip


def upsert_writer(conn: Connection, row: WriterRow) -> None:
    """Overwrite one writer's raw-row counts."""
    statement = _insert(conn, writers)
    statement = statement.on_conflict_do_update(
        index_elements=["writer"],
        set_={
            name: statement.excluded[name]
            for name in ("updated_ts", "stored_rows", "dropped_rows", "refused_rows")
        },
    )
    conn.execute(
        statement,
        {
            "writer": row.writer, "started_ts": row.started_ts, "updated_ts": row.updated_ts,
            "stored_rows": row.stored_rows, "dropped_rows": row.dropped_rows,
            "refused_rows": row.refused_rows,
        },
    )  # fmt: skip


def load_rollup(store: Store, writer: str, key: tuple[str, str, str, int, int]) -> RollupRow | None:
    """Return one writer's rollup for one (tool, operation, model, resolution, start)."""
    tool, operation, model, resolution, start = key
    table = rollups
    query = select(table).where(
        (table.c.writer == writer) & (table.c.tool == tool) & (table.c.operation == operation)
        & (table.c.model == model) & (table.c.resolution == resolution)
        & (table.c.bucket_start == start)
    )  # fmt: skip
    with store.translated(), store.transaction(write=False) as conn:
        row = conn.execute(query).mappings().first()
    return None if row is None else _rollup_of(row, json.loads)


def load_rollups(
    store: Store,
    resolution: int,
    since: float,
    until: float | None = None,
    *,
    tool: str | None = None,
    other_than: str | None = None,
    decode: Callable[[str], Any] = json.loads,
) -> list[RollupRow]:
    """Return every writer's rollups of ``resolution`` seconds starting in ``[since, until)``.

    Of one ``tool`` only, or of every writer but ``other_than``, when given
    (filtered in SQL). Each row's ``bucket`` is its stored JSON given to
    ``decode``: a dict by default.
    """
    table = rollups
    where = [table.c.resolution == resolution, table.c.bucket_start >= int(since)]
    if until is not None:
        where.append(table.c.bucket_start < until)
    if tool is not None:
        where.append(table.c.tool == tool)
    if other_than is not None:
        where.append(table.c.writer != other_than)
    query = select(table).where(*where).order_by(table.c.bucket_start)
    with store.translated(), store.transaction(write=False) as conn:
        return [_rollup_of(row, decode) for row in conn.execute(query).mappings()]


def _rollup_of(row: RowMapping, decode: Callable[[str], Any]) -> RollupRow:
    return RollupRow(
        writer=row["writer"], tool=row["tool"], operation=row["operation"], model=row["model"],
        resolution=row["resolution"], bucket_start=row["bucket_start"],
        bucket=decode(row["bucket"]), operations=row["operations"],
        last_error_ts=row["last_error_ts"], last_error=row["last_error"],
    )  # fmt: skip


def load_totals(store: Store) -> list[TotalRow]:
    """Return every writer's totals per (tool, operation, model)."""
    with store.translated(), store.transaction(write=False) as conn:
        found = [dict(row) for row in conn.execute(select(operation_totals)).mappings()]
    return [TotalRow(**{**row, "bucket": json.loads(row["bucket"])}) for row in found]


def load_writers(store: Store) -> list[WriterRow]:
    """Return every writer's raw-row counts, oldest writer first."""
    query = select(writers).order_by(writers.c.started_ts)
    with store.translated(), store.transaction(write=False) as conn:
        return [WriterRow(**dict(row)) for row in conn.execute(query).mappings()]


def prune_rollups(store: Store, resolution: int, before: float) -> int:
    """Delete rollups of ``resolution`` that start before ``before``; return how many."""
    table = rollups
    with store.translated(), store.transaction(write=True) as conn:
        result = conn.execute(
            delete(table).where(
                (table.c.resolution == resolution) & (table.c.bucket_start < int(before))
            )
        )
        return int(result.rowcount or 0)
