"""Budgets and rate limits shared by four spawned processes hold exactly."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from toolkeeper._errors import BudgetExceeded
from toolkeeper.costs import Budget, BudgetGuard, Period, open_ledger

from ._workers import (
    CENT,
    dollar_a_day,
    hit_rate_limit,
    run_workers,
    spend_cents,
    wrapped_cents,
)


@pytest.fixture(params=["redis", "sqlite", "postgresql"])
def shared_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Return a ledger URI processes can share: Redis, an SQLite file, PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    name = "redis_url" if request.param == "redis" else "postgres_url"
    uri: str = request.getfixturevalue(name)
    return uri


def test_four_processes_admit_exactly_one_hundred_cent_calls(shared_uri: str) -> None:
    """Admit exactly 100 of 4 processes x 4 threads x 20 one-cent calls against $1.00."""
    outcomes = run_workers(spend_cents, 4, shared_uri, 4, 20)
    assert sum(admitted for admitted, _, _ in outcomes) == 100
    assert sum(refused for _, refused, _ in outcomes) == 220
    with open_ledger(shared_uri) as reopened:
        guard = BudgetGuard([dollar_a_day()], ledger=reopened)
        assert guard.status()[0].spent == Decimal("1.00")
        with pytest.raises(BudgetExceeded):
            guard.reserve(CENT, tool="openai")


def test_four_processes_share_one_hundred_requests_a_minute(redis_url: str) -> None:
    """Admit exactly 100 of 4 x 50 quick attempts against 100 requests per minute in Redis."""
    outcomes = run_workers(hit_rate_limit, 4, redis_url, 50)
    assert sum(outcomes) == 100


@pytest.mark.parametrize("backend", ["store", "redis"])
def test_four_processes_without_an_estimate_never_overshoot(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """4 processes x 4 threads x 20 wrapped one-cent calls, no estimate: at most 100 run."""
    if backend == "redis":
        store, shared = f"sqlite:///{tmp_path / 'state.db'}", request.getfixturevalue("redis_url")
    else:
        store, shared = request.getfixturevalue("postgres_url"), None
    outcomes = run_workers(wrapped_cents, 4, store, shared, 4, 20)
    ran = sum(count for count, _ in outcomes)
    assert 0 < ran <= 100
    assert ran + sum(refused for _, refused in outcomes) == 320
    with open_ledger(shared or store) as reopened:
        guard = BudgetGuard(
            [Budget(scope="tool:paid", limit=Decimal("1.00"), period=Period("daily"))],
            ledger=reopened,
        )
        assert guard.status()[0].spent == CENT * ran <= Decimal("1.00")
