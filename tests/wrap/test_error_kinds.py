"""Error kinds end to end: @keeper.tool over httpx against a real HTTP server on loopback."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import anthropic
import httpx
import openai
import pytest

from toolkeeper import CircuitOpenError, FakeClock, Keeper
from toolkeeper.config.files import ConfigFile

CONFIG = """\
[tools.upstream]
max_retry_attempts = 2
retry_backoff_seconds = 0.01
timeout_sync_calls = false
circuit_minimum_calls = 4
circuit_window_size = 4
circuit_failure_rate = 0.5
"""


class Upstream:
    """An HTTP server answering ``GET /<status>`` with that status, counting requests."""

    def __init__(self) -> None:
        self.requests: list[int] = []
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status = int(self.path.strip("/"))
                upstream.requests.append(status)
                self.send_response(status)
                if status == 429:
                    self.send_header("Retry-After", "7")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        """Return the server's base URL."""
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def close(self) -> None:
        """Stop the server."""
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    """Run an HTTP server on loopback."""
    server = Upstream()
    yield server
    server.close()


@pytest.fixture
def clock() -> FakeClock:
    """Return a fake clock: retry waits are recorded, not slept."""
    return FakeClock()


@pytest.fixture
def keeper(clock: FakeClock) -> Iterator[Keeper]:
    """Open a keeper with one tool: 2 retries, a circuit over 4 calls."""
    opened = Keeper.open(
        ConfigFile.parse(CONFIG), store="memory://", follow_changes=False, clock=clock
    )
    yield opened
    opened.close()


def get_status(keeper: Keeper, upstream: Upstream) -> Any:
    """Return a wrapped function that GETs ``/<status>`` and raises for an error status."""

    @keeper.tool("upstream", operation="get")
    def get(status: int) -> Any:
        response = httpx.get(f"{upstream.url}/{status}")
        response.raise_for_status()
        return response.json()

    return get


def test_a_401_is_not_retried_and_does_not_open_the_circuit(
    keeper: Keeper, upstream: Upstream
) -> None:
    """Six 401s reach the server six times (no retry) and leave the circuit closed."""
    get = get_status(keeper, upstream)
    for _ in range(6):
        with pytest.raises(httpx.HTTPStatusError):
            get(401)
    assert upstream.requests == [401] * 6
    assert keeper.runtimes.circuit_state("upstream") == "closed"
    assert get(200) == {}
    records = keeper.monitoring.export_metrics(wrapper_name="upstream")
    assert [r["error_code"] for r in records[:6]] == ["HTTP_401"] * 6


def test_a_503_is_retried_and_opens_the_circuit(keeper: Keeper, upstream: Upstream) -> None:
    """A 503 is tried three times; the fourth failure opens the circuit and stops the retries."""
    get = get_status(keeper, upstream)
    with pytest.raises(httpx.HTTPStatusError):
        get(503)
    assert upstream.requests == [503] * 3
    assert keeper.runtimes.circuit_state("upstream") == "closed"
    with pytest.raises(httpx.HTTPStatusError):
        get(503)
    assert upstream.requests == [503] * 4  # the 4th failure opened it: no retry into it
    assert keeper.runtimes.circuit_state("upstream") == "open"
    with pytest.raises(CircuitOpenError):
        get(200)
    assert len(upstream.requests) == 4


def test_a_429_is_retried_after_its_retry_after(
    keeper: Keeper, upstream: Upstream, clock: FakeClock
) -> None:
    """A 429's Retry-After of 7 s is waited before each retry."""
    get = get_status(keeper, upstream)
    with pytest.raises(httpx.HTTPStatusError):
        get(429)
    assert upstream.requests == [429] * 3
    assert clock.sleeps == [7.0, 7.0]


def test_a_tool_may_declare_its_own_kinds(keeper: Keeper, upstream: Upstream) -> None:
    """A runtime change making 401 a failure and 503 not retried applies to the next call."""
    keeper.config.update(
        "upstream", {"failure_on": [401, 503]}, actor="ana", reason="auth outage counts"
    )
    get = get_status(keeper, upstream)
    for _ in range(4):
        with pytest.raises(httpx.HTTPStatusError):
            get(401)
    assert upstream.requests == [401] * 4
    assert keeper.runtimes.circuit_state("upstream") == "open"


def test_an_operation_block_classifies_its_error_too(keeper: Keeper, upstream: Upstream) -> None:
    """A with-block raising a 401 leaves the circuit closed; one raising a 503 counts."""
    for _ in range(4):
        with pytest.raises(httpx.HTTPStatusError), keeper.operation("upstream", "get"):
            httpx.get(f"{upstream.url}/401").raise_for_status()
    assert keeper.runtimes.circuit_state("upstream") == "closed"
    for _ in range(4):
        with pytest.raises(httpx.HTTPStatusError), keeper.operation("upstream", "get"):
            httpx.get(f"{upstream.url}/503").raise_for_status()
    assert keeper.runtimes.circuit_state("upstream") == "open"


@pytest.fixture
def silent_url() -> Iterator[str]:
    """Yield the URL of a loopback socket that accepts connections and never answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)  # connections complete in the backlog; nothing is ever read or written
    host, port = sock.getsockname()[:2]
    yield f"http://{host}:{port}"
    sock.close()


def test_a_clients_own_timeout_is_recorded_as_a_timeout(silent_url: str) -> None:
    """httpx's, openai's and anthropic's read timeouts are recorded as timeouts, code TIMEOUT."""
    config = "[tools.upstream]\nmax_retry_attempts = 0\ntimeout_sync_calls = false\n"
    keeper = Keeper.open(ConfigFile.parse(config), store="memory://", follow_changes=False)
    openai_client = openai.OpenAI(base_url=f"{silent_url}/v1", api_key="sk-test", max_retries=0)
    anthropic_client = anthropic.Anthropic(base_url=silent_url, api_key="sk-test", max_retries=0)

    @keeper.tool("upstream", operation="call")
    def call(how: str) -> Any:
        if how == "httpx":
            return httpx.get(silent_url, timeout=0.2)
        if how == "openai":
            return openai_client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], timeout=0.2
            )
        return anthropic_client.messages.create(
            model="claude-3-5-haiku-latest", max_tokens=8,
            messages=[{"role": "user", "content": "hi"}], timeout=0.2,
        )  # fmt: skip

    raised = []
    try:
        for how in ("httpx", "openai", "anthropic"):
            with pytest.raises(Exception) as caught:  # noqa: PT011 - each client's own timeout
                call(how)
            raised.append(type(caught.value))
        records = keeper.monitoring.export_metrics(wrapper_name="upstream")
    finally:
        keeper.close()
    assert raised == [httpx.ReadTimeout, openai.APITimeoutError, anthropic.APITimeoutError]
    assert [(r["status"], r["error_code"]) for r in records] == [("timeout", "TIMEOUT")] * 3
