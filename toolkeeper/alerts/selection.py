"""Read the calls a rule's operation and model matchers select, from the store's rollups.

The in-memory windows of a monitor are kept per tool and operation; the store
keeps every writer's exact per-minute (and per-hour) rollups per tool,
operation *and model*. A rule that selects operations or models is therefore
judged on those rollups, summed over every writer: every process evaluating it
on one store — the application's and ``toolkeeper serve`` — reads the same rows
and computes the same value. A process's own latest calls count once its writer
has stored them (the writer's interval, about a second).

Windows are aligned on the rollups' buckets (the monitor's own windows align
``1m`` and ``5m`` on 10 seconds): ``1m``, ``5m`` and ``1h`` count the minute
buckets starting in the window; ``24h`` the hour buckets, with the current and
the previous hour by minute, as :func:`toolkeeper.monitor.persist.history`
splits them, so nothing is counted twice.

Only the rows of the tool a rule is judged for are read, filtered in SQL by
tool and time (once per tool and resolution in a pass), so a pass does not
read, parse or sum the rows of the other tools the store holds.
"""

from __future__ import annotations

from datetime import UTC, datetime

from toolkeeper.alerts.rules import AlertRule
from toolkeeper.monitor.buckets import Bucket, WindowStats
from toolkeeper.monitor.rollups import HOUR, MINUTE
from toolkeeper.monitor.series import WINDOWS
from toolkeeper.store.rollups import RollupRow, load_rollups
from toolkeeper.store.sql import Store

__all__ = ["SelectedCalls", "window_start"]


def window_start(window: str, now: float) -> float:
    """Return the aligned start (epoch seconds) of ``window`` ending at ``now``."""
    seconds = WINDOWS[window]
    size = MINUTE if seconds <= HOUR else HOUR
    return float((int(now // size) - seconds // size + 1) * size)


class SelectedCalls:
    """One evaluation pass's view of the store's rollups; each resolution is loaded once.

    Not thread-safe: one pass uses it, then drops it.
    """

    def __init__(self, store: Store, now: datetime) -> None:
        self._store = store
        self._now = now
        self._epoch = now.timestamp()
        self._cutoff = float((int(self._epoch // HOUR) - 1) * HOUR)
        self._minutes: dict[str, list[RollupRow]] = {}
        self._hours: dict[str, list[RollupRow]] = {}
        self._stats: dict[tuple[str, str, str, tuple[str, ...]], WindowStats] = {}

    def stats(self, rule: AlertRule, tool: str) -> WindowStats:
        """Return the stats of the calls of ``tool`` that ``rule`` selects, over its window."""
        key = (rule.name, tool, rule.window, rule.matchers)
        found = self._stats.get(key)
        if found is None:
            start = window_start(rule.window, self._epoch)
            merged = Bucket()
            for row in self._rows(tool, start):
                if rule.selects(row.operation, row.model):
                    merged.merge(Bucket.from_dict(row.bucket))
            found = self._stats[key] = merged.stats(datetime.fromtimestamp(start, UTC), self._now)
        return found

    def _rows(self, tool: str, start: float) -> list[RollupRow]:
        """Return the rollup rows of ``tool`` covering ``[start, now]``, each counted once."""
        minutes = self._minutes.get(tool)
        if minutes is None:
            since = min(self._cutoff, self._epoch - HOUR - MINUTE)
            minutes = self._minutes[tool] = load_rollups(self._store, MINUTE, since, tool=tool)
        if start >= self._cutoff:  # every minute window: its start is within the last hour
            return [row for row in minutes if row.bucket_start >= start]
        hours = self._hours.get(tool)
        if hours is None:
            hours = self._hours[tool] = load_rollups(
                self._store, HOUR, start, until=self._cutoff, tool=tool
            )
        recent = [row for row in minutes if row.bucket_start >= self._cutoff]
        return [*(row for row in hours if row.bucket_start >= start), *recent]
