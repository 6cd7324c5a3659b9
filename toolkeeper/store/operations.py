"""The operations log in the SQL store, and the one transaction that writes a batch.

``operations`` keeps one row per finished operation: raw detail, pruned after
each tool's ``metrics_retention_days``, and shed when a writer falls behind (it
counts what it sheds). What other processes read as numbers is in
:mod:`toolkeeper.store.rollups`, written in the same transaction.

Times are UTC epoch seconds in float columns: the writer inserts tens of
thousands of rows a second, and a per-row datetime conversion would dominate.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
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
    text,
)

from toolkeeper.store.circuits import upsert_circuit_states
from toolkeeper.store.rollups import (
    RollupRow,
    TotalRow,
    WriterRow,
    upsert_rollups,
    upsert_totals,
    upsert_writer,
)
from toolkeeper.store.sql import Store
from toolkeeper.store.tables import metadata

__all__ = [
    "OPERATION_COLUMNS",
    "insert_operations",
    "iter_operation_rows",
    "latest_operation_rows",
    "operation_rows",
    "prune_operations",
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
    # Parts of input_tokens (cache reads, cache writes) and of output_tokens (reasoning).
    Column("cached_tokens", BigInteger, nullable=False, server_default=text("0")),
    Column("cache_write_tokens", BigInteger, nullable=False, server_default=text("0")),
    Column("reasoning_tokens", BigInteger, nullable=False, server_default=text("0")),
    # One index only: each one costs about a sixth of the writer's throughput. Queries
    # by tool over a time range use it and filter the tool.
    Index("ix_operations_end_ts", "end_ts"),
)

#: Insert order of :data:`operations` rows built by the monitor's store writer.
OPERATION_COLUMNS: tuple[str, ...] = tuple(c.name for c in operations.columns if c.name != "id")
#: The token-kind columns, last of :data:`OPERATION_COLUMNS`. A row may leave them out
#: when all are 0 (most rows): the database fills in its default, 0, and the insert
#: binds three parameters fewer per row.
TOKEN_KIND_COLUMNS = ("cached_tokens", "cache_write_tokens", "reasoning_tokens")
assert OPERATION_COLUMNS[-len(TOKEN_KIND_COLUMNS) :] == TOKEN_KIND_COLUMNS


def write_batch(
    store: Store,
    rows: Sequence[tuple[Any, ...]],
    rollups: Sequence[RollupRow],
    now: float,
    *,
    totals: Sequence[TotalRow] = (),
    writer: WriterRow | None = None,
    circuits: tuple[str, Mapping[str, str]] | None = None,
) -> None:
    """Append operation rows, write rollups, totals, raw-row counts and circuit states.

    All in one transaction: a reader never sees rows without the rollups that count them.
    """
    with store.translated(), store.transaction(write=True) as conn:
        _insert_operations(conn, rows)
        upsert_rollups(conn, rollups, now)
        upsert_totals(conn, totals)
        if writer is not None:
            upsert_writer(conn, writer)
        if circuits is not None:
            upsert_circuit_states(conn, circuits[0], circuits[1], now)


def insert_operations(store: Store, rows: Sequence[tuple[Any, ...]]) -> None:
    """Append operation rows in their own transaction."""
    with store.translated(), store.transaction(write=True) as conn:
        _insert_operations(conn, rows)


_ROWS_PER_STATEMENT = 50
"""Rows per multi-row INSERT: fewer statements to step through (SQLite: about +50% rows/s)."""


@functools.cache
def _insert_sql(marker: str, count: int, width: int) -> str:
    """Return an INSERT of ``count`` rows of the first ``width`` operation columns."""
    row = f"({', '.join([marker] * width)})"
    # Column names are this module's constants; every value is bound.
    return (
        f"INSERT INTO operations ({', '.join(OPERATION_COLUMNS[:width])}) "  # noqa: S608
        f"VALUES {', '.join([row] * count)}"
    )


_FULL = len(OPERATION_COLUMNS)
_SHORT = _FULL - len(TOKEN_KIND_COLUMNS)


def _insert_operations(conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Append rows straight to the driver's executemany (no per-row SQLAlchemy work).

    A row has every column of :data:`OPERATION_COLUMNS`, or all but the token kinds
    (then 0). Rows of each width are inserted in order, the shorter ones first.
    """
    if not rows:
        return
    short = [row for row in rows if len(row) == _SHORT]
    if not short or len(short) == len(rows):
        _insert_rows(conn, rows, len(rows[0]))
        return
    _insert_rows(conn, short, _SHORT)
    _insert_rows(conn, [row for row in rows if len(row) != _SHORT], _FULL)


