"""The event stream's ticks: built once for every connection, each operation in one tick."""

from __future__ import annotations

import json
import threading
import time

import pytest

from tests.server.conftest import LiveServer
from toolkeeper.server.api._summary import SharedSummary
from toolkeeper.server.api._ticks import Tick, TickBroadcast


def _next_tick(broadcast: TickBroadcast, after: int) -> list[Tick]:
    """Wait (bounded) until a tick after ``after`` is due, then return the ticks since it."""
    deadline = time.monotonic() + 30
    while broadcast.number_now() <= after:
        assert time.monotonic() < deadline, "no tick came due within 30 s"
        time.sleep(broadcast.seconds_until(after + 1) + 0.001)
    return broadcast.since(after)


def test_connections_asking_at_once_share_one_tick(live_server: LiveServer) -> None:
    """Sixteen connections asking for the tick due now all get the one tick built once."""
    keeper = live_server.keeper
    broadcast = TickBroadcast(keeper, SharedSummary(keeper, max_age_s=1), interval_s=3600)
    barrier = threading.Barrier(16)
    got: list[Tick] = []
    lock = threading.Lock()

    def ask() -> None:
        barrier.wait()
        (tick,) = broadcast.since(None)
        with lock:
            got.append(tick)

    threads = [threading.Thread(target=ask) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(got) == 16
    assert {tick.data for tick in got} == {got[0].data}
    assert {tick.number for tick in got} == {got[0].number}
    built = broadcast.built(got[0].number - 1)
    assert built is not None
    assert [tick.data for tick in built] == [got[0].data]
    data = json.loads(got[0].data)
    assert {tool["name"] for tool in data["tools"]} == {"local", "openai"}
    assert data["health"]["completed_operations"] >= 11


def test_an_operation_is_in_the_next_tick_for_every_connection(live_server: LiveServer) -> None:
    """An operation finished after a tick is in the next tick, the same for two connections."""
    keeper = live_server.keeper
    broadcast = TickBroadcast(keeper, SharedSummary(keeper, max_age_s=0.05), interval_s=0.05)

    @keeper.tool("openai", operation="tick-probe")
    def probe() -> str:
        return "ok"

    (first,) = broadcast.since(None)
    assert first.operations == ()
    probe()
    seen_a = _next_tick(broadcast, first.number)
    seen_b = broadcast.since(first.number)  # later ticks may have come due meanwhile
    assert seen_b[: len(seen_a)] == seen_a
    sent = [json.loads(op) for tick in seen_a for op in tick.operations]
    assert [op["operation_type"] for op in sent] == ["tick-probe"]
    later = _next_tick(broadcast, seen_a[-1].number)
    assert all(tick.operations == () for tick in later)


def test_a_tick_shows_the_shared_summary(live_server: LiveServer) -> None:
    """A tick's tools are the shared summary's cards, the ones /api/v1/tools sends."""
    keeper = live_server.keeper
    shared = SharedSummary(keeper, max_age_s=3600)
    broadcast = TickBroadcast(keeper, shared, interval_s=3600)
    (tick,) = broadcast.since(None)
    summary = shared.current()
    assert json.loads(tick.data)["tools"] == json.loads(summary.body)["tools"]


def test_the_interval_must_be_positive(live_server: LiveServer) -> None:
    """A broadcast that would never tick is refused, naming the value."""
    keeper = live_server.keeper
    with pytest.raises(ValueError, match=r"interval_s must be positive, got 0"):
        TickBroadcast(keeper, SharedSummary(keeper, max_age_s=1), interval_s=0)
