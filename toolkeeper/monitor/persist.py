"""Persist finished operations to the store, and read back what every writer stored.

:class:`StoreWriter` is the monitor's sink: it receives raw records and rollup
deltas from the monitor's background thread (never from a recording thread),
appends the raw rows to the operations log, and writes this process's exact
per-minute and per-hour rollups and all-time totals (built in one place,
:mod:`toolkeeper.monitor.rollups`). :func:`history` and :func:`fleet` read every
writer's rollups and totals back, for a process that shows more than its own
operations (a restarted application, ``toolkeeper serve``, the CLI).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from toolkeeper._errors import StoreError
from toolkeeper._text import storable
from toolkeeper.monitor import ids
from toolkeeper.monitor.buckets import Bucket
from toolkeeper.monitor.performance import PerformanceMonitor
from toolkeeper.monitor.records import (
    COST,
    CUSTOM,
    DETAILS,
    DURATION_S,
    END_TS,
    ERROR_MESSAGE,
    INPUT_TOKENS,
    MODEL,
    OPERATION,
    OUTPUT_TOKENS,
    SEQ,
    STATUS,
    TOOL,
    OperationStatus,
    RawRecord,
    WrapperOperationMetrics,
    token_kinds,
)
from toolkeeper.monitor.rollups import (
    HOUR,
    MINUTE,
    RollupDelta,
    RollupKey,
    Rollups,
    StoredRollup,
)
from toolkeeper.store.operations import (
    insert_operations,
    iter_operation_rows,
    latest_operation_rows,
    operation_rows,
    prune_operations,
    write_batch,
)
from toolkeeper.store.rollups import (
    RollupRow,
    TotalRow,
    WriterRow,
    load_rollup,
    load_rollups,
    load_totals,
    load_writers,
    prune_rollups,
)
from toolkeeper.store.sql import Store

__all__ = [
    "MINUTE",
    "ROLLUP_RETENTION",
    "Fleet",
    "RollupDecoder",
    "StoreWriter",
    "count_stored_operations",
    "fleet",
    "history",
    "iter_stored_operations",
    "latest_stored_operations",
    "python_rows",
    "restore",
    "rows",
    "stored_operations",
]

_log = logging.getLogger("toolkeeper.monitor")

ROLLUP_RETENTION = {MINUTE: 2 * 86400, HOUR: 400 * 86400}
"""How long rollups are kept, by resolution (seconds): hours cover every page's range."""
_PRUNE_EVERY_S = 600.0
# What a database does with a value it will not take: SQLAlchemy's errors (wrapped as
# StoreError), or, for an integer beyond 64 bits, the sqlite3 driver's OverflowError.
_REFUSED = (StoreError, OverflowError)
_DETAIL_FIELDS = (
    "error_code", "fallback_name", "fallback_reason", "original_error", "quality_score",
    "user_id", "session_id", "request_id", "parent_id", "unpriced",
)  # fmt: skip


def python_rows(
    raws: list[RawRecord],
    prefix: str,
    labels: dict[str, str],
    labels_of: Callable[[str], str],
    row: Callable[[RawRecord, str], tuple[Any, ...]],
) -> list[tuple[Any, ...]]:
    """Return the ``operations`` rows of ``raws``, in order.

    A plain record (no details, no custom metrics, no error text) is laid out inline,
    its labels JSON taken from ``labels`` (model: JSON) or else from ``labels_of``;
    any other is laid out by ``row(raw, prefix)``, which makes its text storable.
    ``rows`` is this function's C twin when the extension was built
    (``TOOLKEEPER_PURE_PYTHON=1`` chooses this one); both give equal rows.
    """
    return [
        (
            f"{prefix}{raw[SEQ]:x}", raw[TOOL], raw[OPERATION], raw[STATUS], raw[END_TS],
            raw[DURATION_S] * 1000.0, raw[COST], raw[INPUT_TOKENS], raw[OUTPUT_TOKENS],
            raw[MODEL], None, None,
            None if raw[MODEL] is None
            else labels[raw[MODEL]] if raw[MODEL] in labels else labels_of(raw[MODEL]),
            None,
        )  # the token kinds left out: all 0, the columns' default
        if raw[DETAILS] is None and not raw[CUSTOM] and raw[ERROR_MESSAGE] is None
        else row(raw, prefix)
        for raw in raws
    ]  # fmt: skip


