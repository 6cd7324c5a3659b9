"""Fold finished operations into per-tool, per-operation series, and read windows from them.

See :mod:`toolkeeper.monitor.series` for the tiers and how windows are aligned.
Folding groups a batch by series and by 10-second bucket first, so the common
case (one busy series) is counted in one pass per group (:func:`common`,
:func:`extent`, and :func:`~toolkeeper.monitor.buckets.tally`, each in C when the
extension was built).

Not thread-safe: :class:`~toolkeeper.monitor.pipeline.RecordPipeline` folds and
reads under one lock.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterable, Mapping
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from toolkeeper.monitor.buckets import Bucket
from toolkeeper.monitor.records import (
    COST,
    CUSTOM,
    DETAILS,
    DURATION_S,
    END_TS,
    FAILURE_STATUSES,
    INPUT_TOKENS,
    MODEL,
    OPERATION,
    OUTPUT_TOKENS,
    STATUS,
    TOOL,
    RawRecord,
)
from toolkeeper.monitor.series import FINE_SECONDS, WINDOWS, Series, granularity_for

if TYPE_CHECKING:
    from toolkeeper.monitor.rollups import RollupDeltas

__all__ = [
    "OTHER_OPERATION",
    "TOTAL_WINDOW",
    "WINDOWS",
    "Aggregates",
    "common",
    "extent",
    "group_by_model_series",
    "group_by_period",
    "group_by_series",
    "python_common",
    "python_extent",
]

TOTAL_WINDOW = "total"
"""The name reports give to everything counted since the monitor was created."""

OTHER_OPERATION = "other"
"""The series that absorbs a tool's operations past ``max_operations_per_tool``."""

_FAILURES = frozenset(str(s) for s in FAILURE_STATUSES)
_SERIES_OF = itemgetter(TOOL, OPERATION)
_MODEL_SERIES_OF = itemgetter(TOOL, OPERATION, MODEL)
_END_OF = itemgetter(END_TS)
_COLUMNAR_MIN = 32  # below this, Counter and map set-up cost more than a plain loop


def python_common(records: list[RawRecord], fields: tuple[int, ...]) -> bool:
    """Return whether every record's value at each of ``fields`` equals the first record's.

    With C-level passes (``map``, ``list.count``). ``common`` is this function's C twin
    when the extension was built (``TOOLKEEPER_PURE_PYTHON=1`` chooses this one).
    """
    size = len(records)
    for field in fields:
        column = list(map(itemgetter(field), records))
        if column.count(column[0]) != size:
            return False
    return True


def python_extent(records: list[RawRecord], field: int) -> tuple[Any, Any]:
    """Return the least and the greatest value of ``field`` in ``records`` (not empty).

    ``extent`` is this function's C twin when the extension was built.
    """
    column = list(map(itemgetter(field), records))
    return min(column), max(column)


_Common = Callable[[list[RawRecord], tuple[int, ...]], bool]
_Extent = Callable[[list[RawRecord], int], tuple[Any, Any]]
_c_common: _Common | None
_c_extent: _Extent | None
try:
    from toolkeeper._speedups import common as _c_common
    from toolkeeper._speedups import extent as _c_extent
except ImportError:  # built without a C compiler: the Python twins do the same
    _c_common = _c_extent = None
#: Check a batch is one series and one period: the Python twins or the C ones, chosen once.
common: _Common = python_common
extent: _Extent = python_extent
if _c_common and _c_extent and not os.environ.get("TOOLKEEPER_PURE_PYTHON"):
    common, extent = _c_common, _c_extent


def group_by_series(batch: list[RawRecord]) -> Iterable[tuple[tuple[str, str], list[RawRecord]]]:
    """Split a batch by (tool, operation), keeping each group's order."""
    if not batch:
        return []
    first = batch[0]
    if common(batch, (TOOL, OPERATION)):  # the common case: one busy series
        return [((first[TOOL], first[OPERATION]), batch)]
    groups: dict[tuple[str, str], list[RawRecord]] = {}
    for key, raw in zip(map(_SERIES_OF, batch), batch, strict=True):
        group = groups.get(key)
        if group is None:
            groups[key] = [raw]
        else:
            group.append(raw)
    return groups.items()


