"""The Keeper's lifetime: construction wires without I/O, start() does it once, close undoes it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from toolkeeper import FakeClock, Keeper
from toolkeeper.config.files import ConfigFile
from toolkeeper.config.live import Configuration
from toolkeeper.monitor import OperationStatus
from toolkeeper.store import open_store
from toolkeeper.store.sql import Store

SECRET = "sk-keeper-life-0123456789"
CONFIG = ConfigFile.parse(
    '[tools.llm]\napi_key = "env:TK_KEEPER_LIFE_KEY"\nmax_retry_attempts = 0\n'
    "timeout_sync_calls = false\n"
)


@pytest.fixture(autouse=True)
def secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """Give the tool's API key a value, read from the environment when the keeper starts."""
    monkeypatch.setenv("TK_KEEPER_LIFE_KEY", SECRET)


def constructed(store: Store, clock: FakeClock) -> Keeper:
    """Construct (not open) a keeper over an open configuration and ``store``."""
    return Keeper(config=Configuration(CONFIG, store=store), store=store, clock=clock)


@contextmanager
def statements(store: Store) -> Iterator[list[str]]:
    """Collect every SQL statement sent to ``store``'s database inside the block."""
    sent: list[str] = []
    engine = store._engine  # the engine itself: the public API hides it on purpose

    def count(*args: Any) -> None:
        sent.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_constructing_a_keeper_sends_nothing_to_the_store(store_uri: str) -> None:
    """Construction runs no SQL statement; start() reads the history (and only once)."""
    store = open_store(store_uri)
    config = Configuration(CONFIG, store=store)
    with statements(store) as sent:
        keeper = Keeper(config=config, store=store, clock=FakeClock())
        assert sent == []
        assert not keeper.started
        keeper.start()
        assert keeper.started
        after_start = len(sent)
        assert after_start > 0
        keeper.start()
        assert len(sent) == after_start
    keeper.close()
    assert not keeper.started


def test_start_shows_the_history_the_store_holds(store_uri: str) -> None:
    """A constructed keeper shows the operations stored earlier once it has started."""
    clock = FakeClock()
    with Keeper.open(CONFIG, store=store_uri, follow_changes=False, clock=clock) as first:
        for _ in range(3):
            first.monitoring.record("llm", "chat", OperationStatus.SUCCESS, 0.01)
    keeper = constructed(open_store(store_uri), clock)
    try:
        assert keeper.monitoring.get_window_stats("llm", "1h") is None
        keeper.start()
        shown = keeper.monitoring.get_window_stats("llm", "1h")
        assert shown is not None
        assert shown.total_operations == 3
    finally:
        keeper.close()


def test_a_keeper_used_as_a_context_manager_starts_and_closes(store_uri: str) -> None:
    """``with Keeper(...)`` starts the keeper on entry and closes it, flushed, on exit."""
    clock = FakeClock()
    with constructed(open_store(store_uri), clock) as keeper:
        assert keeper.started
        keeper.monitoring.record("llm", "chat", OperationStatus.SUCCESS, 0.01)
    assert not keeper.started
    with Keeper.open(CONFIG, store=store_uri, follow_changes=False, clock=clock) as again:
        shown = again.monitoring.get_window_stats("llm", "1h")
        assert shown is not None
        assert shown.total_operations == 1


def test_a_constructed_keeper_starts_before_its_first_tool_call() -> None:
    """Wrapping a tool starts the keeper, so the call's error is recorded without the secret."""
    keeper = constructed(open_store("memory://"), FakeClock())
    try:

        @keeper.tool("llm", operation="chat")
        def chat() -> str:
            raise RuntimeError(f"refused key {SECRET}")

        assert keeper.started
        with pytest.raises(RuntimeError, match="refused key"):
            chat()
        (record,) = keeper.monitoring.export_metrics(wrapper_name="llm")
        assert record["status"] == "error"
        assert SECRET not in str(record["error_message"])
        assert "refused key" in str(record["error_message"])
    finally:
        keeper.close()


def test_a_keeper_closed_before_it_started_leaves_nothing_open() -> None:
    """Closing a keeper that never started closes its store and later starts do nothing."""
    store = open_store("memory://")
    keeper = constructed(store, FakeClock())
    keeper.close()
    keeper.start()
    assert not keeper.started


def test_open_returns_a_started_keeper() -> None:
    """Keeper.open() has done the I/O: its history is read and its ledger open."""
    with Keeper.open(CONFIG, store="memory://", follow_changes=False) as keeper:
        assert keeper.started
        assert keeper.costs.ledger is not None
