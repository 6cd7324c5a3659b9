"""Named time intervals, as Alertmanager's ``time_intervals``: when a route is muted or active.

::

    [alerts.time_intervals.weekends]
    weekdays = ["saturday", "sunday"]
    location = "Europe/Paris"

    [alerts.time_intervals.nights]
    times = [{ start = "22:00", end = "24:00" }, { start = "00:00", end = "07:00" }]

A moment is in the interval when every field given holds for it (an empty
field holds always), read in ``location`` (default UTC): ``times`` (half-open
``start <= t < end``, ``"24:00"`` ends the day), ``weekdays``, ``days_of_month``
(1..31, or -1 for the last day) and ``months`` (1..12 or names).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["INTERVAL_KEYS", "TimeInterval", "time_interval"]

INTERVAL_KEYS = ("times", "weekdays", "days_of_month", "months", "location")
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MONTHS = tuple(name.lower() for name in calendar.month_name[1:])
_CLOCK = re.compile(r"([01]\d|2[0-4]):([0-5]\d)")


@dataclass(frozen=True, slots=True, kw_only=True)
class TimeInterval:
    """A named set of moments: minutes of the day, weekdays, days of the month, months."""

    name: str
    times: tuple[tuple[int, int], ...] = ()  # minute of day: [start, end)
    weekdays: frozenset[int] = frozenset()  # 0 = Monday
    days_of_month: frozenset[int] = frozenset()  # 1..31, -1 = last day
    months: frozenset[int] = frozenset()  # 1..12
    location: str = "UTC"

    def contains(self, moment: datetime) -> bool:
        """Return whether ``moment`` (timezone-aware) lies in the interval."""
        local = moment.astimezone(ZoneInfo(self.location))
        minute = local.hour * 60 + local.minute
        if self.times and not any(start <= minute < end for start, end in self.times):
            return False
        if self.weekdays and local.weekday() not in self.weekdays:
            return False
        if self.days_of_month:
            last = calendar.monthrange(local.year, local.month)[1]
            days = {day if day > 0 else last + 1 + day for day in self.days_of_month}
            if local.day not in days:
                return False
        return not self.months or local.month in self.months


def time_interval(name: str, table: Mapping[str, Any]) -> TimeInterval:
    """Build the interval ``name`` from ``table``; a ``ValueError`` names key, value and rule."""
    for key in table:
        if key not in INTERVAL_KEYS:
            raise ValueError(f"{key}: unknown key; expected one of " + ", ".join(INTERVAL_KEYS))
    location = table.get("location", "UTC")
    try:
        ZoneInfo(location)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(f"location={location!r} must be a time zone such as 'UTC'") from None
    return TimeInterval(
        name=name,
        times=tuple(_time_range(entry) for entry in _list(table, "times")),
        weekdays=frozenset(_choice("weekdays", day, _WEEKDAYS) for day in _list(table, "weekdays")),
        days_of_month=frozenset(_day(day) for day in _list(table, "days_of_month")),
        months=frozenset(_choice("months", m, _MONTHS) + 1 for m in _list(table, "months")),
        location=location,
    )


def _list(table: Mapping[str, Any], key: str) -> list[Any]:
    value = table.get(key, [])
    if not isinstance(value, list):
        raise ValueError(f"{key}={value!r} must be a list")  # noqa: TRY004 - a config value
    return value


def _minute(text: Any, key: str) -> int:
    found = _CLOCK.fullmatch(text) if isinstance(text, str) else None
    if found is None or (found.group(1) == "24" and found.group(2) != "00"):
        raise ValueError(f"times.{key}={text!r} must be a time of day HH:MM from 00:00 to 24:00")
    return int(found.group(1)) * 60 + int(found.group(2))


def _time_range(entry: Any) -> tuple[int, int]:
    if not isinstance(entry, dict) or set(entry) != {"start", "end"}:
        raise ValueError(
            f"times entry {entry!r} must be a table {{ start = 'HH:MM', end = 'HH:MM' }}"
        )
    start, end = _minute(entry["start"], "start"), _minute(entry["end"], "end")
    if not start < end:
        raise ValueError(f"times entry {entry!r}: start must come before end")
    return start, end


def _choice(key: str, value: Any, names: tuple[str, ...]) -> int:
    if (
        isinstance(value, int)
        and not isinstance(value, bool)
        and key == "months"
        and 1 <= value <= 12
    ):
        return value - 1
    if isinstance(value, str) and value.lower() in names:
        return names.index(value.lower())
    raise ValueError(f"{key}: {value!r} must be one of " + ", ".join(names))


def _day(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and (1 <= value <= 31 or value == -1):
        return value
    raise ValueError(f"days_of_month: {value!r} must be a day 1..31, or -1 for the last day")
