"""Exact rollups: what a process writes for others comes from its aggregates, not its raw rows."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from toolkeeper import FakeClock
from toolkeeper.monitor import OperationStatus, PerformanceMonitor
from toolkeeper.monitor.persist import StoreWriter, fleet, history
from toolkeeper.store import open_store
from toolkeeper.store.operations import operation_rows
from toolkeeper.store.rollups import load_rollups, load_totals, load_writers
from toolkeeper.store.sql import Store


def writer_monitor(store: Store, clock: FakeClock, *, queue: int) -> PerformanceMonitor:
    """Return a monitor whose store writer's outbox holds ``queue`` raw records."""
    writer = StoreWriter(
        store, now=lambda: clock.now().timestamp(), retention_days=lambda _tool: 30
    )
    return PerformanceMonitor(
        clock=clock, sink=writer, sink_queue_size=queue, flush_interval_s=None
    )


def rename(store: Store, table: str, to: str) -> None:
    """Rename a table of the store (a real failure for the writer's statements)."""
    with store.transaction(write=True) as conn:
        conn.execute(text(f"ALTER TABLE {table} RENAME TO {to}"))


def test_rollups_and_totals_count_records_whose_raw_rows_were_shed(store_uri: str) -> None:
    """With room for 10 raw rows, 1,000 calls still give rollups and totals of 1,000 and $1."""
    clock = FakeClock()
    store = open_store(store_uri)
    monitor = writer_monitor(store, clock, queue=10)
    try:
        for i in range(1000):
            monitor.record("llm", "chat", OperationStatus.SUCCESS, 0.01, cost=0.001,
                           input_tokens=3, model="gpt-x" if i % 2 else None)  # fmt: skip
            if i % 100 == 99:
                clock.advance(20)
        monitor.flush()
        assert operation_rows(store)[1] == 10
        minutes = load_rollups(store, 60, 0)
        assert sum(r.operations for r in minutes) == 1000
        assert {r.model for r in minutes} == {"", "gpt-x"}
        assert sum(r.operations for r in load_rollups(store, 3600, 0)) == 1000
        totals = load_totals(store)
        assert sum(t.operations for t in totals) == 1000
        assert sum(t.bucket["cost"] for t in totals) == pytest.approx(1.0)
        assert sum(t.bucket["input_tokens"] for t in totals) == 3000
        (counts,) = load_writers(store)
        assert counts.dropped_rows == 990
        assert counts.stored_rows == 10
    finally:
        monitor.close()
        store.close()


def test_fleet_reads_every_writer_but_the_one_excluded(store_uri: str) -> None:
    """Two writers' totals sum in the fleet; excluding one leaves the other's alone."""
    clock = FakeClock()
    store = open_store(store_uri)
    first = writer_monitor(store, clock, queue=100)
    second = writer_monitor(store, clock, queue=100)
    try:
        for _ in range(30):
            first.record("llm", "chat", OperationStatus.SUCCESS, 0.01)
        second.record("llm", "chat", OperationStatus.ERROR, 0.01, error_message="boom")
        first.flush()
        second.flush()
        everyone = fleet(store)
        assert everyone.totals[("llm", "chat")].operations == 31
        excluded = second._pipeline._writer
        assert isinstance(excluded, StoreWriter)
        others = fleet(store, exclude_writer=excluded.writer)
        assert others.totals[("llm", "chat")].operations == 30
        items = history(store, clock.now().timestamp(), exclude_writer=excluded.writer)
        assert sum(bucket.operations for *_, bucket, _ in items) == 30
    finally:
        first.close()
        second.close()
        store.close()


def test_a_failed_write_is_retried_without_counting_twice(store_uri: str) -> None:
    """Rollups of a write that failed are stored by the next write, once."""
    clock = FakeClock()
    store = open_store(store_uri)
    monitor = writer_monitor(store, clock, queue=1000)
    writer = monitor._pipeline._writer
    assert isinstance(writer, StoreWriter)
    try:
        for _ in range(5):
            monitor.record("llm", "chat", OperationStatus.SUCCESS, 0.01)
        rename(store, "rollups", "rollups_away")  # every write of the batch now fails
        monitor.flush()
        assert writer.pending
        rename(store, "rollups_away", "rollups")
        monitor.record("llm", "chat", OperationStatus.SUCCESS, 0.01)
        monitor.flush()
        assert not writer.pending
        assert sum(t.operations for t in load_totals(store)) == 6
        assert sum(r.operations for r in load_rollups(store, 60, 0)) == 6
        assert monitor.dropped_events == 5
    finally:
        monitor.close()
        store.close()
