"""Build what other processes read from this process's exact stream of finished records.

Every record the pipeline drains is counted here, before any raw detail can be
shed, so the rollups and totals a process writes to the store are exact however
far its writer falls behind. This is the one place rollups are built::

    drain --Aggregates.fold--> RollupDeltas.add (per tool, operation, model, minute)
                      --take--> Rollups.merge: running minute and hour buckets,
                                 and lifetime totals per (tool, operation, model)
                      --dirty()--> rows the store writer upserts (then clean())

A delta is what arrived since the last ``take``; :class:`Rollups` keeps running
values, so a write that fails is simply retried with the same (dirty) rows and
nothing is counted twice. Model ``""`` means the record named no model.
Neither class is thread-safe: the pipeline folds under its lock, and only the
writer thread merges and reads :class:`Rollups`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from operator import itemgetter

from toolkeeper._text import storable
from toolkeeper.monitor.aggregates import OTHER_OPERATION
from toolkeeper.monitor.buckets import Bucket
from toolkeeper.monitor.records import (
    DETAILS,
    END_TS,
    ERROR_MESSAGE,
    FAILURE_STATUSES,
    STATUS,
    RawRecord,
)

__all__ = [
    "HOUR",
    "MINUTE",
    "RollupDelta",
    "RollupDeltas",
    "RollupKey",
    "Rollups",
    "SeriesKey",
    "StoredRollup",
    "StoredTotal",
]

MINUTE, HOUR = 60, 3600
_FAILURES = frozenset(str(s) for s in FAILURE_STATUSES)
_END_OF = itemgetter(END_TS)
_DETAILS_OF = itemgetter(DETAILS)

SeriesKey = tuple[str, str, str]
"""(tool, operation, model); model ``""`` when the record named none."""
RollupKey = tuple[str, str, str, int, int]
"""(tool, operation, model, resolution seconds, bucket start epoch seconds)."""


@dataclass(slots=True)
class RollupDelta:
    """What one series did in one minute since the last hand-over."""

    bucket: Bucket
    unpriced: int = 0
    last_error: tuple[float, str | None] | None = None

    def merge(self, other: RollupDelta) -> None:
        """Add ``other`` into this delta."""
        self.bucket.merge(other.bucket)
        self.unpriced += other.unpriced
        self.last_error = _later(self.last_error, other.last_error)


def _later(
    mine: tuple[float, str | None] | None, other: tuple[float, str | None] | None
) -> tuple[float, str | None] | None:
    if other is None:
        return mine
    if mine is None or other[0] >= mine[0]:
        return other
    return mine


NAME_LENGTH = 200
"""The longest tool, operation or model name the store keeps; longer ones are cut."""


def _name(name: str) -> str:
    """Return ``name`` as the store can always keep it: storable text, at most 200 characters."""
    if len(name) <= NAME_LENGTH and name.isascii() and "\x00" not in name:
        return name
    return storable(name)[:NAME_LENGTH]


def _unpriced(details: object) -> bool:
    if details is None:
        return False
    if isinstance(details, dict):
        return bool(details.get("unpriced"))
    return bool(getattr(details, "unpriced", False))


class RollupDeltas:
    """Fold drained records into per-(tool, operation, model, minute) deltas.

    ``max_operations_per_tool`` folds further operation names into ``other``,
    as the in-memory aggregates do, so memory stays bounded by tools.
    """

    def __init__(self, *, max_operations_per_tool: int = 100) -> None:
        self._max_operations = max_operations_per_tool
        self._operations: dict[str, set[str]] = {}
        self._deltas: dict[tuple[str, str, str, int], RollupDelta] = {}

    def __bool__(self) -> bool:
        return bool(self._deltas)

    def add(  # noqa: PLR0917 - one counted part, in the fold's own terms
        self,
        tool: str,
        operation: str,
        model: str | None,
        start: float,
        counted: Bucket,
        part: list[RawRecord],
        failed: bool,
    ) -> None:
        """Add ``counted``, the bucket of the records ``part`` of one series, to its minute.

        Called by :meth:`Aggregates.fold` for each part it counts, so a record is
        counted once and merged twice (into its series and here). ``counted`` is
        kept, not copied: the caller must not change it afterwards.
        """
        key = (
            _name(tool),
            _name(self._operation_name(tool, operation)),
            _name(model or ""),
            int(start // MINUTE) * MINUTE,
        )
        delta = self._deltas.get(key)
        if delta is None:
            delta = self._deltas[key] = RollupDelta(counted)
        else:
            delta.bucket.merge(counted)
        if failed:
            latest = max((r for r in part if r[STATUS] in _FAILURES), key=_END_OF)
            message = latest[ERROR_MESSAGE]
            delta.last_error = _later(
                delta.last_error,
                (latest[END_TS], None if message is None else storable(message)),
            )
        details = list(filter(None, map(_DETAILS_OF, part)))
        if details:
            delta.unpriced += sum(map(_unpriced, details))

    def take(self) -> dict[tuple[str, str, str, int], RollupDelta]:
        """Return every delta folded since the last call, and start afresh."""
        taken, self._deltas = self._deltas, {}
        return taken

    def give_back(self, deltas: dict[tuple[str, str, str, int], RollupDelta]) -> None:
        """Merge deltas that could not be used back in (they are taken again next time)."""
        for key, delta in deltas.items():
            mine = self._deltas.get(key)
            if mine is None:
                self._deltas[key] = delta
            else:
                mine.merge(delta)

    def _operation_name(self, tool: str, operation: str) -> str:
        known = self._operations.setdefault(tool, set())
        if operation in known:
            return operation
        if len(known) >= self._max_operations:
            return OTHER_OPERATION
        known.add(operation)
        return operation


@dataclass(frozen=True, slots=True)
class StoredRollup:
    """One running bucket as the store keeps it (``bucket`` holds ``unpriced`` too)."""

    key: RollupKey
    bucket: Bucket
    unpriced: int
    last_error: tuple[float, str | None] | None


@dataclass(frozen=True, slots=True)
class StoredTotal:
    """One series' totals since its writer started."""

    key: SeriesKey
    bucket: Bucket
    unpriced: int


