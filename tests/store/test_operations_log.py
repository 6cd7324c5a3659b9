"""The operations log: batches of any size land whole and in order, on every backend."""

from __future__ import annotations

import pytest

from toolkeeper.store.operations import OPERATION_COLUMNS, operation_rows, write_batch
from toolkeeper.store.sql import Store


def row(n: int) -> tuple[object, ...]:
    """Return operation row ``n`` in OPERATION_COLUMNS order."""
    values = {
        "operation_id": f"op-test-{n:x}", "tool": "t", "operation": "chat",
        "status": "success" if n % 7 else "error", "end_ts": 1_800_000_000.0 + n,
        "duration_ms": n / 10, "cost": n * 1e-6, "input_tokens": n, "output_tokens": 2 * n,
        "model": None if n % 3 else "m", "error_code": None if n % 7 else "HTTP_500",
        "error_message": None if n % 7 else f"boom {n}", "labels": None, "details": None,
        "cached_tokens": n // 2, "cache_write_tokens": n // 4, "reasoning_tokens": n // 3,
    }  # fmt: skip
    return tuple(values[name] for name in OPERATION_COLUMNS)


@pytest.mark.parametrize("size", [1, 49, 50, 123])
def test_a_batch_is_stored_whole_and_in_order(store: Store, size: int) -> None:
    """Multi-row statements and the remainder together store every row, ids in batch order."""
    write_batch(store, [row(n) for n in range(size)], [], 1_800_000_000.0)
    stored, total = operation_rows(store, limit=1000)
    assert total == size
    assert [r["operation_id"] for r in reversed(stored)] == [f"op-test-{n:x}" for n in range(size)]
    last = stored[0]
    assert (last["input_tokens"], last["output_tokens"]) == (size - 1, 2 * (size - 1))
    kinds = (last["cached_tokens"], last["cache_write_tokens"], last["reasoning_tokens"])
    assert kinds == ((size - 1) // 2, (size - 1) // 4, (size - 1) // 3)


@pytest.mark.parametrize("size", [1, 60, 123])
def test_rows_without_token_kinds_store_zeros_beside_full_rows(store: Store, size: int) -> None:
    """A row that leaves out its token kinds stores 0s; full rows in the same batch keep theirs."""
    kinds = len(OPERATION_COLUMNS) - OPERATION_COLUMNS.index("cached_tokens")
    rows = [row(n)[:-kinds] if n % 2 else row(n) for n in range(size)]
    write_batch(store, rows, [], 1_800_000_000.0)
    stored, total = operation_rows(store, limit=1000)
    assert total == size
    got = {
        r["operation_id"]: (r["cached_tokens"], r["cache_write_tokens"], r["reasoning_tokens"])
        for r in stored
    }
    assert got == {
        f"op-test-{n:x}": (0, 0, 0) if n % 2 else (n // 2, n // 4, n // 3) for n in range(size)
    }


def test_a_row_of_another_width_is_refused_naming_the_widths(store: Store) -> None:
    """A row with neither every column nor every column but the token kinds is refused whole."""
    with pytest.raises(ValueError, match=r"must have 14 or 17 values .* got widths \[5\]"):
        write_batch(store, [row(1)[:5]], [], 1_800_000_000.0)
    assert operation_rows(store, limit=10)[1] == 0
