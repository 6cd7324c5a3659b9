"""PerformanceMonitor: the record() hot path, exact counts under threads, windows, memory."""

from __future__ import annotations

import math
import random
import threading
import tracemalloc
from datetime import datetime, timedelta

import pytest

from toolkeeper._clock import FakeClock
from toolkeeper.monitor import OperationStatus, PerformanceMonitor

SUCCESS = OperationStatus.SUCCESS
ERROR = OperationStatus.ERROR


def test_record_counts_status_cost_tokens_and_custom_metrics(engine: PerformanceMonitor) -> None:
    """One ``record`` call is reflected in every window and in the totals."""
    engine.record(
        "openai", "chat", SUCCESS, 0.25, cost=0.002, input_tokens=812, output_tokens=64,
        custom_metrics={"quality_score": 0.92}, user_id="ana",
    )  # fmt: skip
    for window in ("1m", "5m", "1h", "24h", "total"):
        stats = engine.get_window_stats("openai", window)
        assert stats is not None
        assert stats.total_operations == 1
        assert stats.cost_usd == 0.002
        assert (stats.input_tokens, stats.output_tokens) == (812, 64)
        assert stats.custom_metrics["quality_score"]["mean"] == 0.92
    [record] = engine.recent_operations()
    assert record.user_id == "ana"
    assert record.operation_id.startswith("op-")


def test_record_rejects_a_status_that_is_not_final(engine: PerformanceMonitor) -> None:
    """``started`` or an unknown status is an error that names the value."""
    with pytest.raises(ValueError, match="'started' is not a final status"):
        engine.record("t", "op", OperationStatus.STARTED, 0.1)
    with pytest.raises(ValueError, match="'sucess'"):
        engine.record("t", "op", "sucess", 0.1)  # type: ignore[arg-type]
    assert engine.tools() == []


def test_eight_threads_lose_no_count(clock: FakeClock) -> None:
    """8 threads recording 10,000 operations each leave exactly 80,000 in the aggregates."""
    with PerformanceMonitor(clock=clock) as monitor:
        start = threading.Barrier(8)

        def work(worker: int) -> None:
            start.wait()
            for i in range(10_000):
                status = ERROR if i % 10 == 0 else SUCCESS
                monitor.record(f"tool{worker % 2}", "op", status, 0.001, cost=0.001)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        totals = [monitor.get_window_stats(f"tool{n}", "total") for n in range(2)]
        assert [t.total_operations for t in totals if t] == [40_000, 40_000]
        assert sum(t.count(ERROR) for t in totals if t) == 8_000
        assert sum(t.cost_usd for t in totals if t) == pytest.approx(80.0)


def test_rolling_windows_expire_with_the_clock(
    engine: PerformanceMonitor, clock: FakeClock
) -> None:
    """An operation leaves the 1m window after a minute and the 5m window after five."""
    engine.record("t", "op", SUCCESS, 0.1)

    def count(window: str) -> int:
        stats = engine.get_window_stats("t", window)
        return stats.total_operations if stats else -1

    clock.advance(61)
    assert (count("1m"), count("5m"), count("1h")) == (0, 1, 1)
    clock.advance(240)
    assert (count("1m"), count("5m"), count("1h")) == (0, 0, 1)
    clock.advance(3600)
    assert (count("1h"), count("24h"), count("total")) == (0, 1, 1)
    clock.advance(86400)
    assert (count("24h"), count("total")) == (0, 1)


def test_percentiles_are_within_one_percent(engine: PerformanceMonitor) -> None:
    """p50, p95 and p99 match the exact sorted values within 1% relative error."""
    rng = random.Random(42)
    durations = [rng.lognormvariate(-2, 1) for _ in range(5000)]
    for duration in durations:
        engine.record("t", "op", SUCCESS, duration)
    stats = engine.get_window_stats("t", "5m")
    assert stats is not None
    ordered = sorted(durations)
    for q, estimate in (
        (0.5, stats.p50_latency_ms),
        (0.95, stats.p95_latency_ms),
        (0.99, stats.p99_latency_ms),
    ):
        truth = ordered[math.floor(q * (len(ordered) - 1))] * 1000.0
        assert estimate is not None
        assert abs(estimate - truth) <= 0.01 * truth
    assert stats.mean_latency_ms == pytest.approx(sum(durations) / len(durations) * 1000.0)


def test_aggregate_memory_does_not_grow_with_operations(clock: FakeClock) -> None:
    """200,000 more operations leave the monitor's traced memory where it was."""

    def run(monitor: PerformanceMonitor, count: int) -> None:
        for i in range(count):
            monitor.record("t", f"op{i % 5}", SUCCESS if i % 7 else ERROR, 0.001 * (1 + i % 50))
        monitor.flush()

    with PerformanceMonitor(clock=clock, recent_size=1000) as monitor:
        tracemalloc.start()
        try:
            run(monitor, 20_000)  # fills the recent ring and every sketch bin
            before, _ = tracemalloc.get_traced_memory()
            run(monitor, 200_000)
            after, _ = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert after - before < 32 * 1024
        stats = monitor.get_window_stats("t", "total")
        assert stats is not None
        assert stats.total_operations == 220_000


def test_wrapper_metrics_are_time_buckets(engine: PerformanceMonitor, clock: FakeClock) -> None:
    """``get_wrapper_metrics`` returns one report per bucket since ``since``, oldest first."""
    start = clock.now()
    for _ in range(3):
        engine.record("t", "op", SUCCESS, 0.1)
        engine.record("t", "op", ERROR, 0.2)
        clock.advance(60)
    buckets = engine.get_wrapper_metrics("t", since=start)
    assert [(b.start - start, b.end - b.start, b.total_operations) for b in buckets] == [
        (timedelta(minutes=m), timedelta(seconds=10), 2) for m in range(3)
    ]
    assert engine.get_wrapper_metrics("unknown") == []
    with pytest.raises(ValueError, match="has no time zone"):
        engine.get_wrapper_metrics("t", since=datetime(2026, 1, 1))  # noqa: DTZ001


def test_unknown_windows_and_tools(engine: PerformanceMonitor) -> None:
    """An unknown window is an error naming it; an unknown tool has no stats."""
    engine.record("t", "op", SUCCESS, 0.1)
    with pytest.raises(ValueError, match="window '2m'"):
        engine.get_window_stats("t", "2m")
    assert engine.get_window_stats("nope") is None
    assert engine.get_latency_sketch("nope") is None
    assert engine.get_wrapper_stats("nope") is None
    assert engine.tools() == ["t"]
    assert engine.operations("t") == ["op"]


def test_system_clock_is_the_default() -> None:
    """Without a clock, the monitor stamps records with the real time."""
    with PerformanceMonitor() as monitor:
        monitor.record("t", "op", SUCCESS, 0.1)
        [record] = monitor.recent_operations()
        assert abs((record.end_time - monitor.created_at).total_seconds()) < 60  # type: ignore[operator]
