"""Aggregates: folding batches into series, windows that expire, exact totals, capped names."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkeeper.monitor.aggregates import OTHER_OPERATION, WINDOWS, Aggregates

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def raw(ts: float, status: str = "success", tool: str = "t", op: str = "op") -> tuple[Any, ...]:
    """Return a raw record that finished at ``ts``, took 10 ms and cost a cent."""
    return (0, ts, tool, op, status, 0.01, 0.01, 1, 1, None, f"failed at {ts}", None)


def count(aggregates: Aggregates, seconds: int, now: float) -> int:
    """Return the operations in a window."""
    return aggregates.window("t", seconds, now)[1].operations


def test_windows_expire_as_time_passes() -> None:
    """A record counts in the 1m window for at most 60 s, in 5m for 300 s, in 1h for 3600 s."""
    aggregates = Aggregates()
    aggregates.fold([raw(T0 + 5)])
    assert [count(aggregates, s, T0 + 5) for s in WINDOWS.values()] == [1, 1, 1, 1]
    assert count(aggregates, 60, T0 + 59) == 1
    assert count(aggregates, 60, T0 + 60) == 0
    assert count(aggregates, 300, T0 + 299) == 1
    assert count(aggregates, 300, T0 + 300) == 0
    assert count(aggregates, 3600, T0 + 3599) == 1
    assert count(aggregates, 3600, T0 + 3600) == 0
    assert count(aggregates, 86400, T0 + 86399) == 1
    assert count(aggregates, 86400, T0 + 86400) == 0


def test_windows_stay_exact_while_buckets_roll_up() -> None:
    """Records keep counting in the 1h and 24h windows after their buckets roll up."""
    aggregates = Aggregates()
    aggregates.fold([raw(T0 + 30 * i) for i in range(120)])  # one hour, every 30 s
    later = T0 + 3600 + 400  # the first fine buckets have rolled into minutes
    aggregates.fold([raw(later)])
    assert count(aggregates, 86400, later) == 121
    assert count(aggregates, 3600, later) == 121 - 14  # minutes 0..13 have left the hour
    assert aggregates.lifetime("t").operations == 121


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0, 200_000), st.sampled_from(["success", "error"])), max_size=80)
)
def test_lifetime_totals_are_exact_whatever_the_gaps(events: list[tuple[float, str]]) -> None:
    """However records are spread over time, lifetime counts equal what was folded."""
    aggregates = Aggregates()
    for offset, status in sorted(events):
        aggregates.fold([raw(T0 + offset, status)])
    total = aggregates.lifetime("t") if events else None
    if total is not None:
        assert total.operations == len(events)
        assert total.counts.get("error", 0) == sum(1 for _, s in events if s == "error")
        assert total.input_tokens == len(events)


def test_operations_past_the_cap_share_the_other_series() -> None:
    """Beyond ``max_operations_per_tool`` names, operations are counted under ``other``."""
    aggregates = Aggregates(max_operations_per_tool=3)
    aggregates.fold([raw(T0, op=f"op{i}") for i in range(10)])
    assert aggregates.operations("t") == ["op0", "op1", "op2", OTHER_OPERATION]
    assert aggregates.lifetime("t", [OTHER_OPERATION]).operations == 7
    assert aggregates.lifetime("t").operations == 10
    with pytest.raises(ValueError, match="max_operations_per_tool"):
        Aggregates(max_operations_per_tool=0)


def test_mixed_batches_are_split_by_series_and_bucket() -> None:
    """A batch mixing tools, operations and buckets lands in the right places."""
    aggregates = Aggregates()
    batch = [raw(T0 + i % 30, tool=f"t{i % 2}", op=f"o{i % 3}") for i in range(600)]
    aggregates.fold(batch)
    assert aggregates.tools() == ["t0", "t1"]
    assert aggregates.lifetime("t0").operations == 300
    assert aggregates.lifetime("t1", ["o0"]).operations == 100
    history = aggregates.history("t0", T0, T0 + 30)
    assert [(start - T0, size, b.operations) for start, size, b in history] == [
        (0.0, 10, 100), (10.0, 10, 100), (20.0, 10, 100),
    ]  # fmt: skip


def test_last_error_is_the_latest_failure() -> None:
    """The last error is the latest error or timeout, with its message."""
    aggregates = Aggregates()
    aggregates.fold([raw(T0 + 1, "error"), raw(T0 + 3, "timeout"), raw(T0 + 5, "fallback")])
    aggregates.fold([raw(T0 + 2, "error")])  # late arrival does not win
    assert aggregates.last_error("t") == (T0 + 3, f"failed at {T0 + 3}")
    assert aggregates.last_error("unknown") is None


def test_history_uses_coarser_buckets_for_longer_spans() -> None:
    """History over two hours is returned in 15-minute buckets, over an hour in minutes."""
    aggregates = Aggregates()
    aggregates.fold([raw(T0 + 60 * m) for m in range(120)])
    now = T0 + 7200
    assert {size for _, size, _ in aggregates.history("t", now - 7200, now)} == {900}
    assert {size for _, size, _ in aggregates.history("t", now - 1800, now)} == {60}
    assert sum(b.operations for _, _, b in aggregates.history("t", now - 7200, now)) == 120
