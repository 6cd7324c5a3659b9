"""Text that a database would refuse never costs the rest of its batch."""

from __future__ import annotations

import contextlib

import pytest

from toolkeeper import Keeper
from toolkeeper._text import storable, unstorable
from toolkeeper.config.files import ConfigFile
from toolkeeper.monitor import OperationStatus
from toolkeeper.store.operations import operation_rows
from toolkeeper.store.rollups import load_totals, load_writers

CONFIG = ConfigFile.parse("[tools.llm]\nmax_retry_attempts = 0\ntimeout_sync_calls = false\n")
NUL = "upstream said \x00 then stopped"
SURROGATE = "bytes that were not UTF-8: \udcff\udcfe"


def test_storable_escapes_nul_and_lone_surrogates_and_keeps_the_rest() -> None:
    """NUL and lone surrogates become visible escapes; other text, accents included, is kept."""
    assert storable("plain") == "plain"
    assert storable("café ☕") == "café ☕"
    assert storable(NUL) == "upstream said \\x00 then stopped"
    assert storable(SURROGATE) == "bytes that were not UTF-8: \\udcff\\udcfe"
    assert unstorable("café") is None
    assert unstorable(NUL) == "contains a NUL character (\\x00)"
    assert "not valid Unicode" in (unstorable(SURROGATE) or "")


def test_a_nul_and_a_lone_surrogate_in_error_texts_lose_no_row(store_uri: str) -> None:
    """1,000 wrapped calls, two failing with such texts: 1,000 rows, the texts escaped."""
    keeper = Keeper.open(CONFIG, store=store_uri, follow_changes=False)
    try:

        @keeper.tool("llm", operation="chat")
        def chat(index: int) -> str:
            if index == 10:
                raise RuntimeError(NUL)
            if index == 500:
                raise RuntimeError(SURROGATE)
            return "ok"

        for index in range(1000):
            with contextlib.suppress(RuntimeError):
                chat(index)
        keeper.flush()
        rows, total = operation_rows(keeper.store, limit=1000)
        assert total == 1000
        messages = {row["error_message"] for row in rows if row["status"] == "error"}
        assert messages == {f"RuntimeError: {storable(text)}" for text in (NUL, SURROGATE)}
        assert sum(t.operations for t in load_totals(keeper.store)) == 1000
    finally:
        keeper.close()


def test_a_row_the_store_refuses_is_isolated_and_counted(store_uri: str) -> None:
    """A token count beyond 64 bits is refused alone: 999 rows stored, 1 refused, totals 1,000."""
    keeper = Keeper.open(CONFIG, store=store_uri, follow_changes=False)
    try:
        for index in range(1000):
            tokens = 2**70 if index == 123 else 5
            keeper.monitoring.record(
                "llm", "chat", OperationStatus.SUCCESS, 0.01, input_tokens=tokens
            )
        keeper.flush()
        assert operation_rows(keeper.store)[1] == 999
        (writer,) = load_writers(keeper.store)
        assert (writer.stored_rows, writer.refused_rows) == (999, 1)
        assert keeper.monitoring.refused_rows == 1
        assert sum(t.operations for t in load_totals(keeper.store)) == 1000
    finally:
        keeper.close()


@pytest.mark.parametrize("name", ["o" * 300, "op\x00name"])
def test_rollups_keep_operations_whose_names_the_store_would_refuse(
    store_uri: str, name: str
) -> None:
    """An operation name too long or holding a NUL is cut or escaped in the rollups, never lost."""
    keeper = Keeper.open(CONFIG, store=store_uri, follow_changes=False)
    try:
        for _ in range(3):
            keeper.monitoring.record("llm", name, OperationStatus.SUCCESS, 0.01)
        keeper.flush()
        (total,) = load_totals(keeper.store)
        assert total.operations == 3
        assert total.operation == storable(name)[:200]
    finally:
        keeper.close()
