"""The operations log and its rollups in the SQL store.

``operations`` keeps one row per finished operation (raw events, pruned after
each tool's ``metrics_retention_days``); ``operation_rollups`` keeps one
aggregated bucket per (writer, tool, operation, resolution, minute or hour), so a
restarted process, or another one, can show the last day without scanning raw
events. Each writing process owns its rollup rows (``writer``) and overwrites
them with its running totals: writers never contend for a row, and readers add
the writers up.

Times are UTC epoch seconds in float columns: the writer inserts tens of
thousands of rows a second, and a per-row datetime conversion would dominate.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
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
    func,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite

from toolkeeper.store.circuits import upsert_circuit_states
from toolkeeper.store.sql import Store
from toolkeeper.store.tables import metadata

__all__ = [
    "OPERATION_COLUMNS",
    "RollupRow",
    "load_rollup",
    "load_rollups",
    "operation_rows",
    "prune_operations",
    "prune_rollups",
    "write_batch",
]

operations = Table(
    "operations",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("operation_id", String(200), nullable=False),
    Column("tool", String(200), nullable=False),
    Column("operation", String(200), nullable=False),
    Column("status", String(20), nullable=False),
    Column("end_ts", Float, nullable=False),
    Column("duration_ms", Float, nullable=False),
    Column("cost", Float, nullable=False),
    Column("input_tokens", BigInteger, nullable=False),
    Column("output_tokens", BigInteger, nullable=False),
    Column("model", String(200)),
    Column("error_code", String(200)),
    Column("error_message", Text),
    # JSON objects: the labels, and every other detail (fallback, ids, quality,
    # custom metrics), kept in one column so each insert binds few parameters.
    Column("labels", Text),
    Column("details", Text),
    # One index only: each one costs about a sixth of the writer's throughput. Queries
    # by tool over a time range use it and filter the tool.
    Index("ix_operations_end_ts", "end_ts"),
)

operation_rollups = Table(
    "operation_rollups",
    metadata,
    Column("writer", String(64), primary_key=True),
    Column("tool", String(200), primary_key=True),
    Column("operation", String(200), primary_key=True),
    Column("resolution", Integer, primary_key=True, autoincrement=False),
    Column("bucket_start", BigInteger, primary_key=True, autoincrement=False),
    Column("bucket", Text, nullable=False),
    Column("operations", BigInteger, nullable=False),
    Column("last_error_ts", Float),
    Column("last_error", Text),
    Column("updated_ts", Float, nullable=False),
    Index("ix_operation_rollups_time", "resolution", "bucket_start"),
)

#: Insert order of :data:`operations` rows built by the monitor's store writer.
OPERATION_COLUMNS: tuple[str, ...] = tuple(c.name for c in operations.columns if c.name != "id")


@dataclass(frozen=True, slots=True)
class RollupRow:
    """One writer's bucket for one (tool, operation) over one minute or hour."""

    writer: str
    tool: str
    operation: str
    resolution: int
    bucket_start: int
    bucket: dict[str, Any]
    operations: int
    last_error_ts: float | None
    last_error: str | None


def write_batch(
    store: Store,
    rows: Sequence[tuple[Any, ...]],
    rollups: Sequence[RollupRow],
    now: float,
    *,
    circuits: tuple[str, Mapping[str, str]] | None = None,
) -> None:
    """Append operation rows, write rollups and (writer, states) of circuits, in one transaction."""
    with store.translated(), store.transaction(write=True) as conn:
        _insert_operations(conn, rows)
        _upsert_rollups(conn, rollups, now)
        if circuits is not None:
            upsert_circuit_states(conn, circuits[0], circuits[1], now)


_ROWS_PER_STATEMENT = 50
"""Rows per multi-row INSERT: fewer statements to step through (SQLite: about +50% rows/s)."""


@functools.cache
def _insert_sql(marker: str, count: int) -> str:
    """Return an INSERT of ``count`` operation rows with ``marker`` placeholders."""
    row = f"({', '.join([marker] * len(OPERATION_COLUMNS))})"
    # Column names are this module's constants; every value is bound.
    return (
        f"INSERT INTO operations ({', '.join(OPERATION_COLUMNS)}) "  # noqa: S608
        f"VALUES {', '.join([row] * count)}"
    )


