"""The httpx transport: requests to a tool's host recorded as its operations, over real HTTP."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Response

from toolkeeper import CircuitOpenError, Keeper
from toolkeeper.config.files import ConfigFile
from toolkeeper.demo import LoopbackServer
from toolkeeper.integrations.httpx_transport import (
    AsyncTrackedTransport,
    TrackedTransport,
    hosts_of,
)


def upstream() -> tuple[FastAPI, list[str]]:
    """Return an API answering 200, 404, 429 with Retry-After and 503, and the paths it saw."""
    app, seen = FastAPI(), []

    @app.get("/forecast")
    async def forecast() -> dict[str, Any]:
        seen.append("/forecast")
        return {"sky": "clear"}

    @app.get("/limited")
    async def limited() -> Response:
        seen.append("/limited")
        return Response(status_code=429, headers={"Retry-After": "7"})

    @app.get("/broken")
    async def broken() -> Response:
        seen.append("/broken")
        return Response(status_code=503)

    @app.get("/missing")
    async def missing() -> Response:
        seen.append("/missing")
        return Response(status_code=404)

    return app, seen


@pytest.fixture
def server() -> Iterator[tuple[str, list[str]]]:
    """Serve the upstream on loopback; give its base URL and the paths it received."""
    app, seen = upstream()
    with LoopbackServer.start(app) as running:
        yield running.url, seen


@pytest.fixture
def keeper(server: tuple[str, list[str]]) -> Iterator[Keeper]:
    """Open a keeper whose ``weather`` tool's endpoint is the upstream; its circuit opens fast."""
    base, _ = server
    config = f"""\
[tools.weather]
api_endpoint = "{base}/"
max_retry_attempts = 0
circuit_failure_rate = 0.5
circuit_minimum_calls = 3
circuit_window_size = 3
circuit_open_seconds = 600
"""
    opened = Keeper.open(ConfigFile.parse(config), store="memory://", follow_changes=False)
    yield opened
    opened.close()


def records(keeper: Keeper) -> list[dict[str, Any]]:
    """Return the operations recorded for ``weather``, oldest first."""
    return keeper.monitoring.export_metrics(wrapper_name="weather")


def test_the_tool_is_chosen_by_the_host_of_its_api_endpoint(keeper: Keeper) -> None:
    """Without a mapping, the configured tools' ``api_endpoint`` hosts name the tools."""
    assert hosts_of(keeper) == {"127.0.0.1": "weather"}


def test_a_request_is_recorded_with_method_status_and_latency(
    keeper: Keeper, server: tuple[str, list[str]]
) -> None:
    """A 200 is a success of operation ``get``, labelled with its method and status code."""
    base, _ = server
    with httpx.Client(transport=TrackedTransport(keeper)) as client:
        assert client.get(f"{base}/forecast").json() == {"sky": "clear"}
    (record,) = records(keeper)
    assert record["operation_type"] == "get"
    assert record["status"] == "success"
    assert record["labels"] == {"method": "GET", "status_code": "200"}
    assert record["duration_ms"] > 0


def test_error_statuses_are_recorded_with_their_code_and_retry_after(
    keeper: Keeper, server: tuple[str, list[str]]
) -> None:
    """429 and 404 come back to the caller as responses and are recorded as errors."""
    base, _ = server
    with httpx.Client(transport=TrackedTransport(keeper)) as client:
        limited = client.get(f"{base}/limited")
        missing = client.get(f"{base}/missing?key=sk-query-secret")
    assert (limited.status_code, missing.status_code) == (429, 404)
    first, second = records(keeper)
    assert first["status"] == "error"
    assert first["error_code"] == "HTTP_429"
    assert first["custom_metrics"] == {"retry_after_seconds": 7.0}
    assert second["error_code"] == "HTTP_404"
    assert "/missing" in second["error_message"]
    assert "sk-query-secret" not in second["error_message"]


def test_failing_statuses_open_the_circuit_and_then_nothing_is_sent(
    keeper: Keeper, server: tuple[str, list[str]]
) -> None:
    """Three 503s open the tool's circuit; the next request raises without reaching the server."""
    base, seen = server
    with httpx.Client(transport=TrackedTransport(keeper)) as client:
        for _ in range(3):
            assert client.get(f"{base}/broken").status_code == 503
        with pytest.raises(CircuitOpenError):
            client.get(f"{base}/forecast")
    assert seen == ["/broken"] * 3
    assert [r["error_code"] for r in records(keeper)] == ["HTTP_503"] * 3 + ["CIRCUIT_OPEN"]


def test_a_transport_failure_is_recorded_and_raised_unchanged(keeper: Keeper) -> None:
    """A connection refused is recorded as an error of the host's tool and raised as httpx's."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with (
        httpx.Client(transport=TrackedTransport(keeper, hosts={"127.0.0.1": "weather"})) as client,
        pytest.raises(httpx.ConnectError),
    ):
        client.get(f"http://127.0.0.1:{port}/forecast")
    (record,) = records(keeper)
    assert record["status"] == "error"
    assert record["error_code"] == "ConnectError"


def test_requests_to_other_hosts_pass_untracked(
    keeper: Keeper, server: tuple[str, list[str]]
) -> None:
    """A host no tool claims is served as usual and recorded nowhere."""
    base, seen = server
    transport = TrackedTransport(keeper, hosts={"api.example.com": "weather"})
    with httpx.Client(transport=transport) as client:
        assert client.get(f"{base}/forecast").status_code == 200
    assert seen == ["/forecast"]
    assert records(keeper) == []


def test_the_async_transport_records_the_same_way(
    keeper: Keeper, server: tuple[str, list[str]]
) -> None:
    """An AsyncClient with the async transport records each request, named as ``operation`` says."""
    base, _ = server

    async def two_requests() -> None:
        transport = AsyncTrackedTransport(keeper, operation=lambda r: r.url.path.strip("/"))
        async with httpx.AsyncClient(transport=transport) as client:
            await client.get(f"{base}/forecast")
            await client.get(f"{base}/limited")

    asyncio.run(two_requests())
    assert [(r["operation_type"], r["status"]) for r in records(keeper)] == [
        ("forecast", "success"), ("limited", "error"),
    ]  # fmt: skip


def test_client_errors_are_recorded_but_do_not_open_the_circuit(
    keeper: Keeper, server: tuple[str, list[str]]
) -> None:
    """Three 404s are recorded as errors, yet the breaker ignores them: the next request is sent."""
    base, seen = server
    with httpx.Client(transport=TrackedTransport(keeper)) as client:
        for _ in range(3):
            assert client.get(f"{base}/missing").status_code == 404
        assert client.get(f"{base}/forecast").status_code == 200
    assert seen == ["/missing"] * 3 + ["/forecast"]
    assert [r["status"] for r in records(keeper)] == ["error"] * 3 + ["success"]


def test_the_shared_base_is_abstract_and_each_transport_gives_its_default() -> None:
    """A tracking transport with no default inner transport cannot be made; both given ones can."""
    from toolkeeper.integrations.httpx_transport import _Tracking

    assert _Tracking.__abstractmethods__ == frozenset({"_default_transport"})
    assert not TrackedTransport.__abstractmethods__
    assert not AsyncTrackedTransport.__abstractmethods__
    assert issubclass(TrackedTransport, httpx.BaseTransport)
    assert issubclass(AsyncTrackedTransport, httpx.AsyncBaseTransport)