def group_by_model_series(
    batch: list[RawRecord],
) -> Iterable[tuple[tuple[str, str, str | None], list[RawRecord]]]:
    """Split a batch by (tool, operation, model), keeping each group's order."""
    if not batch:
        return []
    first = batch[0]
    if common(batch, (TOOL, OPERATION, MODEL)):  # the common case: one series, one model
        return [((first[TOOL], first[OPERATION], first[MODEL]), batch)]
    groups: dict[tuple[str, str, str | None], list[RawRecord]] = {}
    for key, raw in zip(map(_MODEL_SERIES_OF, batch), batch, strict=True):
        group = groups.get(key)
        if group is None:
            groups[key] = [raw]
        else:
            group.append(raw)
    return groups.items()


def group_by_period(
    group: list[RawRecord], seconds: int = FINE_SECONDS
) -> Iterable[tuple[int, list[RawRecord]]]:
    """Split records by the period of ``seconds`` they ended in: (end // seconds, records)."""
    earliest, latest = extent(group, END_TS)
    first = int(earliest // seconds)
    if first == int(latest // seconds):  # the common case: one period
        return [(first, group)]
    parts: dict[int, list[RawRecord]] = {}
    for end, raw in zip(map(_END_OF, group), group, strict=True):
        parts.setdefault(int(end // seconds), []).append(raw)
    return parts.items()


def _count(part: list[RawRecord], bucket: Bucket) -> bool:
    """Add ``part``'s records to ``bucket``; return whether any of them failed."""
    if len(part) >= _COLUMNAR_MIN:
        return bucket.add_many(part)
    failed = False
    for raw in part:
        status = raw[STATUS]
        bucket.add(
            status, raw[DURATION_S], raw[COST], raw[INPUT_TOKENS], raw[OUTPUT_TOKENS],
            raw[CUSTOM], raw[DETAILS],
        )  # fmt: skip
        failed = failed or status in _FAILURES
    return failed


class Aggregates:
    """Keep every series, keyed by tool then operation: this process's, and others' shown beside.

    ``max_operations_per_tool`` bounds the series per tool: later operation names
    are counted under :data:`OTHER_OPERATION`, so memory stays bounded by tools.
    What :meth:`fold` counts is this process's own. What :meth:`seed` adds (other
    writers' recent history, for windows) and :meth:`show_totals` sets (their
    all-time totals, for lifetime reads) is shown beside it, never mixed into it:
    ``lifetime(..., others=False)`` is exactly this process's operations.
    """

    def __init__(self, *, max_operations_per_tool: int = 100) -> None:
        if max_operations_per_tool < 1:
            raise ValueError(
                f"max_operations_per_tool must be at least 1, got {max_operations_per_tool!r}"
            )
        self.max_operations_per_tool = max_operations_per_tool
        self._series: dict[str, dict[str, Series]] = {}
        self._history: dict[str, dict[str, Series]] = {}
        self._totals: dict[str, dict[str, Bucket]] = {}

    def fold(self, batch: list[RawRecord], rollups: RollupDeltas | None = None) -> None:
        """Count every raw record of ``batch`` in its series' bucket (and in ``rollups``).

        Records are grouped by series and by 10-second bucket first; large groups
        are counted in C-level passes (:meth:`Bucket.add_many`), small ones one by one.
        With ``rollups``, groups are split by model too, each part is counted once
        into a fresh bucket, and that bucket is merged into its series and handed
        to ``rollups``: the store's rollups then cost a merge per part, not a
        second count per record.
        """
        if rollups is not None:
            self._fold_with_rollups(batch, rollups)
            return
        for (tool, operation), group in group_by_series(batch):
            series = self._series_for(tool, operation)
            for index, part in group_by_period(group):
                bucket = series.fine_bucket(index)
                failed = _count(part, bucket)
                if failed:
                    series.note_failures(part)

    def _fold_with_rollups(self, batch: list[RawRecord], rollups: RollupDeltas) -> None:
        for (tool, operation, model), group in group_by_model_series(batch):
            series = self._series_for(tool, operation)
            for index, part in group_by_period(group):
                counted = Bucket()
                failed = _count(part, counted)
                series.fine_bucket(index).merge(counted)
                if failed:
                    series.note_failures(part)
                rollups.add(tool, operation, model, index * FINE_SECONDS, counted, part, failed)

    def _series_for(
        self, tool: str, operation: str, into: dict[str, dict[str, Series]] | None = None
    ) -> Series:
        into = self._series if into is None else into
        by_operation = into.get(tool)
        if by_operation is None:
            by_operation = into[tool] = {}
        series = by_operation.get(operation)
        if series is None:
            if len(by_operation) >= self.max_operations_per_tool:
                operation = OTHER_OPERATION
                series = by_operation.get(operation)
            if series is None:
                series = by_operation[operation] = Series()
        return series

    def tools(self) -> list[str]:
        """Return every tool that finished at least one operation, sorted."""
        return sorted(set(self._series) | set(self._history) | set(self._totals))

    def has_tool(self, tool: str) -> bool:
        """Return whether ``tool`` finished at least one operation."""
        return tool in self._series or tool in self._history or tool in self._totals

    def operations(self, tool: str) -> list[str]:
        """Return the operation names counted for ``tool``, sorted."""
        names = set(self._series.get(tool, {})) | set(self._history.get(tool, {}))
        return sorted(names | set(self._totals.get(tool, {})))

    def _selected(
        self, tool: str, operations: Collection[str] | None, *, others: bool = True
    ) -> list[Series]:
        sources = (self._series, self._history) if others else (self._series,)
        found: list[Series] = []
        for source in sources:
            by_operation = source.get(tool, {})
            if operations is None:
                found.extend(by_operation.values())
            else:
                found.extend(by_operation[name] for name in operations if name in by_operation)
        return found

    def window(
        self,
        tool: str,
        seconds: int,
        now: float,
        operations: Collection[str] | None = None,
        *,
        latency: bool = True,
        others: bool = True,
    ) -> tuple[float, Bucket]:
        """Return the aligned start (epoch seconds) and the merged bucket of a window."""
        size = granularity_for(seconds)
        start = float((int(now // size) - seconds // size + 1) * size)
        merged = Bucket()
        for series in self._selected(tool, operations, others=others):
            series.collect(merged, start, latency=latency)
        return start, merged

    def lifetime(
        self,
        tool: str,
        operations: Collection[str] | None = None,
        *,
        latency: bool = True,
        others: bool = True,
    ) -> Bucket:
        """Return everything ``tool`` (or some of its operations) ever counted.

        ``others=False`` counts only this process's operations; otherwise the
        other writers' totals (:meth:`show_totals`) are added.
        """
        merged = Bucket()
        for series in self._selected(tool, operations, others=False):
            series.collect_all(merged, latency=latency)
        if others:
            by_operation = self._totals.get(tool, {})
            names = by_operation if operations is None else operations
            for name in names:
                bucket = by_operation.get(name)
                if bucket is not None:
                    merged.merge(bucket, latency=latency)
        return merged

    def history(self, tool: str, since: float, now: float) -> list[tuple[float, int, Bucket]]:
        """Return ``(start, seconds, bucket)`` for each bucket of ``tool`` since ``since``.

        All buckets share one size: the granularity that covers ``now - since``;
        finer buckets are merged into it. At most 24 h 15 min are available.
        """
        size = granularity_for(max(now - since, 1.0))
        aligned = float(int(since // size) * size)
        spread: dict[int, Bucket] = {}
        for series in self._selected(tool, None):
            series.spread(spread, aligned, size)
        return [(float(key * size), size, spread[key]) for key in sorted(spread)]

    def last_error(self, tool: str) -> tuple[float, str | None] | None:
        """Return when ``tool`` last failed (epoch seconds) and the message, if it did."""
        latest: tuple[float, str | None] | None = None
        for series in self._selected(tool, None):
            ts = series.last_error_ts
            if ts is not None and (latest is None or ts > latest[0]):
                latest = (ts, series.last_error)
        return latest

    def seed(  # noqa: PLR0917 - one item of a restored history, in its natural order
        self,
        tool: str,
        operation: str,
        start: float,
        bucket: Bucket,
        now: float,
        last_error: tuple[float, str | None] | None = None,
    ) -> None:
        """Add a pre-aggregated bucket of other writers (from the store) to the history shown."""
        series = self._series_for(tool, operation, self._history)
        series.seed(start, bucket, now)
        if last_error is not None and (
            series.last_error_ts is None or last_error[0] > series.last_error_ts
        ):
            series.last_error_ts, series.last_error = last_error

    def show_totals(self, totals: Mapping[tuple[str, str], Bucket]) -> None:
        """Set the other writers' all-time totals per (tool, operation), replacing earlier ones."""
        shown: dict[str, dict[str, Bucket]] = {}
        for (tool, operation), bucket in totals.items():
            shown.setdefault(tool, {})[operation] = bucket
        self._totals = shown

    def adopt_others(self, fresh: Aggregates) -> None:
        """Show ``fresh``'s seeded history instead of the other writers' history shown so far."""
        self._history = fresh._history

    def series(self, tool: str, operation: str) -> Series | None:
        """Return one series, for inspection."""
        return self._series.get(tool, {}).get(operation)
