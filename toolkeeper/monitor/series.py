"""Keep the tiered buckets of one (tool, operation) pair; memory is bounded by the tiers.

Each series holds buckets in three tiers::

    tier   bucket   kept        serves windows up to
    0      10 s     37 buckets  6 min   (1m, 5m)
    1      1 min    61 buckets  61 min  (1h)
    2      15 min   97 buckets  24 h 15 min (24h)

Records land in a tier-0 bucket. When a bucket falls out of its tier it is merged
into the bucket of the next tier that contains it; out of the last tier it is
merged into the series' *retired* totals. Every record is therefore in exactly one
place, so lifetime totals (retired plus every bucket) stay exact, and a series
holds at most 195 buckets however many operations it sees.

A window of W seconds is aligned to the granularity G of the first tier that can
hold it: it counts buckets starting at or after ``(floor(now / G) - W / G + 1) * G``.
So a window covers between W - G and W seconds, and it never counts a record older
than W. Because G is a multiple of every finer granularity, rolling a bucket up
never moves a record in or out of a window.

Not thread-safe: the aggregates fold and read series under one lock.
"""

from __future__ import annotations

from collections.abc import Iterable

from toolkeeper.monitor.buckets import Bucket
from toolkeeper.monitor.records import END_TS, ERROR_MESSAGE, FAILURE_STATUSES, STATUS, RawRecord

__all__ = ["FINE_SECONDS", "TIERS", "WINDOWS", "Series", "granularity_for"]

TIERS: tuple[tuple[int, int], ...] = ((10, 37), (60, 61), (900, 97))
"""(bucket seconds, buckets kept) per tier, finest first."""

WINDOWS: dict[str, int] = {"1m": 60, "5m": 300, "1h": 3600, "24h": 86400}
"""The rolling windows every report offers, in seconds."""

FINE_SECONDS = TIERS[0][0]
_FAILURES = frozenset(str(s) for s in FAILURE_STATUSES)


def granularity_for(seconds: float) -> int:
    """Return the bucket size that a window (or a history) of ``seconds`` is aligned to."""
    for size, kept in TIERS:
        if seconds <= size * kept:
            return size
    return TIERS[-1][0]


class Series:
    """Hold the tiered buckets of one (tool, operation) pair."""

    __slots__ = ("last_error", "last_error_ts", "retired", "tiers")

    def __init__(self) -> None:
        self.tiers: list[dict[int, Bucket]] = [{} for _ in TIERS]
        self.retired = Bucket()
        self.last_error_ts: float | None = None
        self.last_error: str | None = None

    def fine_bucket(self, index: int) -> Bucket:
        """Return the tier-0 bucket with ``index`` (``ts // 10``), creating it if needed."""
        bucket = self.tiers[0].get(index)
        if bucket is None:
            bucket = self.tiers[0][index] = Bucket()
            self.roll(index * FINE_SECONDS)
        return bucket

    def roll(self, now: float) -> None:
        """Move every bucket that has left its tier at ``now`` into the next one."""
        last = len(TIERS) - 1
        for level, (size, kept) in enumerate(TIERS):
            tier = self.tiers[level]
            limit = int(now // size) - kept
            expired = [index for index in tier if index <= limit]
            for index in expired:
                bucket = tier.pop(index)
                if level == last:
                    self.retired.merge(bucket)
                    continue
                next_size = TIERS[level + 1][0]
                target = self.tiers[level + 1]
                parent_index = index * size // next_size
                parent = target.get(parent_index)
                if parent is None:
                    target[parent_index] = bucket
                else:
                    parent.merge(bucket)

    def seed(self, start: float, bucket: Bucket, now: float) -> None:
        """Merge a pre-aggregated bucket starting at ``start`` (a whole minute) into its tier.

        Used to restore history from the store: the bucket lands in the finest
        tier whose granularity divides its start and still holds it at ``now``.
        """
        for level, (size, kept) in enumerate(TIERS):
            if level == 0 or start % size:
                continue
            if int(start // size) > int(now // size) - kept:
                tier = self.tiers[level]
                existing = tier.get(int(start // size))
                if existing is None:
                    tier[int(start // size)] = bucket
                else:
                    existing.merge(bucket)
                return
        coarsest, _ = TIERS[-1]
        tier = self.tiers[-1]
        index = int(start // coarsest)
        if index > int(now // coarsest) - TIERS[-1][1]:
            existing = tier.get(index)
            if existing is None:
                tier[index] = bucket
            else:
                existing.merge(bucket)
        else:
            self.retired.merge(bucket)

    def collect(self, into: Bucket, since: float, *, latency: bool = True) -> None:
        """Merge every bucket that starts at or after ``since`` (epoch seconds) into ``into``."""
        for level, (size, _) in enumerate(TIERS):
            for index, bucket in self.tiers[level].items():
                if index * size >= since:
                    into.merge(bucket, latency=latency)

    def collect_all(self, into: Bucket, *, latency: bool = True) -> None:
        """Merge everything this series ever counted into ``into``."""
        into.merge(self.retired, latency=latency)
        self.collect(into, float("-inf"), latency=latency)

    def spread(self, into: dict[int, Bucket], since: float, size: int) -> None:
        """Merge buckets starting at or after ``since`` into ``into``, keyed by ``start // size``.

        A bucket coarser than ``size`` lands whole in the slot where it starts.
        """
        for level, (own_size, _) in enumerate(TIERS):
            for index, bucket in self.tiers[level].items():
                start = index * own_size
                if start >= since:
                    target = into.get(start // size)
                    if target is None:
                        target = into[start // size] = Bucket()
                    target.merge(bucket)

    def note_failures(self, records: Iterable[RawRecord]) -> None:
        """Remember the latest failure among ``records`` (and earlier ones)."""
        for raw in records:
            if raw[STATUS] in _FAILURES:
                end = raw[END_TS]
                if self.last_error_ts is None or end >= self.last_error_ts:
                    self.last_error_ts = end
                    self.last_error = raw[ERROR_MESSAGE]

    @property
    def bucket_count(self) -> int:
        """Return how many buckets the series holds (at most 195)."""
        return sum(len(tier) for tier in self.tiers)