_Rows = Callable[
    [list[RawRecord], str, dict[str, str], Callable[[str], str],
     Callable[[RawRecord, str], tuple[Any, ...]]],
    list[tuple[Any, ...]],
]  # fmt: skip
_c_rows: _Rows | None
try:
    from toolkeeper._speedups import rows as _c_rows
except ImportError:  # built without a C compiler: python_rows does the same
    _c_rows = None
#: Lays out the writer's rows: :func:`python_rows` or its C twin, chosen once at import.
rows: _Rows = python_rows
if _c_rows is not None and not os.environ.get("TOOLKEEPER_PURE_PYTHON"):
    rows = _c_rows


class StoreWriter:
    """Write what the monitor hands over to the store: raw rows, and this writer's exact rollups.

    Called from one thread at a time (the pipeline's sink contract, see
    :class:`~toolkeeper.monitor.pipeline.BatchWriter`). The rollups, totals and
    raw-row counts come from :class:`~toolkeeper.monitor.rollups.Rollups`, fed with
    every record the monitor counted; raw rows are detail, stored when they reach
    the writer. Text is made storable first (:func:`toolkeeper._text.storable`); a
    row the database still refuses is isolated, counted in ``refused`` and logged,
    and the rest of its batch is stored. ``retention_days`` gives each tool's
    ``metrics_retention_days`` (raw rows older are pruned every ten minutes);
    ``circuits`` (optional) gives the state of each tool's breaker in this process,
    stored with every batch so other processes can show it.
    """

    def __init__(
        self,
        store: Store,
        *,
        now: Callable[[], float],
        retention_days: Callable[[str], int],
        circuits: Callable[[], Mapping[str, str]] | None = None,
    ) -> None:
        self.store = store
        self.writer = f"w-{secrets.token_hex(8)}"
        self._now = now
        self._retention_days = retention_days
        self._circuits = circuits
        self.rollups = Rollups(reload=self._reload)
        self._tools: set[str] = set()
        self._last_prune = self.started = now()
        self._labels_json: dict[str, str] = {}
        self.written = 0
        self._refused = 0
        self.dropped = 0

    @property
    def refused(self) -> int:
        """Return how many raw rows the store refused (each isolated from its batch)."""
        return self._refused

    @property
    def pending(self) -> bool:
        """Return whether some rollups or totals wait to be stored (after a failed write)."""
        return self.rollups.pending

    def write(
        self, raws: list[RawRecord], deltas: dict[tuple[str, str, str, int], RollupDelta],
        dropped: int,
    ) -> None:  # fmt: skip
        """Store ``raws`` and every rollup and total changed by ``deltas`` (and earlier ones).

        ``dropped`` is how many raw records the monitor shed so far (stored as this
        writer's count). Raises :class:`~toolkeeper.StoreError` when the store is
        unreachable: the rollups stay pending and are written by the next call.
        """
        self.rollups.merge(deltas)
        self.dropped = dropped
        rows = self._rows(raws)
        now = self._now()
        rollups, totals = self._rollup_rows(now)
        circuits = None if self._circuits is None else (self.writer, self._circuits())
        try:
            write_batch(
                self.store, rows, rollups, now, totals=totals,
                writer=self._counts(now, stored=len(rows)), circuits=circuits,
            )  # fmt: skip
        except _REFUSED:
            if not rows:
                raise
            # The numbers first, alone: if this fails too, the store is down (re-raised).
            write_batch(self.store, [], rollups, now, totals=totals, circuits=circuits)
            self.rollups.clean(now)
            self._insert_isolating(rows)
            write_batch(self.store, [], [], now, writer=self._counts(now))
        else:
            self.written += len(rows)
            self.rollups.clean(now)
        self._tools.update(raw[TOOL] for raw in raws)
        if now - self._last_prune >= _PRUNE_EVERY_S:
            self.prune(now)

    def _counts(self, now: float, *, stored: int = 0) -> WriterRow:
        return WriterRow(
            writer=self.writer, started_ts=self.started, updated_ts=now,
            stored_rows=self.written + stored, dropped_rows=self.dropped,
            refused_rows=self._refused,
        )  # fmt: skip

    def _insert_isolating(self, rows: list[tuple[Any, ...]]) -> None:
        """Insert ``rows``, halving on failure until each refused row is alone; count it."""
        try:
            insert_operations(self.store, rows)
        except _REFUSED as exc:
            if len(rows) == 1:
                self._refused += 1
                _log.warning("the store refused operation %s: %s", rows[0][0], exc)
                return
            half = len(rows) // 2
            self._insert_isolating(rows[:half])
            self._insert_isolating(rows[half:])
        else:
            self.written += len(rows)

    def _rollup_rows(self, now: float) -> tuple[list[RollupRow], list[TotalRow]]:
        rollups, totals = self.rollups.dirty()
        return (
            [
                RollupRow(
                    writer=self.writer, tool=r.key[0], operation=r.key[1], model=r.key[2],
                    resolution=r.key[3], bucket_start=r.key[4],
                    bucket={**r.bucket.to_dict(), "unpriced": r.unpriced},
                    operations=r.bucket.operations,
                    last_error_ts=r.last_error[0] if r.last_error else None,
                    last_error=r.last_error[1] if r.last_error else None,
                )
                for r in rollups
            ],
            [
                TotalRow(
                    writer=self.writer, tool=t.key[0], operation=t.key[1], model=t.key[2],
                    bucket={**t.bucket.to_dict(), "unpriced": t.unpriced},
                    operations=t.bucket.operations, updated_ts=now,
                )
                for t in totals
            ],
        )  # fmt: skip

    def _reload(self, key: RollupKey) -> StoredRollup | None:
        row = load_rollup(self.store, self.writer, key)
        if row is None:
            return None
        last = (row.last_error_ts, row.last_error) if row.last_error_ts is not None else None
        return StoredRollup(key, Bucket.from_dict(row.bucket), int(row.bucket.get("unpriced", 0)),
                            last)  # fmt: skip

    def prune(self, now: float) -> int:
        """Delete raw operations past each tool's retention and old rollups; return the count."""
        self._last_prune = now
        deleted = 0
        for tool in list(self._tools):
            deleted += prune_operations(self.store, tool, now - 86400 * self._retention_days(tool))
        for resolution, keep in ROLLUP_RETENTION.items():
            deleted += prune_rollups(self.store, resolution, now - keep)
        return deleted

    def _rows(self, raws: list[RawRecord]) -> list[tuple[Any, ...]]:
        return rows(raws, ids.prefix(), self._labels_json, self._model_labels, self._row)

    def _row(self, raw: RawRecord, prefix: str) -> tuple[Any, ...]:
        details = raw[DETAILS]
        model = raw[MODEL]
        extra: dict[str, Any] | None = None
        labels: dict[str, str] | None = None
        error_code = None
        if details is None:
            operation_id = f"{prefix}{raw[SEQ]:x}"
        elif isinstance(details, WrapperOperationMetrics):
            operation_id = details.operation_id
            extra = {name: getattr(details, name) for name in _DETAIL_FIELDS}
            extra["start_ts"] = details.start_time.timestamp()
            labels = details.labels or None
        else:
            operation_id = details.get("operation_id") or f"{prefix}{raw[SEQ]:x}"
            extra = {name: details[name] for name in _DETAIL_FIELDS if name in details}
            labels = details.get("labels") or None
        if extra:
            error_code = extra.pop("error_code", None)
            # ``unpriced`` is kept only when true: a priced operation is the common case.
            extra = {name: value for name, value in extra.items()
                     if value is not None and value is not False} or None  # fmt: skip
        custom = raw[CUSTOM]
        if custom:
            extra = {**(extra or {}), "custom_metrics": custom}
        if labels is None:
            labels_json = None if model is None else self._model_labels(model)
        else:
            labels_json = _text(json.dumps({**labels, "model": model} if model else labels))
        message = raw[ERROR_MESSAGE]
        return (
            _text(str(operation_id)), raw[TOOL], raw[OPERATION], raw[STATUS], raw[END_TS],
            raw[DURATION_S] * 1000.0, raw[COST], raw[INPUT_TOKENS], raw[OUTPUT_TOKENS],
            None if model is None else _text(model),
            None if error_code is None else _text(str(error_code)),
            None if message is None else _text(message), labels_json,
            _text(json.dumps(extra, default=str)) if extra else None,
            *_kinds_or_none(token_kinds(details)),
        )  # fmt: skip

    def _model_labels(self, model: str) -> str:
        found = self._labels_json.get(model)
        if found is None:
            found = _text(json.dumps({"model": model}))
            if len(self._labels_json) < 1000:  # bounded: model names come from responses
                self._labels_json[model] = found
        return found


