"""Durability: operations reach the store, survive restarts and kill -9, and are pruned."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from toolkeeper import FakeClock, Keeper
from toolkeeper.config.files import ConfigFile
from toolkeeper.keeper import CIRCUIT_FRESH_S
from toolkeeper.monitor import OperationStatus
from toolkeeper.store import open_store
from toolkeeper.store.operations import operation_rows
from toolkeeper.store.rollups import load_rollups

CONFIG = ConfigFile.parse("[tools.openai]\nmetrics_retention_days = 1\n")


def open_keeper(store_uri: str, clock: FakeClock) -> Keeper:
    """Open a keeper on ``store_uri`` with the fake clock."""
    return Keeper.open(CONFIG, store=store_uri, follow_changes=False, clock=clock)


def test_flush_writes_every_operation_with_its_details(store_uri: str) -> None:
    """After flush, each recorded operation is a row with its status, tokens and error."""
    clock = FakeClock()
    keeper = open_keeper(store_uri, clock)
    try:
        for i in range(50):
            keeper.monitoring.record(
                "openai",
                "chat",
                OperationStatus.SUCCESS,
                0.01 * (i + 1),
                cost=0.001,
                input_tokens=10,
                output_tokens=2,
                labels={"team": "search"},
            )
        keeper.monitoring.record(
            "openai",
            "chat",
            OperationStatus.ERROR,
            0.5,
            error_message="boom",
            error_code="HTTP_500",
        )
        keeper.flush()
        rows, total = operation_rows(keeper.store, tool="openai")
        assert total == 51
        assert rows[0]["status"] == "error"
        assert rows[0]["error_code"] == "HTTP_500"
        assert rows[-1]["labels"] == {"team": "search"}
        assert sum(r["input_tokens"] for r in rows) == 500
        errors, count = operation_rows(keeper.store, status="error")
        assert count == 1
        assert errors[0]["error_message"] == "boom"
    finally:
        keeper.close()


def test_a_restarted_process_shows_the_last_hour(store_uri: str) -> None:
    """Rollups written by one keeper seed the next one's aggregates: same counts and latency."""
    clock = FakeClock()
    first = open_keeper(store_uri, clock)
    for i in range(30):
        first.monitoring.record("openai", "chat", OperationStatus.SUCCESS, 0.1 + i / 1000)
        clock.advance(30)
    for _ in range(3):
        first.monitoring.record(
            "openai", "chat", OperationStatus.ERROR, 0.2, error_message="upstream 500"
        )
    before = first.monitoring.get_window_stats("openai", "1h")
    first.close()

    second = open_keeper(store_uri, clock)
    try:
        after = second.monitoring.get_window_stats("openai", "1h")
        assert after is not None
        assert before is not None
        assert after.total_operations == before.total_operations == 33
        assert after.error_count == 3
        assert after.p50_latency_ms is not None
        assert before.p50_latency_ms is not None
        assert abs(after.p50_latency_ms - before.p50_latency_ms) <= before.p50_latency_ms * 0.02
        health = second.monitoring.get_wrapper_health("openai")
        assert health.total_operations > 0
        assert health.last_error == "upstream 500"
    finally:
        second.close()


def test_restarts_do_not_count_an_operation_twice(store_uri: str) -> None:
    """Three restarts in a row still show each operation once in the 24 h window."""
    clock = FakeClock()
    for _ in range(3):
        keeper = open_keeper(store_uri, clock)
        keeper.monitoring.record("openai", "chat", OperationStatus.SUCCESS, 0.1)
        clock.advance(1800)
        keeper.close()
    keeper = open_keeper(store_uri, clock)
    try:
        stats = keeper.monitoring.get_window_stats("openai", "24h")
        assert stats is not None
        assert stats.total_operations == 3
    finally:
        keeper.close()


def test_raw_operations_are_pruned_after_the_retention(store_uri: str) -> None:
    """The writer deletes operations older than metrics_retention_days on its own; rollups stay."""
    clock = FakeClock()
    keeper = open_keeper(store_uri, clock)
    try:
        keeper.monitoring.record("openai", "chat", OperationStatus.SUCCESS, 0.1)
        keeper.flush()
        clock.advance(2 * 86400)
        keeper.monitoring.record("openai", "chat", OperationStatus.SUCCESS, 0.1)
        keeper.flush()
        assert operation_rows(keeper.store, tool="openai")[1] == 1
        assert load_rollups(keeper.store, 3600, 0)
    finally:
        keeper.close()


