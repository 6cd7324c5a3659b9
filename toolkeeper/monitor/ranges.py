"""Sum every writer's exact rollups over a range of time, per (tool, operation, model).

What reports of spend and volume read (``toolkeeper costs``, the costs page):
the rollups are written from each process's exact aggregates, so these sums hold
every operation, including those whose raw rows were shed. Ranges are aligned to
the rollups' buckets: minutes while minute rollups are kept (two days), hours
beyond (kept 400 days), so a range may include up to one bucket before ``since``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from toolkeeper.monitor.buckets import COST_UNITS, stored_units
from toolkeeper.monitor.rollups import HOUR, MINUTE
from toolkeeper.store.rollups import load_rollups
from toolkeeper.store.sql import Store

__all__ = ["MINUTE_ROLLUPS_KEPT_S", "RangeTotal", "range_totals"]

MINUTE_ROLLUPS_KEPT_S = 2 * 86400
"""How long minute rollups are kept; older ranges are read from hour rollups."""

_FAILED = ("error", "timeout", "cancelled")


@dataclass(slots=True, kw_only=True)
class RangeTotal:
    """What one (tool, operation, model) did over a range; model ``""`` when none was named.

    ``cost`` is US dollars over the priced operations (an unpriced one adds 0);
    ``counts`` is operations by status. ``cached_tokens`` and ``cache_write_tokens``
    are parts of ``input_tokens``, ``reasoning_tokens`` of ``output_tokens``.
    """

    tool: str
    operation: str
    model: str
    calls: int = 0
    unpriced: int = 0
    cost: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def failures(self) -> int:
        """Return how many operations failed (errors, timeouts, cancellations)."""
        return sum(self.counts.get(status, 0) for status in _FAILED)

    @property
    def successes(self) -> int:
        """Return how many operations succeeded."""
        return self.counts.get("success", 0)


def range_totals(
    store: Store, *, since: float, until: float | None, now: float
) -> list[RangeTotal]:
    """Return every writer's rollups summed per (tool, operation, model) over ``[since, until)``."""
    if since >= now - MINUTE_ROLLUPS_KEPT_S + MINUTE:
        rows = load_rollups(store, MINUTE, since // MINUTE * MINUTE, until)
    else:
        rows = load_rollups(store, HOUR, since // HOUR * HOUR, until)
    found: dict[tuple[str, str, str], RangeTotal] = {}
    units: dict[tuple[str, str, str], int] = {}  # costs summed exactly, in COST_UNITS
    for row in rows:
        key = (row.tool, row.operation, row.model)
        total = found.get(key)
        if total is None:
            total = found[key] = RangeTotal(tool=row.tool, operation=row.operation, model=row.model)
        bucket = row.bucket
        total.calls += row.operations
        total.unpriced += int(bucket.get("unpriced", 0))
        units[key] = units.get(key, 0) + stored_units(bucket)
        total.input_tokens += int(bucket.get("input_tokens", 0))
        total.output_tokens += int(bucket.get("output_tokens", 0))
        total.cached_tokens += int(bucket.get("cached_tokens", 0))
        total.cache_write_tokens += int(bucket.get("cache_write_tokens", 0))
        total.reasoning_tokens += int(bucket.get("reasoning_tokens", 0))
        for status, count in bucket.get("counts", {}).items():
            total.counts[status] = total.counts.get(status, 0) + int(count)
    for key, total in found.items():
        total.cost = units[key] / COST_UNITS
    return [found[key] for key in sorted(found)]
