"""JSON and CSV exports: stable columns, proper quoting, and capped operation labels."""

from __future__ import annotations

import csv
import io
import json

from toolkeeper._clock import FakeClock
from toolkeeper.monitor import OperationStatus, WrapperMonitoring, to_csv, to_json
from toolkeeper.monitor.export import CSV_COLUMNS, iter_csv, iter_json, operation_labels


def test_csv_quotes_awkward_text_and_keeps_columns(monitor: WrapperMonitoring) -> None:
    """Commas, quotes and newlines survive a CSV round trip; custom metrics are one JSON column."""
    message = 'bad "input", line 1\nline 2'
    monitor.record(
        "t", "op", OperationStatus.ERROR, 0.5, error_message=message,
        custom_metrics={"score": 0.5, "tag": "a,b"}, labels={"model": "gpt"},
    )  # fmt: skip
    text = to_csv(monitor.export_metrics())
    rows = list(csv.reader(io.StringIO(text)))
    assert tuple(rows[0]) == CSV_COLUMNS
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["error_message"] == message
    assert json.loads(row["custom_metrics"]) == {"score": 0.5, "tag": "a,b"}
    assert json.loads(row["labels"]) == {"model": "gpt"}
    assert row["error_code"] == ""
    assert row["status"] == "error"
    assert to_csv(monitor.recent_operations()) == text


def test_csv_columns_are_stable() -> None:
    """The column order is the record's field order, starting with the ids; new ones come last."""
    assert CSV_COLUMNS[:4] == ("operation_id", "wrapper_name", "operation_type", "start_time")
    assert CSV_COLUMNS[-5:] == (
        "custom_metrics", "labels", "cached_tokens", "cache_write_tokens", "reasoning_tokens",
    )  # fmt: skip
    assert to_csv([]) == ",".join(CSV_COLUMNS) + "\n"


def test_json_writes_records_reports_and_enums(monitor: WrapperMonitoring) -> None:
    """Records, window stats, health reports and dicts of them all become JSON."""
    monitor.record("t", "op", OperationStatus.SUCCESS, 0.1)
    data = {
        "records": monitor.recent_operations(),
        "stats": monitor.get_window_stats("t"),
        "health": monitor.get_wrapper_health("t"),
        "status": OperationStatus.SUCCESS,
    }
    parsed = json.loads(to_json(data))
    assert parsed["records"][0]["status"] == "success"
    assert parsed["stats"]["total_operations"] == 1
    assert parsed["health"]["status"] == "healthy"
    assert parsed["status"] == "success"


def test_operation_labels_are_capped(monitor: WrapperMonitoring, clock: FakeClock) -> None:
    """With more operations than labels, the busiest keep their names and the rest are other."""
    for n in range(5):
        for _ in range(n + 1):
            monitor.record("t", f"op{n}", OperationStatus.SUCCESS, 0.1)
    assert operation_labels(monitor, "t", 10) == {f"op{n}": [f"op{n}"] for n in range(5)}
    labels = operation_labels(monitor, "t", 3)
    assert labels == {"op4": ["op4"], "op3": ["op3"], "other": ["op0", "op1", "op2"]}


def test_streamed_json_and_csv_parse_to_what_the_whole_exports_hold(
    monitor: WrapperMonitoring,
) -> None:
    """iter_json and iter_csv, joined, parse to the same data as to_json and to_csv."""
    for n in range(1203):
        monitor.record("t", "op", OperationStatus.SUCCESS, 0.01, error_message=f'say "{n}", ok')
    records = monitor.recent_operations()
    streamed = "".join(iter_json(records, per_chunk=100))
    assert json.loads(streamed) == json.loads(to_json(records))
    rows = "".join(iter_csv(records, rows_per_chunk=100))
    assert list(csv.reader(io.StringIO(rows))) == list(csv.reader(io.StringIO(to_csv(records))))


def test_costs_are_exported_as_exact_decimal_strings(monitor: WrapperMonitoring) -> None:
    """Records' costs and reports' cost_usd are decimal strings in JSON and CSV, never 1.1e-05."""
    monitor.record("t", "op", OperationStatus.SUCCESS, 0.1, cost=1.1e-05)
    monitor.record("t", "op", OperationStatus.SUCCESS, 0.1, cost=0.0)
    records = monitor.recent_operations()
    assert [r["cost_estimate"] for r in json.loads(to_json(records))] == ["0.000011", "0"]
    streamed = json.loads("".join(iter_json(monitor.export_metrics())))
    assert [r["cost_estimate"] for r in streamed] == ["0.000011", "0"]
    rows = list(csv.DictReader(io.StringIO(to_csv(records))))
    assert [row["cost_estimate"] for row in rows] == ["0.000011", "0"]
    stats = json.loads(to_json({"stats": monitor.get_window_stats("t")}))["stats"]
    assert stats["cost_usd"] == "0.000011"