#: How long (seconds past its end) a running bucket stays in memory, by resolution.
_KEEP = {MINUTE: 5 * MINUTE, HOUR: 2 * HOUR}
_MAX_FORGOTTEN = 20_000


class Rollups:
    """Keep one writer's running minute and hour buckets and lifetime totals.

    ``reload`` (optional) returns a bucket this writer already stored, for a
    record that arrives after its bucket was dropped from memory (so the
    overwrite that follows keeps what was written before).
    """

    def __init__(self, *, reload: Callable[[RollupKey], StoredRollup | None] | None = None) -> None:
        self._running: dict[RollupKey, RollupDelta] = {}
        self._totals: dict[SeriesKey, RollupDelta] = {}
        self._dirty: set[RollupKey] = set()
        self._dirty_totals: set[SeriesKey] = set()
        self._forgotten: dict[RollupKey, float] = {}
        self._reload = reload

    def merge(self, deltas: dict[tuple[str, str, str, int], RollupDelta]) -> None:
        """Add deltas to the running minute and hour buckets and to the totals."""
        for (tool, operation, model, minute), delta in deltas.items():
            for resolution, start in ((MINUTE, minute), (HOUR, minute // HOUR * HOUR)):
                key = (tool, operation, model, resolution, start)
                self._running_for(key).merge(delta)
                self._dirty.add(key)
            series = (tool, operation, model)
            total = self._totals.get(series)
            if total is None:
                total = self._totals[series] = RollupDelta(Bucket())
            total.merge(delta)
            self._dirty_totals.add(series)

    @property
    def pending(self) -> bool:
        """Return whether some rows changed since they were last stored."""
        return bool(self._dirty or self._dirty_totals)

    def dirty(self) -> tuple[list[StoredRollup], list[StoredTotal]]:
        """Return the rollups and totals changed since :meth:`clean` was last called."""
        rollups = [
            StoredRollup(key, running.bucket, running.unpriced, running.last_error)
            for key in sorted(self._dirty)
            for running in (self._running[key],)
        ]
        totals = [
            StoredTotal(series, total.bucket, total.unpriced)
            for series in sorted(self._dirty_totals)
            for total in (self._totals[series],)
        ]
        return rollups, totals

    def clean(self, now: float) -> None:
        """Mark everything stored, and drop buckets old enough not to change any more."""
        self._dirty.clear()
        self._dirty_totals.clear()
        stale = [key for key in self._running if key[4] + key[3] + _KEEP[key[3]] < now]
        for key in stale:
            del self._running[key]
            self._forgotten[key] = now
        if len(self._forgotten) > _MAX_FORGOTTEN:
            # Keep the newest: a record late by more than that is not expected.
            keep = sorted(self._forgotten.items(), key=lambda item: item[1])
            self._forgotten = dict(keep[-_MAX_FORGOTTEN // 2 :])

    def totals(self) -> dict[SeriesKey, Bucket]:
        """Return this writer's totals per series (the buckets themselves: do not change them)."""
        return {series: total.bucket for series, total in self._totals.items()}

    def _running_for(self, key: RollupKey) -> RollupDelta:
        found = self._running.get(key)
        if found is None:
            stored = None
            if key in self._forgotten and self._reload is not None:
                stored = self._reload(key)
            if stored is not None:
                found = RollupDelta(stored.bucket, stored.unpriced, stored.last_error)
            else:
                found = RollupDelta(Bucket())
            self._running[key] = found
        return found