def _insert_rows(conn: Connection, rows: Sequence[tuple[Any, ...]], width: int) -> None:
    """Insert rows of the first ``width`` operation columns, many to a statement."""
    if width not in {_SHORT, _FULL} or any(len(row) != width for row in rows):
        raise ValueError(
            f"operation rows must have {_SHORT} or {_FULL} values (the columns of "
            f"OPERATION_COLUMNS, the token kinds optional), got widths "
            f"{sorted({len(row) for row in rows})}"
        )
    marker = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    size = _ROWS_PER_STATEMENT
    whole = len(rows) - len(rows) % size
    if whole:
        flat = chain.from_iterable
        params = [tuple(flat(rows[start : start + size])) for start in range(0, whole, size)]
        conn.exec_driver_sql(_insert_sql(marker, size, width), params)
    if whole < len(rows):
        rest = rows[whole:]
        conn.exec_driver_sql(
            _insert_sql(marker, len(rest), width), tuple(chain.from_iterable(rest))
        )


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
    where = _matching(tool=tool, status=status, since=since, until=until)
    query = select(table).where(*where).order_by(table.c.end_ts.desc(), table.c.id.desc())
    count = select(func.count()).select_from(table).where(*where)
    with store.translated(), store.transaction(write=False) as conn:
        total = int(conn.execute(count).scalar_one())
        rows = _decoded(conn.execute(query.limit(limit).offset(offset)).mappings())
    return rows, total


def latest_operation_rows(
    store: Store,
    *,
    tool: str | None = None,
    statuses: Sequence[str] | None = None,
    limit: int = 20,
    scan: int = 20_000,
) -> list[dict[str, Any]]:
    """Return the newest stored operations that match, newest first, looking at the newest ``scan``.

    Only the ``scan`` newest operations of every tool are searched (one walk down the
    ``end_ts`` index), so the cost is bounded however large the store and however rare
    the tool: a page of recent operations, not a search of the whole history.
    """
    table = operations
    newest = select(table).order_by(table.c.end_ts.desc(), table.c.id.desc()).limit(scan)
    window = newest.subquery()
    where = []
    if tool is not None:
        where.append(window.c.tool == tool)
    if statuses is not None:
        where.append(window.c.status.in_(list(statuses)))
    query = (
        select(window)
        .where(*where)
        .order_by(window.c.end_ts.desc(), window.c.id.desc())
        .limit(limit)
    )
    with store.translated(), store.transaction(write=False) as conn:
        return _decoded(conn.execute(query).mappings())


def iter_operation_rows(
    store: Store,
    *,
    tool: str | None = None,
    status: str | None = None,
    since: float | None = None,
    until: float | None = None,
    page_size: int = 5000,
) -> Iterator[dict[str, Any]]:
    """Yield every stored operation that matches, oldest first, a page at a time.

    Pages follow the (end_ts, id) order with a keyset, not an offset, so each page
    costs the same however deep the export is, and rows stored meanwhile are not
    read twice.
    """
    table = operations
    where = _matching(tool=tool, status=status, since=since, until=until)
    after: tuple[float, int] | None = None
    while True:
        query = select(table).where(*where)
        if after is not None:
            query = query.where(
                (table.c.end_ts > after[0])
                | ((table.c.end_ts == after[0]) & (table.c.id > after[1]))
            )
        query = query.order_by(table.c.end_ts, table.c.id).limit(page_size)
        with store.translated(), store.transaction(write=False) as conn:
            rows = _decoded(conn.execute(query).mappings())
        yield from rows
        if len(rows) < page_size:
            return
        after = (rows[-1]["end_ts"], rows[-1]["id"])


def _matching(
    *, tool: str | None, status: str | None, since: float | None, until: float | None
) -> list[Any]:
    """Return the conditions on ``operations`` for the filters given (``None``: any)."""
    table = operations
    where: list[Any] = []
    if tool is not None:
        where.append(table.c.tool == tool)
    if status is not None:
        where.append(table.c.status == status)
    if since is not None:
        where.append(table.c.end_ts >= since)
    if until is not None:
        where.append(table.c.end_ts < until)
    return where


def _decoded(rows: Iterable[RowMapping]) -> list[dict[str, Any]]:
    """Return stored operation rows as dicts, their labels and details decoded from JSON."""
    found = []
    for row in rows:
        item = dict(row)
        item["labels"] = json.loads(item["labels"]) if item["labels"] else {}
        item["details"] = json.loads(item["details"]) if item["details"] else {}
        found.append(item)
    return found


def prune_operations(store: Store, tool: str, before: float) -> int:
    """Delete ``tool``'s operations that ended before ``before``; return how many."""
    table = operations
    with store.translated(), store.transaction(write=True) as conn:
        result = conn.execute(
            delete(table).where((table.c.tool == tool) & (table.c.end_ts < before))
        )
        return int(result.rowcount or 0)
