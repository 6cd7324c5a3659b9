"""Series: tiered buckets that roll up exactly and never exceed 195 per (tool, operation)."""

from __future__ import annotations

from typing import Any

from toolkeeper.monitor.buckets import Bucket
from toolkeeper.monitor.series import TIERS, Series, granularity_for

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
MAX_BUCKETS = sum(kept for _, kept in TIERS)


def add(series: Series, ts: float, status: str = "success") -> None:
    """Count one 10 ms operation that finished at ``ts``."""
    series.fine_bucket(int(ts // 10)).add(status, 0.01, 0.0, 1, 0, None)


def total(series: Series) -> int:
    """Return everything the series ever counted."""
    merged = Bucket()
    series.collect_all(merged)
    return merged.operations


def test_bucket_count_is_bounded_over_a_day_and_more() -> None:
    """26 hours of traffic every 6 seconds leave at most 195 buckets, and exact totals."""
    series = Series()
    for step in range(26 * 600):
        add(series, T0 + step * 6)
    assert series.bucket_count <= MAX_BUCKETS == 195
    assert total(series) == 26 * 600
    assert len(series.tiers[0]) <= TIERS[0][1]


def test_rolled_buckets_move_to_the_next_tier() -> None:
    """A fine bucket that leaves its tier is merged into the minute that contains it."""
    series = Series()
    add(series, T0 + 5)
    add(series, T0 + 15)
    series.roll(T0 + 400)
    assert series.tiers[0] == {}
    assert list(series.tiers[1]) == [int(T0 // 60)]
    assert series.tiers[1][int(T0 // 60)].operations == 2
    series.roll(T0 + 200_000)
    assert series.bucket_count == 0
    assert series.retired.operations == 2
    assert total(series) == 2


def test_collect_counts_buckets_from_a_start_time() -> None:
    """``collect`` merges only buckets starting at or after ``since``."""
    series = Series()
    for offset in (0, 10, 20, 30):
        add(series, T0 + offset)
    merged = Bucket()
    series.collect(merged, T0 + 20)
    assert merged.operations == 2


def test_granularity_follows_the_tiers() -> None:
    """Spans up to 6 min use 10 s buckets, up to 61 min one minute, beyond 15 minutes."""
    spans = (60, 300, 370, 371, 3600, 86400, 10**6)
    assert [granularity_for(s) for s in spans] == [10, 10, 10, 60, 60, 900, 900]


def test_failures_remember_the_latest() -> None:
    """``note_failures`` keeps the latest error or timeout and ignores other statuses."""
    series = Series()
    records: list[tuple[Any, ...]] = [
        (0, T0 + 2, "t", "op", "timeout", 0.1, 0.0, 0, 0, None, "slow", None),
        (0, T0 + 5, "t", "op", "fallback", 0.1, 0.0, 0, 0, None, "served", None),
        (0, T0 + 1, "t", "op", "error", 0.1, 0.0, 0, 0, None, "old", None),
    ]
    series.note_failures(records)
    assert (series.last_error_ts, series.last_error) == (T0 + 2, "slow")
