"""Measure what judging a selecting alert rule costs as unrelated tools fill the store.

A rule that selects operations or models is judged on the store's rollups
(:mod:`toolkeeper.alerts.selection`). The store (an SQLite file) holds two
hours of per-minute rollups of the rule's tool and of ``N`` unrelated tools;
for each ``N`` this times one pass's reading of a ``5m`` and a ``24h`` window
(a fresh :class:`~toolkeeper.alerts.selection.SelectedCalls`) — rows filtered
in SQL by tool and time — next to reading every tool's rows and filtering in
Python (what a pass did before), and reports the medians. Results go to
``benchmarks/results/alert_selection.json``; the last line printed is the same
JSON object.

    python benchmarks/alert_selection.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from toolkeeper import FakeClock
from toolkeeper.alerts import AlertRule
from toolkeeper.alerts.selection import SelectedCalls, window_start
from toolkeeper.monitor import OperationStatus, PerformanceMonitor
from toolkeeper.monitor.buckets import Bucket
from toolkeeper.monitor.persist import StoreWriter
from toolkeeper.monitor.rollups import HOUR, MINUTE
from toolkeeper.store import open_store
from toolkeeper.store.rollups import load_rollups


def _rule(window: str) -> AlertRule:
    return AlertRule(name=f"gpt4-{window}", tool="llm", metric="error_rate", op=">",
                     threshold=0.5, window=window, min_calls=1,
                     matchers=('model="gpt-4o"',))  # fmt: skip


RULES = (_rule("5m"), _rule("24h"))


def fill(folder: Path, unrelated: int, minutes: int) -> tuple[str, FakeClock]:
    """Store ``minutes`` minutes of calls of ``llm`` and of ``unrelated`` other tools."""
    uri = f"sqlite:///{folder / f'state-{unrelated}.db'}"
    store = open_store(uri)
    clock = FakeClock()
    writer = StoreWriter(store, now=lambda: clock.now().timestamp(), retention_days=lambda _: 30)
    monitor = PerformanceMonitor(clock=clock, sink=writer, flush_interval_s=None)
    tools = ["llm", *(f"other-{index}" for index in range(unrelated))]
    for _ in range(minutes):
        for tool in tools:
            for status in (OperationStatus.SUCCESS, OperationStatus.ERROR):
                monitor.record(tool, "chat", status, 0.2, model="gpt-4o")
        monitor.flush()
        clock.advance(60)
    monitor.close()
    store.close()
    return uri, clock


def filtered_in_sql(uri: str, clock: FakeClock) -> float:
    """Time one pass's reading of both rules, as a pass reads them now."""
    store = open_store(uri)
    try:
        started = time.perf_counter()
        selected = SelectedCalls(store, clock.now())
        for rule in RULES:
            selected.stats(rule, "llm")
        return time.perf_counter() - started
    finally:
        store.close()


def everything_read(uri: str, clock: FakeClock) -> float:
    """Time the same pass reading every tool's rows and keeping the rule's in Python (before)."""
    store = open_store(uri)
    try:
        started = time.perf_counter()
        now = clock.now()
        epoch = now.timestamp()
        cutoff = float((int(epoch // HOUR) - 1) * HOUR)
        minutes = load_rollups(store, MINUTE, min(cutoff, epoch - HOUR - MINUTE))
        for rule in RULES:
            start = window_start(rule.window, epoch)
            rows = [row for row in minutes if row.bucket_start >= max(start, cutoff)]
            if start < cutoff:
                rows += load_rollups(store, HOUR, start, until=cutoff)
            merged = Bucket()
            for row in rows:
                if row.tool == "llm" and rule.selects(row.operation, row.model):
                    merged.merge(Bucket.from_dict(row.bucket))
            merged.stats(datetime.fromtimestamp(start, UTC), now)
        return time.perf_counter() - started
    finally:
        store.close()


def main() -> None:
    """Run the measurements and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer tools, minutes and runs")
    quick = parser.parse_args().quick
    counts = (0, 20) if quick else (0, 50, 200)
    minutes, runs = (30, 5) if quick else (120, 9)
    results: dict[str, object] = {"python": platform.python_version(), "minutes": minutes,
                                  "runs": runs, "unrelated_tools": {}}  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        for unrelated in counts:
            uri, clock = fill(Path(folder), unrelated, minutes)
            sql = [filtered_in_sql(uri, clock) for _ in range(runs)]
            old = [everything_read(uri, clock) for _ in range(runs)]
            entry = {"filtered_in_sql_ms": round(statistics.median(sql) * 1000, 3),
                     "every_tool_read_ms": round(statistics.median(old) * 1000, 3)}  # fmt: skip
            results["unrelated_tools"][str(unrelated)] = entry  # type: ignore[index]
            print(f"{unrelated:>4} unrelated tools: {entry}", file=sys.stderr)
    out = Path(__file__).with_name("results") / "alert_selection.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
