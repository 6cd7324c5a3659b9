"""The shared summary: new figures show at once, ETags, one computation for many callers."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from tests.server.conftest import LiveServer
from toolkeeper.keeper import Keeper
from toolkeeper.server import Role
from toolkeeper.server.api._summary import SharedSummary, Summary


def _openai(client: Any) -> dict[str, Any]:
    """Return the openai card of ``GET /api/v1/tools``."""
    response = client.get("/api/v1/tools")
    assert response.status_code == 200, response.text
    (card,) = [tool for tool in response.json()["tools"] if tool["name"] == "openai"]
    return card  # type: ignore[no-any-return]


def _probe(keeper: Keeper) -> Any:
    @keeper.tool("openai", operation="summary-probe")
    def probe() -> str:
        return "ok"

    return probe


def test_an_operation_recorded_shows_in_the_next_summary(live_server: LiveServer) -> None:
    """A call finished just before a request is counted in that request's summary, not later."""
    probe = _probe(live_server.keeper)
    with live_server.client(Role.VIEWER) as client:
        before = _openai(client)["total_operations"]
        _openai(client)  # the summary is now current: the next call must still be seen
        probe()
        assert _openai(client)["total_operations"] == before + 1
        probe()
        probe()
        assert _openai(client)["total_operations"] == before + 3


def test_the_summary_carries_an_etag_and_answers_304_to_it(live_server: LiveServer) -> None:
    """A request naming the current ETag gets 304 without a body; new figures change the ETag."""
    with live_server.client(Role.VIEWER) as client:
        first = client.get("/api/v1/tools")
        etag = first.headers["etag"]
        assert etag.startswith('"')
        assert etag.endswith('"')
        # The ETag is the body's: a summary computed again over the same figures keeps it.
        again = client.get("/api/v1/tools", headers={"If-None-Match": etag})
        assert again.status_code == 304
        assert again.content == b""
        assert again.headers["etag"] == etag
        _probe(live_server.keeper)()
        after = client.get("/api/v1/tools", headers={"If-None-Match": etag})
        assert after.status_code == 200
        assert after.headers["etag"] != etag
        assert after.json()["tools"]


def test_the_health_route_shows_the_summary_health(live_server: LiveServer) -> None:
    """/api/v1/health counts every operation the tools' cards count."""
    _probe(live_server.keeper)()
    with live_server.client(Role.VIEWER) as client:
        health = client.get("/api/v1/health").json()
        cards = client.get("/api/v1/tools").json()["tools"]
    assert health["completed_operations"] >= sum(card["total_operations"] for card in cards) > 0


def test_many_callers_at_once_share_one_computation(live_server: LiveServer) -> None:
    """Sixteen threads asking for a summary at the same moment all get the same one."""
    shared = SharedSummary(live_server.keeper, max_age_s=60)
    barrier = threading.Barrier(16)
    got: list[Summary] = []
    lock = threading.Lock()

    def ask() -> None:
        barrier.wait()
        summary = shared.current()
        with lock:
            got.append(summary)

    threads = [threading.Thread(target=ask) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(got) == 16
    assert all(summary is got[0] for summary in got)
    assert shared.fresh() is got[0]


def test_requests_on_the_event_loop_share_one_computation_off_it(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """128 requests awaiting a stale summary share one thread computing it, not the loop's.

    Not one thread each waiting on the lock. A request that goes away while
    waiting leaves the computation to the others.
    """
    shared = SharedSummary(live_server.keeper, max_age_s=60)
    computed: list[threading.Thread] = []
    current = shared.current

    def counted() -> Summary:
        computed.append(threading.current_thread())
        return current()

    monkeypatch.setattr(shared, "current", counted)

    async def ask() -> tuple[list[Summary], bool]:
        leaving = asyncio.ensure_future(shared.acurrent())
        await asyncio.sleep(0)
        leaving.cancel()
        got = await asyncio.gather(*(shared.acurrent() for _ in range(128)))
        return got, leaving.cancelled()

    got, left = asyncio.run(ask())
    assert left
    assert len(computed) == 1
    assert computed[0] is not threading.main_thread()
    assert all(summary is got[0] for summary in got)
    assert shared.fresh() is got[0]
    _probe(live_server.keeper)()
    again = asyncio.run(shared.acurrent())  # a new operation: computed again, on a new loop too
    assert again is not got[0]
    assert len(computed) == 2


def test_a_new_operation_makes_the_summary_stale(live_server: LiveServer) -> None:
    """The kept summary is current until an operation is recorded, then computed again."""
    shared = SharedSummary(live_server.keeper, max_age_s=60)
    first = shared.current()
    assert shared.fresh() is first
    _probe(live_server.keeper)()
    assert shared.fresh() is None
    second = shared.current()
    assert second is not first
    (before,) = [card for card in first.tools if card.name == "openai"]
    (after,) = [card for card in second.tools if card.name == "openai"]
    assert after.total_operations == before.total_operations + 1


def test_max_age_must_be_positive(live_server: LiveServer) -> None:
    """A summary that could never be current is refused, naming the value."""
    with pytest.raises(ValueError, match=r"max_age_s must be positive, got 0"):
        SharedSummary(live_server.keeper, max_age_s=0)
