"""Fixtures for the monitoring tests: a fake clock and monitors that are always closed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from toolkeeper._clock import FakeClock
from toolkeeper.monitor import PerformanceMonitor, WrapperMonitoring


@pytest.fixture
def clock() -> FakeClock:
    """Return a fake clock at 2026-01-01T00:00:00Z, aligned to every bucket size."""
    return FakeClock()


@pytest.fixture
def monitor(clock: FakeClock) -> Iterator[WrapperMonitoring]:
    """Return a lifecycle monitor on the fake clock, closed after the test."""
    with WrapperMonitoring(clock=clock) as mon:
        yield mon


@pytest.fixture
def engine(clock: FakeClock) -> Iterator[PerformanceMonitor]:
    """Return a bare aggregate engine on the fake clock, closed after the test."""
    with PerformanceMonitor(clock=clock) as mon:
        yield mon
