"""Write operation records and reports as JSON or CSV, and group operations for exporters.

JSON accepts records, reports, or lists and dicts of them; CSV writes operation
records (objects or the dicts ``export_metrics`` returns) with a fixed column
order: the fields of :class:`WrapperOperationMetrics`, with ``custom_metrics``
and ``labels`` as JSON in one column each. Money (a record's ``cost_estimate``,
a report's ``cost_usd``) is written as an exact decimal string in both, the one
format machines read (:func:`toolkeeper._units.money_json`, docs/money.md):
``"0.0075"``, never a float such as ``1.1e-05``. Pure functions, no I/O.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

from toolkeeper._units import money_json
from toolkeeper.monitor.aggregates import OTHER_OPERATION, TOTAL_WINDOW
from toolkeeper.monitor.buckets import WindowStats
from toolkeeper.monitor.records import WrapperOperationMetrics

if TYPE_CHECKING:
    from toolkeeper.monitor.performance import PerformanceMonitor

__all__ = [
    "CSV_COLUMNS",
    "OperationRow",
    "iter_csv",
    "iter_json",
    "operation_labels",
    "operation_rows",
    "to_csv",
    "to_json",
]

CSV_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(WrapperOperationMetrics))
"""The CSV header, in order; it changes only when a field is added (at the end)."""

_JSON_COLUMNS = frozenset({"custom_metrics", "labels"})
#: The money fields of what is exported: records' and reports' costs, in US dollars.
_MONEY = ("cost_estimate", "cost_usd")


def _with_money(data: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``data`` with its money fields as exact decimal strings."""
    exported = dict(data)
    for name in _MONEY:
        value = exported.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            exported[name] = money_json(value)
    return exported


def _record_data(record: WrapperOperationMetrics | Mapping[str, Any]) -> dict[str, Any]:
    """Return one operation record as exported: plain data, its cost a decimal string."""
    data = record.to_dict() if isinstance(record, WrapperOperationMetrics) else record
    return _with_money(data)


def _plain(value: Any) -> Any:
    """Turn reports, records, times and enums into JSON-ready values (money as strings)."""
    if isinstance(value, (WrapperOperationMetrics, WindowStats)):
        return _with_money(value.to_dict())
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"cannot export a {type(value).__name__} as JSON")


def to_json(data: Any, *, indent: int | None = 2) -> str:
    """Return ``data`` (records, reports, or lists and dicts of them) as JSON text."""
    return json.dumps(data, default=_plain, indent=indent, sort_keys=True, allow_nan=False)


def _row(record: WrapperOperationMetrics | Mapping[str, Any]) -> list[Any]:
    data = _record_data(record)
    row: list[Any] = []
    for column in CSV_COLUMNS:
        value = data.get(column)
        if column in _JSON_COLUMNS:
            row.append(json.dumps(value or {}, sort_keys=True, default=_plain))
        elif value is None:
            row.append("")
        elif isinstance(value, datetime):
            row.append(value.isoformat())
        elif isinstance(value, Enum):
            row.append(value.value)
        else:
            row.append(value)
    return row


def to_csv(records: Iterable[WrapperOperationMetrics | Mapping[str, Any]]) -> str:
    """Return operation records as CSV text with a header row and ``CSV_COLUMNS``.

    Fields are quoted where needed (commas, quotes, newlines), so any message
    survives a round trip through :mod:`csv`; ``None`` is an empty field.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(_row(record) for record in records)
    return buffer.getvalue()


def iter_csv(
    records: Iterable[WrapperOperationMetrics | Mapping[str, Any]], *, rows_per_chunk: int = 500
) -> Iterator[str]:
    """Yield :func:`to_csv`'s text in chunks of rows, the header first (for streaming)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for count, record in enumerate(records, 1):
        writer.writerow(_row(record))
        if count % rows_per_chunk == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def iter_json(
    records: Iterable[WrapperOperationMetrics | Mapping[str, Any]], *, per_chunk: int = 500
) -> Iterator[str]:
    """Yield a JSON array of the records, one object a line, in chunks (for streaming).

    Parses to the same list as :func:`to_json` of the records.
    """
    chunk: list[str] = []
    first = True
    yield "["
    for record in records:
        text = json.dumps(_record_data(record), default=_plain, sort_keys=True, allow_nan=False)
        chunk.append(("\n" if first else ",\n") + text)
        first = False
        if len(chunk) >= per_chunk:
            yield "".join(chunk)
            chunk = []
    chunk.append("\n]\n")
    yield "".join(chunk)


def operation_labels(
    monitor: PerformanceMonitor, tool: str, max_labels: int
) -> dict[str, list[str]]:
    """Map export labels to a tool's operations, keeping at most ``max_labels`` labels.

    The busiest ``max_labels - 1`` operations (by lifetime count) keep their names
    when there are more than ``max_labels``; the rest share the label ``other``.
    """
    if max_labels < 1:
        raise ValueError(f"max_labels must be at least 1, got {max_labels!r}")
    names = monitor.operations(tool)
    if len(names) <= max_labels:
        return {name: [name] for name in names}

    def volume(name: str) -> int:
        stats = monitor.get_window_stats(tool, TOTAL_WINDOW, operations=[name])
        return stats.total_operations if stats else 0

    ranked = sorted(names, key=lambda name: (-volume(name), name))
    kept = [name for name in ranked if name != OTHER_OPERATION][: max_labels - 1]
    labels = {name: [name] for name in kept}
    labels[OTHER_OPERATION] = [name for name in names if name not in labels]
    return labels


@dataclass(frozen=True, slots=True)
class OperationRow:
    """Hold one exported (tool, operation label): totals since creation and the last 5 minutes."""

    tool: str
    operation: str
    operations: list[str]
    total: WindowStats
    recent: WindowStats


def operation_rows(
    monitor: PerformanceMonitor, max_labels: int, *, fleet: bool = False
) -> list[OperationRow]:
    """Return one row per tool and operation label, label cardinality capped per tool.

    ``fleet=False`` counts this process's own operations only; ``fleet=True`` adds
    the other writers the monitor shows (see ``PerformanceMonitor.show_others``).
    """
    rows: list[OperationRow] = []
    for tool in monitor.tools():
        for label, names in operation_labels(monitor, tool, max_labels).items():
            total = monitor.get_window_stats(tool, TOTAL_WINDOW, operations=names, others=fleet)
            recent = monitor.get_window_stats(tool, "5m", operations=names, others=fleet)
            if total is not None and recent is not None and total.total_operations:
                rows.append(OperationRow(tool, label, names, total, recent))
    return rows
