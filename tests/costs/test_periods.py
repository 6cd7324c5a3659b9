"""Budget periods: local calendar days and months, daylight-saving days, rolling windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from toolkeeper.costs import Period


def test_a_day_runs_from_local_midnight_to_local_midnight() -> None:
    """Put 23:30 and 00:30 Los Angeles time in different days though UTC puts them in one."""
    period = Period("daily", time_zone="America/Los_Angeles")
    late = period.slot(datetime(2026, 1, 15, 7, 30, tzinfo=UTC))
    early = period.slot(datetime(2026, 1, 15, 8, 30, tzinfo=UTC))
    assert late.ends == early.starts == datetime(2026, 1, 15, 8, 0, tzinfo=UTC)
    assert late.bucket != early.bucket
    assert late.period != early.period


def test_the_spring_forward_day_lasts_twenty_three_hours() -> None:
    """Make the day clocks go forward 23 hours long, and the day they go back 25."""
    period = Period("daily", time_zone="Europe/Paris")
    spring = period.slot(datetime(2026, 3, 29, 12, 0, tzinfo=UTC))
    autumn = period.slot(datetime(2026, 10, 25, 12, 0, tzinfo=UTC))
    assert spring.ends - spring.starts == timedelta(hours=23)
    assert autumn.ends - autumn.starts == timedelta(hours=25)


def test_a_month_starts_on_the_local_first() -> None:
    """Begin March at midnight on 1 March in Sydney, which is still February in UTC."""
    period = Period("monthly", time_zone="Australia/Sydney")
    slot = period.slot(datetime(2026, 2, 28, 14, 0, tzinfo=UTC))  # 01:00 on 1 March in Sydney
    assert slot.starts == datetime(2026, 2, 28, 13, 0, tzinfo=UTC)
    assert slot.ends == datetime(2026, 3, 31, 13, 0, tzinfo=UTC)


def test_a_rolling_window_counts_at_least_its_hours() -> None:
    """Count 60 buckets of N minutes plus the current one: never less than N hours back."""
    period = Period("rolling", hours=24)
    at = datetime(2026, 1, 15, 12, 7, 30, tzinfo=UTC)
    slot = period.slot(at)
    assert slot.width == 24 * 60
    assert slot.bucket <= at.timestamp() < slot.bucket + slot.width
    assert slot.since <= (at - timedelta(hours=24)).timestamp()
    assert (at - timedelta(hours=24, minutes=24)).timestamp() <= slot.since
    assert period.key == "rolling:24h"


def test_parse_reads_what_parse_budget_gives() -> None:
    """Build periods from 'daily', 'monthly' and 'rolling:6h'."""
    assert Period.parse("daily", time_zone="Asia/Tokyo") == Period("daily", time_zone="Asia/Tokyo")
    assert Period.parse("rolling:6h") == Period("rolling", hours=6)
    with pytest.raises(ValueError, match="weekly"):
        Period.parse("weekly")


def test_bad_periods_are_refused() -> None:
    """Refuse an unknown zone, a rolling period without hours and a naive moment."""
    with pytest.raises(ValueError, match="IANA"):
        Period("daily", time_zone="Mars/Olympus")
    with pytest.raises(ValueError, match="needs hours"):
        Period("rolling")
    with pytest.raises(ValueError, match="timezone-aware"):
        Period("daily").slot(datetime(2026, 1, 1))  # noqa: DTZ001 - the naive moment under test