def _kinds_or_none(kinds: tuple[int, int, int]) -> tuple[int, ...]:
    """Return a row's token kinds, or nothing when all are 0 (the columns' default)."""
    return kinds if any(kinds) else ()


def _text(value: str) -> str:
    """Return ``value`` as storable text (JSON of a lone surrogate is an escape already)."""
    return storable(value)


class RollupDecoder:
    """Decode stored rollups into buckets, each distinct text once.

    A follower reads the last day of rollups every few seconds, and all but the
    few rows still being written hold the same text as at the last read: those
    are not decoded again (JSON and the sketch's keys were 80% of a read). Each
    call hands out a copy, since the monitor merges into the buckets it is
    given. Only the texts of the latest read are kept.
    """

    def __init__(self) -> None:
        self._kept: dict[str, Bucket] = {}
        self._read: dict[str, Bucket] = {}

    def decode(self, text: str) -> Bucket:
        """Return the bucket ``text`` (a rollup's stored JSON) holds, as a new object."""
        bucket = self._read.get(text)
        if bucket is None:
            bucket = self._kept.get(text)
        if bucket is None:
            bucket = Bucket.from_dict(json.loads(text))
        self._read[text] = bucket
        return bucket.copy()

    def turn(self) -> None:
        """Keep only the texts decoded since the last turn (a read is over)."""
        self._kept, self._read = self._read, {}


