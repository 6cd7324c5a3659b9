"""The event stream over real HTTP: ticks, new operations within two seconds, config changes."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx

from tests.server.conftest import LiveServer, version_of
from toolkeeper.server import Role


def parse_events(lines: Iterator[str]) -> Iterator[tuple[str, Any]]:
    """Yield (event, data) pairs from the lines of a text/event-stream."""
    event, data = "message", list[str]()
    for line in lines:
        if line == "":
            if data:
                yield event, json.loads("\n".join(data))
            event, data = "message", list[str]()
        elif line.startswith("event:"):
            event = line.partition(":")[2].strip()
        elif line.startswith("data:"):
            data.append(line.partition(":")[2].strip())


def collect(
    server: LiveServer, wanted: set[str], *, act: Any = None, timeout: float = 5.0
) -> dict[str, list[Any]]:
    """Read the stream until every ``wanted`` event came, running ``act`` after the first tick."""
    found: dict[str, list[Any]] = {}
    started = time.monotonic()
    with server.client(Role.VIEWER) as client, client.stream("GET", "/api/v1/events") as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        for event, data in parse_events(stream.iter_lines()):
            found.setdefault(event, []).append(data)
            if event == "tick" and act is not None:
                act, run = None, act
                threading.Thread(target=run).start()
            if wanted <= set(found) or time.monotonic() - started > timeout:
                break
    return found


def test_ticks_carry_health_and_every_tool(sqlite_server: LiveServer) -> None:
    """A tick holds the system health and a summary per tool."""
    events = collect(sqlite_server, {"tick"})
    tick = events["tick"][0]
    assert tick["health"]["completed_operations"] >= 11
    assert {tool["name"] for tool in tick["tools"]} == {"local", "openai"}


def test_a_new_operation_is_pushed_within_two_seconds(sqlite_server: LiveServer) -> None:
    """An operation finished after connecting arrives as an operation event within two seconds."""
    keeper = sqlite_server.keeper
    sent: dict[str, float] = {}

    @keeper.tool("openai", operation="live-probe")
    def probe() -> str:
        return "ok"

    def act() -> None:
        sent["at"] = time.monotonic()
        probe()

    events = collect(sqlite_server, {"operation"}, act=act, timeout=5)
    received = time.monotonic()
    operations = events.get("operation", [])
    assert [op["operation_type"] for op in operations] == ["live-probe"]
    assert received - sent["at"] < 2.0
    assert "status" in operations[0]


def test_a_config_change_is_pushed(sqlite_server: LiveServer) -> None:
    """A configuration change arrives as a config event with its actor, reason and changes."""

    def act() -> None:
        with sqlite_server.client(Role.ADMIN) as admin:
            version = version_of(admin, "local")
            response = admin.patch(
                "/api/v1/config/local",
                content=b'{"max_retry_attempts": 4}',
                headers={
                    "Content-Type": "application/merge-patch+json",
                    "If-Match": f'"{version}"',
                    "X-Change-Reason": "live",
                },
            )
            assert response.status_code == 200, response.text

    events = collect(sqlite_server, {"config"}, act=act)
    [change] = events["config"]
    assert change["tool"] == "local"
    assert change["actor"] == "admin-test"
    assert change["reason"] == "live"
    assert change["changes"][0]["field"] == "max_retry_attempts"


def test_the_stream_needs_authentication(sqlite_server: LiveServer) -> None:
    """Without a token or session the stream answers 401 before streaming anything."""
    with httpx.Client(base_url=sqlite_server.base_url, trust_env=False, timeout=30) as client:
        response = client.get("/api/v1/events")
    assert response.status_code == 401
