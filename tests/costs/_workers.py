"""Worker functions that spawned test processes import by name."""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from tests._processes import run_in_processes
from toolkeeper._errors import BudgetExceeded, RateLimited
from toolkeeper.costs import Budget, BudgetGuard, Period, RateLimit, RateLimiter, open_ledger

CENT = Decimal("0.01")


def dollar_a_day() -> Budget:
    """Return the hard daily budget of $1.00 on the tool ``openai``."""
    return Budget(scope="tool:openai", limit=Decimal("1.00"), period=Period("daily"))


def hammer(guard: BudgetGuard, threads: int, calls: int) -> tuple[int, int]:
    """Make ``threads`` x ``calls`` one-cent calls through ``guard``; return (admitted, refused)."""
    lock = threading.Lock()
    counts = [0, 0]
    start = threading.Barrier(threads)

    def run() -> None:
        start.wait()
        for _ in range(calls):
            try:
                reservation = guard.reserve(CENT, tool="openai")
            except BudgetExceeded:
                with lock:
                    counts[1] += 1
                continue
            guard.settle(reservation, CENT)
            with lock:
                counts[0] += 1

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return counts[0], counts[1]


def spend_cents(uri: str, threads: int, calls: int, barrier: Any, results: Any) -> None:
    """Hammer the budget after every peer is ready; report (admitted, refused, warnings fired)."""
    try:
        fired: list[str] = []
        with open_ledger(uri) as ledger:
            guard = BudgetGuard(
                [dollar_a_day()],
                ledger=ledger,
                on_event=lambda event: fired.append(
                    "limit" if event.kind == "limit" else repr(event.threshold)
                ),
            )
            barrier.wait(timeout=120)
            admitted, refused = hammer(guard, threads, calls)
            results.put(("ok", (admitted, refused, fired)))
    except Exception as exc:  # noqa: BLE001 - report any failure to the parent test
        results.put(("error", repr(exc)))


def hit_rate_limit(uri: str, attempts: int, barrier: Any, results: Any) -> None:
    """Wait for every peer, then try ``attempts`` requests against 100/minute; report admitted."""
    try:
        limiter = RateLimiter("openai", RateLimit(requests_per_minute=100), storage=uri)
        barrier.wait(timeout=120)
        admitted = 0
        for _ in range(attempts):
            try:
                limiter.acquire()
            except RateLimited:
                continue
            admitted += 1
        limiter.close()
        results.put(("ok", admitted))
    except Exception as exc:  # noqa: BLE001 - report any failure to the parent test
        results.put(("error", repr(exc)))


def run_workers(target: Callable[..., None], count: int, *args: Any) -> list[Any]:
    """Run ``target`` in ``count`` processes (see tests._processes); return each one's result."""
    outcomes = run_in_processes(target, count, *args)
    errors = [detail for status, detail in outcomes if status != "ok"]
    assert not errors, errors
    return [detail for _, detail in outcomes]


WRAPPED_CONFIG = """\
[tools.paid]
daily_budget = 1.0
max_retry_attempts = 0
timeout_sync_calls = false
"""


def run_cent_calls(keeper: Any, threads: int, calls: int, barrier: Any = None) -> tuple[int, int]:
    """Call a one-cent wrapped function, no estimate, from ``threads`` threads; (ran, refused)."""
    lock = threading.Lock()
    counts = [0, 0]

    @keeper.tool("paid")
    def chat() -> dict[str, Any]:
        with lock:
            counts[0] += 1
        return {"model": "m", "usage": {"prompt_tokens": 10, "completion_tokens": 5, "cost": 0.01}}

    start = threading.Barrier(threads)

    def run() -> None:
        start.wait()
        for _ in range(calls):
            try:
                chat()
            except BudgetExceeded:
                with lock:
                    counts[1] += 1

    workers = [threading.Thread(target=run) for _ in range(threads)]
    if barrier is not None:
        barrier.wait(timeout=120)
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return counts[0], counts[1]


def wrapped_cents(  # noqa: PLR0917 - run_in_processes passes the arguments by position
    store: str, shared: str | None, threads: int, calls: int, barrier: Any, results: Any
) -> None:
    """Open a keeper on ``store`` (ledger ``shared``), run one-cent calls; report (ran, refused)."""
    try:
        from toolkeeper import Keeper
        from toolkeeper.config.files import ConfigFile

        keeper = Keeper.open(
            ConfigFile.parse(WRAPPED_CONFIG), store=store, shared=shared, follow_changes=False
        )
        try:
            results.put(("ok", run_cent_calls(keeper, threads, calls, barrier)))
        finally:
            keeper.close()
    except Exception as exc:  # noqa: BLE001 - report any failure to the parent test
        results.put(("error", repr(exc)))


OVERSHOOT_CONFIG = """\
[tools.paid]
daily_budget = 1.0
max_retry_attempts = 0
timeout_sync_calls = false
"""
OVERSHOOT_ESTIMATE = 0.001  # each call reserves a tenth of a cent...
OVERSHOOT_COST = 0.01  # ...and costs a cent: 0.009 beyond its reservation


def overshoot_calls(store: str, calls: int, barrier: Any, results: Any) -> None:
    """Open a keeper on ``store``; make ``calls`` calls that cost more than they reserve."""
    try:
        from toolkeeper import Keeper
        from toolkeeper.config.files import ConfigFile

        keeper = Keeper.open(ConfigFile.parse(OVERSHOOT_CONFIG), store=store, follow_changes=False)
        try:
            chat = keeper.tool("paid", estimated_cost=OVERSHOOT_ESTIMATE)(
                lambda: {"model": "m", "usage": {"prompt_tokens": 1, "cost": OVERSHOOT_COST}}
            )
            barrier.wait(timeout=120)
            for _ in range(calls):
                chat()
            results.put(("ok", {t: o.calls for t, o in keeper.costs.overshoots().items()}))
        finally:
            keeper.close()
    except Exception as exc:  # noqa: BLE001 - report any failure to the parent test
        results.put(("error", repr(exc)))
