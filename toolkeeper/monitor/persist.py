"""Persist finished operations to the store, and restore the last day from it.

:class:`StoreWriter` is the monitor's sink: it receives raw records in batches
from the monitor's background thread (never from a recording thread), appends
them to the operations log, and keeps this process's per-minute and per-hour
rollups up to date. :func:`restore` seeds a monitor's aggregates from every
writer's rollups, so a restarted process shows the last 24 hours.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from toolkeeper.monitor import ids
from toolkeeper.monitor.aggregates import OTHER_OPERATION, group_by_period, group_by_series
from toolkeeper.monitor.buckets import Bucket
from toolkeeper.monitor.performance import PerformanceMonitor
from toolkeeper.monitor.records import (
    COST,
    CUSTOM,
    DETAILS,
    DURATION_S,
    END_TS,
    ERROR_MESSAGE,
    FAILURE_STATUSES,
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
)
from toolkeeper.store.operations import (
    RollupRow,
    load_rollup,
    load_rollups,
    operation_rows,
    prune_operations,
    prune_rollups,
    write_batch,
)
from toolkeeper.store.sql import Store

__all__ = ["MINUTE", "StoreWriter", "history", "restore", "stored_operations"]

_log = logging.getLogger("toolkeeper.monitor")

MINUTE, HOUR = 60, 3600
_KEEP = {MINUTE: 5 * MINUTE, HOUR: 2 * HOUR}  # how long a rollup bucket stays in memory
_ROLLUP_RETENTION = {MINUTE: 2 * 86400, HOUR: 400 * 86400}
_PRUNE_EVERY_S = 600.0
_MAX_FORGOTTEN = 20_000
_FAILURES = frozenset(str(s) for s in FAILURE_STATUSES)
_DETAIL_FIELDS = (
    "error_code", "fallback_name", "fallback_reason", "original_error", "quality_score",
    "user_id", "session_id", "request_id", "parent_id", "unpriced",
)  # fmt: skip

Key = tuple[str, str, int, int]  # tool, operation, resolution, bucket start


class StoreWriter:
    """Write batches of finished operations to the store: raw rows and this writer's rollups.

    Called from one thread at a time (the monitor's sink contract). ``retention_days``
    gives each tool's ``metrics_retention_days``; raw rows older than it are
    pruned every ten minutes. ``max_operations_per_tool`` folds further operation
    names into ``other`` in the rollups, as the in-memory aggregates do.
    ``circuits`` (optional) gives the state of each tool's circuit breaker in this
    process; it is stored with every batch, so other processes can show it.
    """

    takes_raw_records = True

    def __init__(
        self,
        store: Store,
        *,
        now: Callable[[], float],
        retention_days: Callable[[str], int],
        max_operations_per_tool: int = 100,
        circuits: Callable[[], Mapping[str, str]] | None = None,
    ) -> None:
        self.store = store
        self.writer = f"w-{secrets.token_hex(8)}"
        self._now = now
        self._retention_days = retention_days
        self._circuits = circuits
        self._max_operations = max_operations_per_tool
        self._buckets: dict[Key, tuple[Bucket, list[Any]]] = {}
        self._operations: dict[str, set[str]] = {}
        self._last_prune = now()
        # Buckets this writer wrote and then dropped from memory, with when they were dropped.
        self._forgotten: dict[Key, float] = {}
        self._labels_json: dict[str, str] = {}
        self.written = 0

    def __call__(self, raws: list[RawRecord]) -> None:
        """Append ``raws`` to the operations log and refresh the rollups they touch."""
        prefix = ids.prefix()
        labels_of = self._model_labels
        # A plain record (no details, no custom metrics) is laid out inline, without a call.
        rows = [
            (
                f"{prefix}{raw[SEQ]:x}", raw[TOOL], raw[OPERATION], raw[STATUS], raw[END_TS],
                raw[DURATION_S] * 1000.0, raw[COST], raw[INPUT_TOKENS], raw[OUTPUT_TOKENS],
                raw[MODEL], None, raw[ERROR_MESSAGE],
                None if raw[MODEL] is None else labels_of(raw[MODEL]), None,
            )
            if raw[DETAILS] is None and not raw[CUSTOM]
            else self._row(raw, prefix)
            for raw in raws
        ]  # fmt: skip
        touched = self._accumulate(raws)
        now = self._now()
        circuits = None if self._circuits is None else (self.writer, self._circuits())
        write_batch(
            self.store, rows, [self._rollup(key) for key in touched], now, circuits=circuits
        )
        self.written += len(raws)
        self._forget_old(now)
        if now - self._last_prune >= _PRUNE_EVERY_S:
            self.prune(now)

    def prune(self, now: float) -> int:
        """Delete raw operations past each tool's retention and old rollups; return the count."""
        self._last_prune = now
        deleted = 0
        for tool in list(self._operations):
            deleted += prune_operations(self.store, tool, now - 86400 * self._retention_days(tool))
        for resolution, keep in _ROLLUP_RETENTION.items():
            deleted += prune_rollups(self.store, resolution, now - keep)
        return deleted

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
            labels_json = json.dumps({**labels, "model": model} if model else labels)
        return (
            operation_id, raw[TOOL], raw[OPERATION], raw[STATUS], raw[END_TS],
            raw[DURATION_S] * 1000.0, raw[COST], raw[INPUT_TOKENS], raw[OUTPUT_TOKENS], model,
            error_code, raw[ERROR_MESSAGE], labels_json,
            json.dumps(extra, default=str) if extra else None,
        )  # fmt: skip

    def _model_labels(self, model: str) -> str:
        found = self._labels_json.get(model)
        if found is None:
            found = json.dumps({"model": model})
            if len(self._labels_json) < 1000:  # bounded: model names come from responses
                self._labels_json[model] = found
        return found

    def _operation_name(self, tool: str, operation: str) -> str:
        known = self._operations.setdefault(tool, set())
        if operation in known:
            return operation
        if len(known) >= self._max_operations:
            return OTHER_OPERATION
        known.add(operation)
        return operation

    def _accumulate(self, raws: list[RawRecord]) -> set[Key]:
        # Group the batch by (tool, operation, minute) first, then count each group
        # once with the columnar Bucket.add_many: a batch usually holds one or two groups.
        groups = [
            (tool, raw_operation, index * MINUTE, part)
            for (tool, raw_operation), series in group_by_series(raws)
            for index, part in group_by_period(series, MINUTE)
        ]
        touched: set[Key] = set()
        for tool, raw_operation, minute, group in groups:
            operation = self._operation_name(tool, raw_operation)
            counted = Bucket()
            failed = counted.add_many(group)
            last = None
            if failed:
                failures = [r for r in group if r[STATUS] in _FAILURES]
                latest = max(failures, key=lambda r: r[END_TS])
                last = (latest[END_TS], latest[ERROR_MESSAGE])
            for resolution, start in ((MINUTE, minute), (HOUR, minute // HOUR * HOUR)):
                key = (tool, operation, resolution, start)
                bucket, last_error = self._bucket(key)
                bucket.merge(counted)
                if last is not None and (not last_error or last[0] >= last_error[0]):
                    last_error[:] = list(last)
                touched.add(key)
        return touched

    def _bucket(self, key: Key) -> tuple[Bucket, list[Any]]:
        found = self._buckets.get(key)
        if found is None:
            # A bucket already forgotten (a record that arrived very late) is reloaded,
            # so the overwrite that follows keeps what was written before.
            row = load_rollup(self.store, self.writer, key) if key in self._forgotten else None
            if row is not None:
                last = [row.last_error_ts, row.last_error] if row.last_error_ts else []
                found = (Bucket.from_dict(row.bucket), last)
            else:
                found = (Bucket(), [])
            self._buckets[key] = found
        return found

    def _rollup(self, key: Key) -> RollupRow:
        bucket, last_error = self._buckets[key]
        tool, operation, resolution, start = key
        return RollupRow(
            writer=self.writer, tool=tool, operation=operation, resolution=resolution,
            bucket_start=start, bucket=bucket.to_dict(), operations=bucket.operations,
            last_error_ts=last_error[0] if last_error else None,
            last_error=last_error[1] if last_error else None,
        )  # fmt: skip

    def _forget_old(self, now: float) -> None:
        stale = [key for key in self._buckets if key[3] + key[2] + _KEEP[key[2]] < now]
        for key in stale:
            del self._buckets[key]
            self._forgotten[key] = now
        if len(self._forgotten) > _MAX_FORGOTTEN:
            # Keep the newest: a record late by more than that is not expected.
            keep = sorted(self._forgotten.items(), key=lambda item: item[1])[-_MAX_FORGOTTEN // 2 :]
            self._forgotten = dict(keep)


def history(
    store: Store, now: float, *, exclude_writer: str | None = None
) -> list[tuple[str, str, float, Bucket, tuple[float, str | None] | None]]:
    """Return the last day of rollups from every writer, as items for ``PerformanceMonitor.seed``.

    Minute rollups cover the current and the previous hour, hour rollups the
    rest of the last 25 hours, so no operation is counted twice.
    """
    cutoff = (int(now // HOUR) - 1) * HOUR
    rows = load_rollups(store, MINUTE, cutoff)
    rows += [r for r in load_rollups(store, HOUR, now - 25 * HOUR) if r.bucket_start < cutoff]
    return [
        (
            row.tool, row.operation, float(row.bucket_start), Bucket.from_dict(row.bucket),
            (row.last_error_ts, row.last_error) if row.last_error_ts is not None else None,
        )
        for row in rows
        if row.writer != exclude_writer
    ]  # fmt: skip


def restore(monitor: PerformanceMonitor, store: Store, *, exclude_writer: str | None = None) -> int:
    """Seed ``monitor`` with the last day of rollups from every writer; return buckets restored."""
    items = history(store, monitor.clock.now().timestamp(), exclude_writer=exclude_writer)
    monitor.seed(items)
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
    records = []
    for row in rows:
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
            output_tokens=row["output_tokens"],
            custom_metrics=details.pop("custom_metrics", {}), labels=row["labels"],
        )  # fmt: skip
        for name, value in details.items():
            if name in _DETAIL_FIELDS:
                setattr(record, name, value)
        record.fallback_used = (
            status_value is OperationStatus.FALLBACK or record.fallback_name is not None
        )
        records.append(record)
    return records, total
