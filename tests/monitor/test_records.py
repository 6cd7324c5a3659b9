"""Operation records: statuses, plain-data form, and raw tuples turned into records."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from toolkeeper.monitor import ids
from toolkeeper.monitor.records import (
    PLAIN_STATUS,
    OperationStatus,
    WrapperOperationMetrics,
    materialize,
    raw_from_record,
    start_ts,
)


def test_statuses_are_the_six_of_the_issue() -> None:
    """The statuses are started, success, error, fallback, timeout and cancelled."""
    assert [s.value for s in OperationStatus] == [
        "started", "success", "error", "fallback", "timeout", "cancelled",
    ]  # fmt: skip
    assert "started" not in PLAIN_STATUS
    assert all(type(value) is str for value in PLAIN_STATUS.values())


def test_to_dict_writes_iso_times_and_status_values() -> None:
    """``to_dict`` gives ISO 8601 times, the status value and copies of the dicts."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    record = WrapperOperationMetrics(
        operation_id="op-1",
        wrapper_name="openai",
        start_time=start,
        end_time=start,
        status=OperationStatus.SUCCESS,
        custom_metrics={"quality": 0.9},
    )
    data = record.to_dict()
    assert data["start_time"] == "2026-01-01T00:00:00+00:00"
    assert data["end_time"] == "2026-01-01T00:00:00+00:00"
    assert data["status"] == "success"
    assert data["operation_type"] == "default"
    data["custom_metrics"]["quality"] = 0
    assert record.custom_metrics == {"quality": 0.9}


def test_materialize_builds_a_record_from_a_fast_path_tuple() -> None:
    """A raw tuple from ``record()`` becomes a full record with a generated id."""
    end = datetime(2026, 1, 1, 0, 0, 10, tzinfo=UTC).timestamp()
    raw = (
        26, end, "openai", "chat", "fallback", 2.5, 0.01, 10, 5, {"q": 1}, None,
        {"fallback_name": "local", "user_id": "u1"}, "gpt-4o",
    )  # fmt: skip
    record = materialize(raw)
    assert record.labels == {"model": "gpt-4o"}
    assert record.operation_id == f"{ids.prefix()}1a"
    assert re.fullmatch(r"op-[0-9a-f]{8}-1a", record.operation_id)
    assert record.status is OperationStatus.FALLBACK
    assert record.fallback_used
    assert record.fallback_name == "local"
    assert record.user_id == "u1"
    assert record.start_time == datetime(2026, 1, 1, 0, 0, 7, 500000, tzinfo=UTC)
    assert record.duration_ms == 2500.0
    assert start_ts(raw) == end - 2.5


def test_lifecycle_records_round_trip_through_raw_tuples() -> None:
    """A record from the lifecycle API is carried whole and comes back unchanged."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    record = WrapperOperationMetrics(
        operation_id="op-7", wrapper_name="t", start_time=start, end_time=start,
        duration_ms=0.0, status=OperationStatus.ERROR, error_message="boom",
    )  # fmt: skip
    raw = raw_from_record(1, record)
    assert materialize(raw) is record
    assert start_ts(raw) == start.timestamp()
    assert raw[4] == "error"
