"""The hand-off: exact aggregates, a bounded sink queue with counted losses, flush, close."""

from __future__ import annotations

import logging
import threading

import pytest

from toolkeeper._clock import FakeClock
from toolkeeper.monitor import OperationStatus, PerformanceMonitor, WrapperOperationMetrics

SUCCESS = OperationStatus.SUCCESS


def test_a_full_sink_queue_drops_raw_events_but_not_counts(clock: FakeClock) -> None:
    """Past the sink queue's size, raw events are dropped and counted; aggregates stay exact."""
    received: list[WrapperOperationMetrics] = []
    with PerformanceMonitor(
        clock=clock, sink=received.extend, sink_queue_size=100, flush_interval_s=None
    ) as monitor:
        for _ in range(1000):
            monitor.record("openai", "chat", SUCCESS, 0.01)
        stats = monitor.get_window_stats("openai", "total")
        assert stats is not None
        assert stats.total_operations == 1000
        assert monitor.dropped_events == 900
        assert received == []
        monitor.flush()
        assert len(received) == 100
        assert monitor.get_system_health()["dropped_events"] == 900


def test_flush_hands_every_record_to_the_sink_in_batches(clock: FakeClock) -> None:
    """``flush`` delivers all queued records, in batches of at most ``sink_batch_size``."""
    batches: list[list[WrapperOperationMetrics]] = []
    with PerformanceMonitor(
        clock=clock, sink=batches.append, sink_batch_size=40, flush_interval_s=None
    ) as monitor:
        for i in range(100):
            monitor.record("t", "op", SUCCESS, 0.01, operation_id=f"id-{i}")
        monitor.flush()
    assert [len(batch) for batch in batches] == [40, 40, 20]
    assert [r.operation_id for batch in batches for r in batch] == [f"id-{i}" for i in range(100)]
    assert monitor.dropped_events == 0


def test_a_failing_sink_loses_its_batch_loudly(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A sink that raises loses that batch: logged, counted, and monitoring goes on."""

    def broken(records: list[WrapperOperationMetrics]) -> None:
        raise OSError("disk full")

    with PerformanceMonitor(clock=clock, sink=broken, flush_interval_s=None) as monitor:
        for _ in range(5):
            monitor.record("t", "op", SUCCESS, 0.01)
        with caplog.at_level(logging.ERROR, logger="toolkeeper.monitor"):
            monitor.flush()
        assert monitor.dropped_events == 5
        assert "monitoring sink failed; 5 records were dropped" in caplog.text
        monitor.record("t", "op", SUCCESS, 0.01)
        stats = monitor.get_window_stats("t", "total")
        assert stats is not None
        assert stats.total_operations == 6


def test_the_background_thread_delivers_without_a_flush(clock: FakeClock) -> None:
    """With a sink, a daemon thread delivers records on its own; ``close`` stops it."""
    delivered = threading.Event()
    received: list[WrapperOperationMetrics] = []

    def sink(records: list[WrapperOperationMetrics]) -> None:
        received.extend(records)
        delivered.set()

    monitor = PerformanceMonitor(clock=clock, sink=sink, flush_interval_s=0.01)
    monitor.record("t", "op", SUCCESS, 0.01)
    assert delivered.wait(timeout=10)
    monitor.close()
    monitor.close()  # idempotent
    assert len(received) == 1
    assert not any(t.name == "toolkeeper-monitor" and t.is_alive() for t in threading.enumerate())


def test_close_flushes_what_is_queued(clock: FakeClock) -> None:
    """Records queued before ``close`` reach the sink."""
    received: list[WrapperOperationMetrics] = []
    monitor = PerformanceMonitor(clock=clock, sink=received.extend, flush_interval_s=3600)
    for _ in range(10):
        monitor.record("t", "op", SUCCESS, 0.01)
    monitor.close()
    assert len(received) == 10


def test_recorders_fold_the_queue_when_it_grows(clock: FakeClock) -> None:
    """Without readers or a thread, the queue is folded by recorders and stays bounded."""
    with PerformanceMonitor(clock=clock) as monitor:
        pipeline = monitor._pipeline
        for _ in range(3 * pipeline.drain_threshold):
            monitor.record("t", "op", SUCCESS, 0.01)
            assert len(pipeline.pending) <= pipeline.drain_threshold
        assert pipeline.backlog < pipeline.drain_threshold


def test_bad_sizes_are_rejected(clock: FakeClock) -> None:
    """Queue sizes and intervals below their minimum are errors naming the option."""
    with pytest.raises(ValueError, match="sink_queue_size"):
        PerformanceMonitor(clock=clock, sink_queue_size=0)
    with pytest.raises(ValueError, match="flush_interval_s"):
        PerformanceMonitor(clock=clock, sink=print, flush_interval_s=0)