def history(
    store: Store,
    now: float,
    *,
    exclude_writer: str | None = None,
    decoder: RollupDecoder | None = None,
) -> list[tuple[str, str, float, Bucket, tuple[float, str | None] | None]]:
    """Return the last day of rollups of every writer but one, as items for ``seed``.

    Minute rollups cover the current and the previous hour, hour rollups the
    rest of the last 25 hours, so no operation is counted twice; each model's
    rows are separate items of the same series. ``decoder`` keeps what it
    decoded for the next read.
    """
    decoder = decoder or RollupDecoder()
    cutoff = (int(now // HOUR) - 1) * HOUR
    rows = load_rollups(store, MINUTE, cutoff, other_than=exclude_writer, decode=decoder.decode)
    rows += load_rollups(
        store, HOUR, now - 25 * HOUR, until=cutoff, other_than=exclude_writer,
        decode=decoder.decode,
    )  # fmt: skip
    decoder.turn()
    return [
        (
            row.tool, row.operation, float(row.bucket_start), row.bucket,
            (row.last_error_ts, row.last_error) if row.last_error_ts is not None else None,
        )
        for row in rows
    ]  # fmt: skip


@dataclass(frozen=True, slots=True)
class Fleet:
    """Every other writer's all-time totals per (tool, operation), and their shed raw rows."""

    totals: dict[tuple[str, str], Bucket] = field(default_factory=dict)
    dropped_rows: int = 0
    refused_rows: int = 0


def fleet(store: Store, *, exclude_writer: str | None = None) -> Fleet:
    """Return the all-time totals of every writer but ``exclude_writer``, summed per series."""
    totals: dict[tuple[str, str], Bucket] = {}
    for row in load_totals(store):
        if row.writer == exclude_writer:
            continue
        key = (row.tool, row.operation)
        bucket = totals.get(key)
        if bucket is None:
            totals[key] = Bucket.from_dict(row.bucket)
        else:
            bucket.merge(Bucket.from_dict(row.bucket))
    others = [w for w in load_writers(store) if w.writer != exclude_writer]
    return Fleet(
        totals,
        dropped_rows=sum(w.dropped_rows for w in others),
        refused_rows=sum(w.refused_rows for w in others),
    )


def restore(
    monitor: PerformanceMonitor,
    store: Store,
    *,
    exclude_writer: str | None = None,
    decoder: RollupDecoder | None = None,
) -> int:
    """Show every other writer's last day and totals in ``monitor``; return buckets restored.

    The monitor's own counters are not changed (see :meth:`PerformanceMonitor.show_others`).
    A follower passes the same ``decoder`` each time (see :class:`RollupDecoder`).
    """
    now = monitor.clock.now().timestamp()
    items = history(store, now, exclude_writer=exclude_writer, decoder=decoder)
    others = fleet(store, exclude_writer=exclude_writer)
    monitor.show_others(
        items, others.totals, dropped_rows=others.dropped_rows, refused_rows=others.refused_rows
    )
    return len(items)


def stored_operations(
    store: Store,
    *,
    tool: str | None = None,
    status: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[WrapperOperationMetrics], int]:
    """Return operations from the store as records, newest first, and how many match in all."""
    rows, total = operation_rows(
        store, tool=tool, status=status, limit=limit, offset=offset,
        since=since.timestamp() if since is not None else None,
        until=until.timestamp() if until is not None else None,
    )  # fmt: skip
    return [_record_of(row) for row in rows], total


def latest_stored_operations(
    store: Store,
    *,
    tool: str | None = None,
    statuses: Collection[OperationStatus] | None = None,
    limit: int = 20,
    scan: int = 20_000,
) -> list[WrapperOperationMetrics]:
    """Return the newest stored operations that match, newest first, as records.

    What every process wrote, not only this one's: a server beside the application
    lists the application's calls. Only the ``scan`` newest operations are searched.
    """
    rows = latest_operation_rows(
        store, tool=tool, limit=limit, scan=scan,
        statuses=None if statuses is None else [status.value for status in statuses],
    )  # fmt: skip
    return [_record_of(row) for row in rows]


def count_stored_operations(
    store: Store,
    *,
    tool: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> int:
    """Return how many stored operations match (ended in ``[since, until)``)."""
    return stored_operations(store, tool=tool, since=since, until=until, limit=0)[1]


def iter_stored_operations(
    store: Store,
    *,
    tool: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Iterator[WrapperOperationMetrics]:
    """Yield every stored operation that ended in ``[since, until)``, oldest first, page by page.

    Memory stays bounded by one page however many operations match; nothing is cut.
    """
    for row in iter_operation_rows(
        store, tool=tool,
        since=since.timestamp() if since is not None else None,
        until=until.timestamp() if until is not None else None,
    ):  # fmt: skip
        yield _record_of(row)


def _record_of(row: dict[str, Any]) -> WrapperOperationMetrics:
    details = row["details"]
    status_value = OperationStatus(row["status"])
    end = datetime.fromtimestamp(row["end_ts"], UTC)
    start_ts = details.pop("start_ts", None)
    start = (
        datetime.fromtimestamp(start_ts, UTC) if start_ts is not None
        else end - timedelta(milliseconds=row["duration_ms"])
    )  # fmt: skip
    record = WrapperOperationMetrics(
        operation_id=row["operation_id"], wrapper_name=row["tool"],
        operation_type=row["operation"], start_time=start, end_time=end,
        duration_ms=row["duration_ms"], status=status_value,
        error_message=row["error_message"], error_code=row["error_code"],
        cost_estimate=row["cost"], input_tokens=row["input_tokens"],
        output_tokens=row["output_tokens"], cached_tokens=row["cached_tokens"],
        cache_write_tokens=row["cache_write_tokens"], reasoning_tokens=row["reasoning_tokens"],
        custom_metrics=details.pop("custom_metrics", {}), labels=row["labels"],
    )  # fmt: skip
    for name, value in details.items():
        if name in _DETAIL_FIELDS:
            setattr(record, name, value)
    record.fallback_used = (
        status_value is OperationStatus.FALLBACK or record.fallback_name is not None
    )
    return record
