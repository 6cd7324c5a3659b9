"""Buckets: exact counts, sums and custom-metric summaries, one by one or in batches."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from toolkeeper.monitor.buckets import COST_UNITS, Bucket

START = datetime(2026, 1, 1, tzinfo=UTC)
STATUSES = ("success", "error", "fallback", "timeout", "cancelled")


def raw(status: str, duration: float, cost: float = 0.0, custom: Any = None) -> tuple[Any, ...]:
    """Return a raw record tuple with the fields a bucket reads."""
    return (0, 0.0, "t", "op", status, duration, cost, 3, 2, custom, None, None)


records = st.lists(
    st.builds(
        raw,
        st.sampled_from(STATUSES),
        st.floats(min_value=0.0, max_value=100.0),
        st.floats(min_value=0.0, max_value=1.0),
        st.one_of(st.none(), st.dictionaries(st.sampled_from("abc"), st.integers(-5, 5))),
    ),
    min_size=1,
    max_size=120,
)


def add_each(bucket: Bucket, batch: list[tuple[Any, ...]]) -> None:
    """Count a batch through the one-by-one path."""
    for r in batch:
        bucket.add(r[4], r[5], r[6], r[7], r[8], r[9])


@settings(max_examples=100, deadline=None)
@given(records)
def test_batch_and_single_paths_agree(batch: list[tuple[Any, ...]]) -> None:
    """``add_many`` and ``add`` produce identical stats for the same records."""
    one, many = Bucket(), Bucket()
    add_each(one, batch)
    failed = many.add_many(batch)
    assert one.stats(START, START) == many.stats(START, START)
    assert failed == any(r[4] in ("error", "timeout") for r in batch)


@settings(max_examples=100, deadline=None)
@given(records, records)
def test_merging_buckets_is_exact(a: list[tuple[Any, ...]], b: list[tuple[Any, ...]]) -> None:
    """Merging two buckets equals counting both batches in one bucket."""
    left, right, whole = Bucket(), Bucket(), Bucket()
    add_each(left, a)
    add_each(right, b)
    add_each(whole, a + b)
    left.merge(right)
    assert left.counts == whole.counts
    assert left.latency.bins == whole.latency.bins
    assert left.input_tokens == whole.input_tokens
    assert left.stats(START, START).custom_metrics == whole.stats(START, START).custom_metrics


def test_stats_report_rates_latency_and_custom_summaries() -> None:
    """Rates share one denominator; latencies are ms; flags and text are not summarised."""
    bucket = Bucket()
    add_each(bucket, [raw("success", 0.1, 0.5, {"q": 0.5, "flag": True, "note": "x"})] * 7)
    add_each(bucket, [raw("error", 0.3)] * 2 + [raw("fallback", 0.2, custom={"q": 1.0})])
    stats = bucket.stats(START, START)
    assert stats.total_operations == 10
    assert (stats.success_rate, stats.error_rate, stats.fallback_rate) == (0.7, 0.2, 0.1)
    assert (stats.success_count, stats.error_count, stats.fallback_count) == (7, 2, 1)
    assert stats.cost_usd == 3.5
    assert stats.input_tokens == 30
    assert stats.min_latency_ms == 100.0
    assert stats.max_latency_ms == 300.0
    assert stats.custom_metrics == {
        "q": {"count": 8, "sum": 4.5, "min": 0.5, "max": 1.0, "mean": 0.5625}
    }
    data = stats.to_dict()
    assert data["start"] == "2026-01-01T00:00:00+00:00"
    assert data["counts"] == {"error": 2, "fallback": 1, "success": 7}


def test_empty_bucket_reports_no_latency() -> None:
    """An empty bucket has zero rates and ``None`` latencies."""
    stats = Bucket().stats(START, START)
    assert stats.total_operations == 0
    assert stats.success_rate == 0.0
    assert stats.p95_latency_ms is None
    assert stats.mean_latency_ms is None


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.integers(min_value=1, max_value=10**9), min_size=1, max_size=200),
    st.randoms(use_true_random=False),
)
def test_costs_sum_exactly_in_any_order_and_any_split(nanos: list[int], rng: Any) -> None:
    """Costs of whole nano-dollars sum to the exact total however they are added and merged."""
    costs = [n / 1e9 for n in nanos]
    exact = sum(nanos) * (COST_UNITS // 10**9)
    shuffled = costs[:]
    rng.shuffle(shuffled)
    one, merged = Bucket(), Bucket()
    add_each(one, [raw("success", 0.1, cost) for cost in costs])
    cut = len(shuffled) // 2
    for part in filter(None, (shuffled[:cut], shuffled[cut:])):
        piece = Bucket()
        piece.add_many([raw("success", 0.1, cost) for cost in part])
        merged.merge(Bucket.from_dict(piece.to_dict()))
    assert one.cost_units == merged.cost_units == exact
    assert one.cost == merged.cost == exact / COST_UNITS


def test_a_stored_bucket_without_nano_dollars_reads_its_dollars() -> None:
    """A rollup stored before costs were kept as integers is read from its dollars."""
    assert Bucket.from_dict({"cost": 1.2000000000000002}).cost == 1.2