def _insert_operations(conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Append rows in order, straight to the driver's executemany (no per-row SQLAlchemy work)."""
    if not rows:
        return
    marker = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    size = _ROWS_PER_STATEMENT
    whole = len(rows) - len(rows) % size
    if whole:
        flat = chain.from_iterable
        params = [tuple(flat(rows[start : start + size])) for start in range(0, whole, size)]
        conn.exec_driver_sql(_insert_sql(marker, size), params)
    if whole < len(rows):
        rest = rows[whole:]
        conn.exec_driver_sql(_insert_sql(marker, len(rest)), tuple(chain.from_iterable(rest)))


def _upsert_rollups(conn: Connection, rows: Sequence[RollupRow], now: float) -> None:
    if not rows:
        return
    values = [
        {
            "writer": row.writer, "tool": row.tool, "operation": row.operation,
            "resolution": row.resolution, "bucket_start": row.bucket_start,
            "bucket": json.dumps(row.bucket, separators=(",", ":")),
            "operations": row.operations, "last_error_ts": row.last_error_ts,
            "last_error": row.last_error, "updated_ts": now,
        }
        for row in rows
    ]  # fmt: skip
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(operation_rollups)
    statement = statement.on_conflict_do_update(
        index_elements=["writer", "tool", "operation", "resolution", "bucket_start"],
        set_={
            name: statement.excluded[name]
            for name in ("bucket", "operations", "last_error_ts", "last_error", "updated_ts")
        },
    )
    conn.execute(statement, values)


def load_rollup(store: Store, writer: str, key: tuple[str, str, int, int]) -> RollupRow | None:
    """Return one writer's rollup for one (tool, operation, resolution, start), if written."""
    tool, operation, resolution, start = key
    table = operation_rollups
    query = select(table).where(
        (table.c.writer == writer) & (table.c.tool == tool) & (table.c.operation == operation)
        & (table.c.resolution == resolution) & (table.c.bucket_start == start)
    )  # fmt: skip
    with store.translated(), store.transaction(write=False) as conn:
        row = conn.execute(query).mappings().first()
    return None if row is None else _rollup_of(row)


def load_rollups(store: Store, resolution: int, since: float) -> list[RollupRow]:
    """Return every writer's rollups of ``resolution`` seconds starting at or after ``since``."""
    table = operation_rollups
    query = (
        select(table)
        .where((table.c.resolution == resolution) & (table.c.bucket_start >= int(since)))
        .order_by(table.c.bucket_start)
    )
    with store.translated(), store.transaction(write=False) as conn:
        return [_rollup_of(row) for row in conn.execute(query).mappings()]


def _rollup_of(row: RowMapping) -> RollupRow:
    return RollupRow(
        writer=row["writer"], tool=row["tool"], operation=row["operation"],
        resolution=row["resolution"], bucket_start=row["bucket_start"],
        bucket=json.loads(row["bucket"]), operations=row["operations"],
        last_error_ts=row["last_error_ts"], last_error=row["last_error"],
    )  # fmt: skip


def operation_rows(
    store: Store,
    *,
    tool: str | None = None,
    status: str | None = None,
    since: float | None = None,
    until: float | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """Return stored operations, newest first, and how many match in all."""
    table = operations
    where = []
    if tool is not None:
        where.append(table.c.tool == tool)
    if status is not None:
        where.append(table.c.status == status)
    if since is not None:
        where.append(table.c.end_ts >= since)
    if until is not None:
        where.append(table.c.end_ts < until)
    query = select(table).where(*where).order_by(table.c.end_ts.desc(), table.c.id.desc())
    count = select(func.count()).select_from(table).where(*where)
    with store.translated(), store.transaction(write=False) as conn:
        total = int(conn.execute(count).scalar_one())
        rows = [dict(row) for row in conn.execute(query.limit(limit).offset(offset)).mappings()]
    for row in rows:
        row["labels"] = json.loads(row["labels"]) if row["labels"] else {}
        row["details"] = json.loads(row["details"]) if row["details"] else {}
    return rows, total


def prune_operations(store: Store, tool: str, before: float) -> int:
    """Delete ``tool``'s operations that ended before ``before``; return how many."""
    table = operations
    with store.translated(), store.transaction(write=True) as conn:
        result = conn.execute(
            delete(table).where((table.c.tool == tool) & (table.c.end_ts < before))
        )
        return int(result.rowcount or 0)


def prune_rollups(store: Store, resolution: int, before: float) -> int:
    """Delete rollups of ``resolution`` that start before ``before``; return how many."""
    table = operation_rollups
    with store.translated(), store.transaction(write=True) as conn:
        result = conn.execute(
            delete(table).where(
                (table.c.resolution == resolution) & (table.c.bucket_start < int(before))
            )
        )
        return int(result.rowcount or 0)
