"""Measure what a budget reservation and a rate-limit check add to each call.

For each backend (memory, Redis) it times, in the same run and under the same
conditions, the ``limits`` library's bare ``MovingWindowRateLimiter.hit``, a
toolkeeper rate-limit check (``RateLimiter.acquire``) and a budget reservation
(``BudgetGuard.reserve`` then ``settle_later``, as wrapped calls do), and on Redis a
bare ``EVALSHA`` round trip, and reports the median per-call time over several runs.
The SQL store's ledger (an SQLite file) is measured too, for comparison. Results go
to ``benchmarks/results/costs.json``; the last line printed is the same JSON object.

    python benchmarks/costs.py [--quick] [--redis redis://127.0.0.1:6379/0]

The Redis URL defaults to ``TOOLKEEPER_TEST_REDIS``; without one, Redis is skipped.
Keys are written under a unique prefix and deleted afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import limits
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from toolkeeper.costs import Budget, BudgetGuard, Period, RateLimit, RateLimiter, open_ledger
from toolkeeper.costs.money import to_nanos

RESULTS = Path(__file__).parent / "results" / "costs.json"
CENT = Decimal("0.01")


def per_call_us(operation: Callable[[], object], calls: int, runs: int) -> float:
    """Return the median over ``runs`` of the mean time of one call, in microseconds."""
    for _ in range(min(calls, 200)):
        operation()  # warm caches, connections and script registrations
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(calls):
            operation()
        samples.append((time.perf_counter() - start) / calls * 1e6)
    return round(statistics.median(samples), 2)


def bare_hit(storage_uri: str, namespace: str) -> tuple[Callable[[], object], Callable[[], None]]:
    """Return a bare ``limits`` moving-window hit that never refuses, and a reset."""
    limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))
    item = limits.RateLimitItemPerMinute(10**9)
    return (lambda: limiter.hit(item, namespace, "bare")), lambda: limiter.clear(
        item, namespace, "bare"
    )


def rate_limit_check(
    storage_uri: str, namespace: str
) -> tuple[Callable[[], object], Callable[[], None]]:
    """Return a toolkeeper rate-limit check against a limit that never refuses, and a reset."""
    limiter = RateLimiter(
        "bench", RateLimit(requests_per_minute=10**9), storage=storage_uri, namespace=namespace
    )
    return limiter.acquire, limiter.reset


def reserve_and_settle(ledger_uri: str) -> tuple[Callable[[], object], Callable[[], None]]:
    """Return one budget reservation settled at its estimate, and a closer for its ledger.

    The settle is the call path's (``settle_later``): shared ledgers write it from a
    background thread in batches, whose work still runs on this machine's cores.
    """
    ledger = open_ledger(ledger_uri)
    budget = Budget(scope="tool:bench", limit=Decimal(10**6), period=Period("daily"))
    guard = BudgetGuard([budget], ledger=ledger)
    spent = to_nanos(CENT)

    def once() -> object:
        guard.settle_later(guard.reserve(CENT, tool="bench"), spent)
        return None

    return once, ledger.close


def bare_evalsha(url: str, namespace: str) -> tuple[Callable[[], object], Callable[[], None]]:
    """Return one ``EVALSHA`` round trip of a one-line script, the floor of a Redis budget."""
    import redis

    client = redis.Redis.from_url(url)
    sha = client.script_load("return 1")
    return (lambda: client.evalsha(sha, 1, namespace)), client.close


def measure_backend(
    storage_uri: str, ledger_uri: str, *, calls: int, runs: int, namespace: str
) -> dict[str, float]:
    """Time the bare hit, the rate-limit check and the reservation on one backend.

    On Redis a bare ``EVALSHA`` round trip is timed too: a budgeted call's floor.
    """
    hit, clear_hits = bare_hit(storage_uri, namespace)
    check, clear_checks = rate_limit_check(storage_uri, namespace)
    reserve, close = reserve_and_settle(ledger_uri)
    remote = not storage_uri.startswith("memory")
    evalsha, close_evalsha = bare_evalsha(storage_uri, namespace) if remote else (None, None)
    try:
        # Interleave them so drift in the machine's load affects each alike. Moving
        # windows keep one entry per hit: clear them each run so both start equal.
        figures: dict[str, list[float]] = {
            "limits_hit": [], "rate_limit_check": [], "budget": [], "evalsha": []
        }  # fmt: skip
        for _ in range(runs):
            clear_hits()
            clear_checks()
            figures["limits_hit"].append(per_call_us(hit, calls, 1))
            figures["rate_limit_check"].append(per_call_us(check, calls, 1))
            figures["budget"].append(per_call_us(reserve, calls, 1))
            if evalsha is not None:
                figures["evalsha"].append(per_call_us(evalsha, calls, 1))
    finally:
        close()
        if close_evalsha is not None:
            close_evalsha()
    medians = {
        name: round(statistics.median(values), 2) for name, values in figures.items() if values
    }
    found = {
        "limits_bare_hit_us": medians["limits_hit"],
        "rate_limit_check_us": medians["rate_limit_check"],
        "rate_limit_added_us": round(medians["rate_limit_check"] - medians["limits_hit"], 2),
        "budget_reserve_settle_us": medians["budget"],
    }
    if "evalsha" in medians:
        found["bare_evalsha_us"] = medians["evalsha"]
        found["budget_vs_evalsha"] = round(medians["budget"] / medians["evalsha"], 3)
    return found


def measure_sql(*, calls: int, runs: int) -> dict[str, float]:
    """Time a reservation on the SQL store's ledger, an SQLite file in a temporary folder."""
    with tempfile.TemporaryDirectory() as folder:
        reserve, close = reserve_and_settle(f"sqlite:///{Path(folder) / 'state.db'}")
        try:
            return {"budget_reserve_settle_us": per_call_us(reserve, calls, runs)}
        finally:
            close()


def forget_redis_keys(url: str, namespace: str) -> None:
    """Delete the keys this run wrote to Redis."""
    import redis

    client = redis.Redis.from_url(url)
    for pattern in (f"*{namespace}*", "toolkeeper:budget:tool:bench|*"):
        for key in client.scan_iter(match=pattern, count=1000):
            client.delete(key)
    client.close()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, write the results file and print its JSON as the last line."""
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls; under a minute")
    parser.add_argument("--redis", default=os.environ.get("TOOLKEEPER_TEST_REDIS"))
    args = parser.parse_args(argv)
    calls, runs = (1000, 5) if args.quick else (10_000, 9)
    namespace = f"bench-{uuid.uuid4().hex[:8]}"
    results: dict[str, Any] = {
        "benchmark": "costs",
        "quick": args.quick,
        "calls_per_run": calls,
        "runs": runs,
        "statistic": "median over runs of the mean time per call, microseconds",
        "load_1min": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "limits": limits.__version__,
        "memory": measure_backend(
            "memory://", "memory://", calls=calls, runs=runs, namespace=namespace
        ),
        "sqlite": measure_sql(calls=max(calls // 10, 100), runs=runs),
    }
    if args.redis:
        try:
            results["redis"] = measure_backend(
                args.redis, args.redis, calls=calls // 2, runs=runs, namespace=namespace
            )
        finally:
            forget_redis_keys(args.redis, namespace)
    else:
        results["redis"] = None
        print("redis: skipped (no --redis and no TOOLKEEPER_TEST_REDIS)", file=sys.stderr)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results))
    return results


if __name__ == "__main__":
    main()
