"""Bulkheads end to end: @keeper.tool never runs more than max_concurrent_calls at once."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests._processes import run_in_processes
from toolkeeper import BulkheadFull, CallTimeoutError, Keeper
from toolkeeper.config.files import ConfigFile
from toolkeeper.resilience import LocalBulkhead

CONFIG = """\
[tools.upstream]
max_retry_attempts = 0
timeout_sync_calls = false
max_concurrent_calls = 4
bulkhead_wait_seconds = 60
"""
GATE_S = 60.0  # how long a call waits for the 4th to arrive; a bound, never reached


class Concurrency:
    """Count the calls running at once; the 4th to arrive lets every call finish."""

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.active = 0
        self.peak = 0
        self.gate = threading.Event()

    def enter(self) -> None:
        """Count a call in; open the gate when four run together."""
        with self.changed:
            self.active += 1
            self.peak = max(self.peak, self.active)
            if self.active >= 4:
                self.gate.set()

    def leave(self) -> None:
        """Count a call out."""
        with self.changed:
            self.active -= 1


@pytest.fixture
def keeper() -> Iterator[Keeper]:
    """Open a keeper whose tool allows 4 concurrent calls."""
    opened = Keeper.open(ConfigFile.parse(CONFIG), store="memory://", follow_changes=False)
    yield opened
    opened.close()


def test_twenty_threads_never_run_more_than_four_calls(keeper: Keeper) -> None:
    """20 concurrent sync calls against max_concurrent_calls = 4 run at most 4 at once."""
    seen = Concurrency()

    @keeper.tool("upstream")
    def work(i: int) -> int:
        seen.enter()
        try:
            assert seen.gate.wait(GATE_S)
            return i
        finally:
            seen.leave()

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(work, range(20)))
    assert results == list(range(20))
    assert seen.peak == 4
    statuses = [r["status"] for r in keeper.monitoring.export_metrics(wrapper_name="upstream")]
    assert statuses == ["success"] * 20


def test_twenty_tasks_never_run_more_than_four_calls(keeper: Keeper) -> None:
    """20 concurrent async calls against max_concurrent_calls = 4 run at most 4 at once."""
    active = {"now": 0, "peak": 0}

    async def run() -> list[int]:
        gate = asyncio.Event()

        @keeper.tool("upstream")
        async def work(i: int) -> int:
            active["now"] += 1
            active["peak"] = max(active["peak"], active["now"])
            if active["now"] >= 4:
                gate.set()
            await asyncio.wait_for(gate.wait(), GATE_S)
            active["now"] -= 1
            return i

        return await asyncio.gather(*(work(i) for i in range(20)))

    assert asyncio.run(run()) == list(range(20))
    assert active["peak"] == 4


def test_a_full_bulkhead_refuses_or_falls_back(keeper: Keeper) -> None:
    """With no wait, a 5th call gets BulkheadFull, or the fallback with reason bulkhead_full."""
    keeper.config.update("upstream", {"bulkhead_wait_seconds": 0}, actor="ana", reason="fail fast")
    seen = Concurrency()
    release = threading.Event()

    @keeper.tool("upstream")
    def hold() -> str:
        seen.enter()
        try:
            assert release.wait(GATE_S)
            return "held"
        finally:
            seen.leave()

    @keeper.tool("upstream", operation="spare", fallback=lambda: "spare")
    def spare() -> str:
        return "primary"

    with ThreadPoolExecutor(4) as pool:
        holding = [pool.submit(hold) for _ in range(4)]
        assert seen.gate.wait(GATE_S)
        with pytest.raises(BulkheadFull, match="4 concurrent calls"):
            hold()
        assert spare() == "spare"
        release.set()
        assert [f.result() for f in holding] == ["held"] * 4
    assert spare() == "primary"
    records = keeper.monitoring.export_metrics(wrapper_name="upstream")
    refused = [r for r in records if r["error_code"] == "BULKHEAD_FULL"]
    assert [r["status"] for r in refused] == ["error", "fallback"]
    assert refused[1]["fallback_reason"] == "bulkhead_full"
    assert keeper.runtimes.circuit_state("upstream") == "closed"  # a refusal is not counted


def _fleet_worker(redis_url: str, barrier: Any, results: Any) -> None:
    """Run 10 concurrent calls of the shared tool; count the fleet's running calls in Redis."""
    import redis

    client = redis.Redis.from_url(redis_url)
    keeper = Keeper.open(
        ConfigFile.parse(CONFIG), store="memory://", shared=redis_url, follow_changes=False
    )

    @keeper.tool("upstream")
    def work(i: int) -> int:
        running = int(client.incr("test:active"))  # atomic: the fleet's count right now
        client.rpush("test:seen", running)
        if running >= 4:
            client.set("test:gate", 1)
        deadline = time.monotonic() + GATE_S
        while not client.exists("test:gate") and time.monotonic() < deadline:
            time.sleep(0.005)
        client.decr("test:active")
        return i

    try:
        barrier.wait()
        with ThreadPoolExecutor(10) as pool:
            done = list(pool.map(work, range(10)))
        results.put(("ok", done))
    except BaseException as error:  # noqa: BLE001 - reported to the test process
        results.put(("error", repr(error)))
    finally:
        keeper.close()
        client.close()


def test_two_processes_share_four_slots_through_redis(redis_url: str) -> None:
    """20 calls from 2 processes sharing Redis never run more than 4 at once across both."""
    import redis

    outcomes = run_in_processes(_fleet_worker, 2, redis_url)
    assert outcomes == [("ok", list(range(10)))] * 2
    client = redis.Redis.from_url(redis_url)
    try:
        seen = [int(value) for value in client.lrange("test:seen", 0, -1)]
        assert len(seen) == 20
        assert max(seen) == 4
        assert client.zcard("toolkeeper:bulkhead:upstream") == 0  # every permit given back
    finally:
        client.close()


def test_a_timed_out_sync_call_keeps_its_permit_until_it_really_ends() -> None:
    """A sync call past its timeout still holds its slot while its worker thread runs on."""
    config = CONFIG.replace("timeout_sync_calls = false", "timeout_seconds = 0.05")
    keeper = Keeper.open(ConfigFile.parse(config), store="memory://", follow_changes=False)
    finish, finished = threading.Event(), threading.Event()
    try:

        @keeper.tool("upstream")
        def stuck() -> str:
            assert finish.wait(GATE_S)
            finished.set()
            return "late"

        with pytest.raises(CallTimeoutError):
            stuck()
        bulkhead = keeper.runtimes.get("upstream").bulkhead
        assert isinstance(bulkhead, LocalBulkhead)
        assert bulkhead.held() == 1  # the caller gave up; the call has not ended
        finish.set()
        assert finished.wait(GATE_S)
        deadline = time.monotonic() + GATE_S
        while bulkhead.held() and time.monotonic() < deadline:
            time.sleep(0.001)  # the permit goes back on the worker, just after it returns
        assert bulkhead.held() == 0
    finally:
        finish.set()
        keeper.close()