def test_kill_9_after_flush_loses_nothing_flushed(tmp_path: Path) -> None:
    """A process killed with SIGKILL right after flush() leaves every flushed operation stored."""
    store_uri = f"sqlite:///{tmp_path / 'state.db'}"
    script = textwrap.dedent(f"""
        import sys, time
        from toolkeeper import Keeper
        from toolkeeper.config.files import ConfigFile
        from toolkeeper.monitor import OperationStatus
        keeper = Keeper.open(ConfigFile(), store={store_uri!r}, follow_changes=False)
        for i in range(5000):
            keeper.monitoring.record("openai", "chat", OperationStatus.SUCCESS, 0.001)
        keeper.flush()
        print("flushed", flush=True)
        time.sleep(60)
    """)
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "flushed"
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    store = open_store(store_uri)
    try:
        assert operation_rows(store, tool="openai")[1] == 5000
    finally:
        store.close()
    keeper = Keeper.open(ConfigFile(), store=store_uri, follow_changes=False)
    try:
        stats = keeper.monitoring.get_window_stats("openai", "1h")
        assert stats is not None
        assert stats.total_operations == 5000
    finally:
        keeper.close()


def test_a_late_record_keeps_the_rollup_written_before(tmp_path: Path) -> None:
    """A record for a minute already written and forgotten is merged, not overwriting it."""
    clock = FakeClock()
    keeper = open_keeper(f"sqlite:///{tmp_path / 's.db'}", clock)
    try:
        start = clock.now()
        keeper.monitoring.record("openai", "chat", OperationStatus.SUCCESS, 0.1)
        keeper.flush()
        clock.advance(timedelta(minutes=20).total_seconds())
        raw_end = start.timestamp() + 1
        keeper.monitoring.recorder.record(
            "openai", "chat", OperationStatus.SUCCESS, 0.1, seq=1, end_s=raw_end
        )
        keeper.flush()
        minute = int(start.timestamp() // 60) * 60
        rows = [r for r in load_rollups(keeper.store, 60, 0) if r.bucket_start == minute]
        assert [r.operations for r in rows] == [2]
    finally:
        keeper.close()


def test_a_reader_process_follows_what_a_writer_process_records(store_uri: str) -> None:
    """A keeper that reloads its history from the store shows another keeper's new operations."""
    clock = FakeClock()
    app = open_keeper(store_uri, clock)
    server = open_keeper(store_uri, clock)
    try:
        for _ in range(7):
            app.monitoring.record("openai", "chat", OperationStatus.SUCCESS, 0.1)
        app.monitoring.record("openai", "chat", OperationStatus.ERROR, 0.1, error_message="boom")
        assert server.monitoring.get_window_stats("openai", "1h") is None
        app.flush()
        server.reload_history()
        stats = server.monitoring.get_window_stats("openai", "1h")
        assert stats is not None
        assert stats.total_operations == 8
        assert stats.error_count == 1
        app.monitoring.record("openai", "chat", OperationStatus.SUCCESS, 0.1)
        app.flush()
        server.reload_history()
        again = server.monitoring.get_window_stats("openai", "1h")
        assert again is not None
        assert again.total_operations == 9
    finally:
        app.close()
        server.close()


def test_a_reader_process_shows_a_circuit_another_process_opened(store_uri: str) -> None:
    """A breaker opened in the application shows in the health a server beside it reads."""
    config = ConfigFile.parse(
        "[tools.flaky]\nmax_retry_attempts = 0\ntimeout_sync_calls = false\n"
        "circuit_minimum_calls = 2\ncircuit_window_size = 2\ncircuit_failure_rate = 0.5\n"
        "circuit_open_seconds = 3600\n"
    )
    clock = FakeClock()
    app = Keeper.open(config, store=store_uri, follow_changes=False, clock=clock)
    server = Keeper.open(config, store=store_uri, follow_changes=False, clock=clock)
    try:

        @app.tool("flaky", operation="call")
        def flaky() -> None:
            raise ConnectionError("down")

        for _ in range(2):
            with pytest.raises(ConnectionError):
                flaky()
        assert app.runtimes.circuit_state("flaky") == "open"
        app.flush()
        server.reload_history()
        assert server.runtimes.circuit_state("flaky") is None  # no breaker of its own
        assert server.monitoring.get_wrapper_health("flaky").circuit_state == "open"
        clock.advance(CIRCUIT_FRESH_S + 1)
        server.reload_history()  # the application stopped writing: its state has gone stale
        assert server.monitoring.get_wrapper_health("flaky").circuit_state in {None, "closed"}
    finally:
        app.close()
        server.close()
