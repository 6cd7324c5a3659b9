"""Budget periods: calendar days and months in an IANA time zone, or a rolling number of hours.

A period turns a moment into a :class:`Slot`, the integers a ledger needs and
nothing more, so ledgers know nothing about time zones:

- spend is kept in *buckets* named by the UTC epoch second they start at;
- the spend of the period at that moment is the sum of the buckets from ``since``;
- warnings are deduplicated per ``period`` (an epoch second too).

A calendar period is one bucket, from local midnight (of the day, or of the
month's first day) to the next: 23 or 25 hours on the days clocks change. A
rolling window of N hours keeps 60 buckets of N minutes each, plus the one
being filled, so a call's spend counts for at least N hours and at most
N hours and N minutes: the window errs towards refusing, never overspending.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["Period", "Slot"]

_ROLLING_BUCKETS = 60
#: Buckets outlive their period by this much, so a late settle still finds its bucket.
_GRACE = timedelta(days=2)


@dataclass(frozen=True, slots=True)
class Slot:
    """Where a budget's spend at one moment goes, and which buckets count (epoch seconds).

    ``ttl_seconds`` is how long a backend keeps the keys written in this slot,
    counted from any moment within it: the whole period plus a grace.
    """

    bucket: int
    since: int
    width: int
    period: int
    starts: datetime
    ends: datetime
    ttl_seconds: int


@dataclass(frozen=True, slots=True)
class Period:
    """When a budget's spend starts again from zero.

    ``kind`` is ``"daily"`` or ``"monthly"`` (calendar, in ``time_zone``) or
    ``"rolling"`` (the last ``hours`` hours).
    """

    kind: Literal["daily", "monthly", "rolling"]
    time_zone: str = "UTC"
    hours: int | None = None
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)
    # The last slot computed, reused while moments fall in its bucket: the hot path of
    # every reservation. Replaced whole, so threads never see half of one.
    _last: list[Slot] = field(init=False, repr=False, compare=False, default_factory=list)

    def __post_init__(self) -> None:
        if self.kind not in ("daily", "monthly", "rolling"):
            raise ValueError(f"budget period {self.kind!r} is not daily, monthly or rolling")
        if (self.kind == "rolling") != (self.hours is not None):
            raise ValueError("a rolling period needs hours; a calendar period takes none")
        if self.hours is not None and self.hours < 1:
            raise ValueError(f"a rolling period lasts at least 1 hour, got {self.hours}")
        try:
            zone = ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {self.time_zone!r}") from None
        object.__setattr__(self, "_zone", zone)

    @classmethod
    def parse(cls, text: str, *, time_zone: str = "UTC") -> Period:
        """Parse ``"daily"``, ``"monthly"`` or ``"rolling:24h"`` (as :func:`parse_budget` gives)."""
        if text in ("daily", "monthly"):
            return cls(text, time_zone=time_zone)  # type: ignore[arg-type]
        head, _, hours = text.partition(":")
        if head == "rolling" and hours.endswith("h") and hours[:-1].isdigit():
            return cls("rolling", time_zone=time_zone, hours=int(hours[:-1]))
        raise ValueError(f"budget period {text!r} is not daily, monthly or rolling:<N>h")

    @property
    def zone(self) -> ZoneInfo:
        """Return the time zone whose calendar the period follows."""
        return self._zone

    @property
    def key(self) -> str:
        """Return a stable name for the period, part of a budget's key in a ledger."""
        if self.kind == "rolling":
            return f"rolling:{self.hours}h"
        return f"{self.kind}@{self.time_zone}"

    def slot(self, at: datetime) -> Slot:
        """Return the slot of the moment ``at`` (timezone-aware)."""
        if at.tzinfo is None:
            raise ValueError(f"a budget time must be timezone-aware, got {at!r}")
        moment = at.timestamp()
        cached = self._last[0] if self._last else None
        if cached is not None and cached.bucket <= moment < cached.bucket + cached.width:
            return cached
        found = self._rolling_slot(moment) if self.kind == "rolling" else self._calendar_slot(at)
        self._last[:] = [found]
        return found

    def _calendar_slot(self, at: datetime) -> Slot:
        local = at.astimezone(self._zone)
        if self.kind == "daily":
            start = datetime(local.year, local.month, local.day, tzinfo=self._zone)
            after = (start + timedelta(days=1)).date()
        else:
            start = datetime(local.year, local.month, 1, tzinfo=self._zone)
            after = (start + timedelta(days=32)).date().replace(day=1)
        end = datetime(after.year, after.month, after.day, tzinfo=self._zone)
        begin = int(start.timestamp())
        return Slot(
            bucket=begin,
            since=begin,
            width=int(end.timestamp()) - begin,
            period=begin,
            starts=start.astimezone(UTC),
            ends=end.astimezone(UTC),
            ttl_seconds=int(end.timestamp()) - begin + int(_GRACE.total_seconds()),
        )

    def _rolling_slot(self, moment: float) -> Slot:
        assert self.hours is not None
        window = self.hours * 3600
        width = window // _ROLLING_BUCKETS
        now = math.floor(moment)
        bucket = now - now % width
        since = bucket - window
        return Slot(
            bucket=bucket,
            since=since,
            width=width,
            # Warnings of a rolling budget repeat at most once per window length.
            period=now - now % window,
            starts=datetime.fromtimestamp(since, UTC),
            ends=datetime.fromtimestamp(bucket + width + window, UTC),
            ttl_seconds=window + 2 * width + int(_GRACE.total_seconds()),
        )
