"""The OpenAI-compatible client over real HTTP on loopback, against the demo's fake provider."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterator

import pytest

from toolkeeper import FakeClock
from toolkeeper.config.schema import ExternalToolConfig
from toolkeeper.demo import FakeProvider, LoopbackServer, ModelProfile
from toolkeeper.integrations.openai_compat import (
    AsyncChatClient,
    ChatClient,
    ChatError,
    ChatTimeoutError,
)
from toolkeeper.resilience.retry import retry_after_seconds

KEY = "sk-compat-0123456789abcdef"
HELLO = [{"role": "user", "content": "Hello there"}]
PROFILES = {
    "ok": ModelProfile(latency_ms=1, latency_spread=0),
    "limited": ModelProfile(latency_ms=1, latency_spread=0, rate_limit_rate=1.0,
                            retry_after_seconds=7),
    "broken": ModelProfile(latency_ms=1, latency_spread=0, error_rate=1.0),
    "slow": ModelProfile(latency_ms=400, latency_spread=0),
}  # fmt: skip


@pytest.fixture
def provider() -> FakeProvider:
    """Return a fake provider that wants ``KEY``, with one model per behaviour."""
    return FakeProvider(PROFILES, api_key=KEY, seed=1)


@pytest.fixture
def base_url(provider: FakeProvider) -> Iterator[str]:
    """Serve the provider on loopback and return its ``/v1`` URL."""
    with LoopbackServer.start(provider.app) as server:
        yield f"{server.url}/v1"


def config(base_url: str, key: str = KEY, **fields: object) -> ExternalToolConfig:
    """Return a tool configuration pointing at ``base_url``."""
    return ExternalToolConfig(api_endpoint=base_url, api_key=key, **fields)


def test_the_client_sends_the_bearer_key_and_reads_the_completion(
    base_url: str, provider: FakeProvider
) -> None:
    """The provider sees the configured key as a bearer token and answers in OpenAI format."""
    with ChatClient(config(base_url)) as client:
        completion = client.chat(HELLO, model="ok", max_tokens=50)
    assert provider.received[-1].authorized
    assert completion["object"] == "chat.completion"
    assert completion["model"] == "ok"
    assert completion["usage"]["prompt_tokens"] > 0


def test_a_wrong_key_is_refused_and_the_error_carries_the_status(
    base_url: str, provider: FakeProvider
) -> None:
    """With another key the provider answers 401, which the error reports."""
    with (
        ChatClient(config(base_url, key="sk-wrong-key-000000")) as client,
        pytest.raises(ChatError, match="HTTP 401") as caught,
    ):
        client.chat(HELLO, model="ok")
    assert caught.value.status_code == 401
    assert caught.value.response is not None
    assert not provider.received[-1].authorized


def test_the_key_never_reaches_logs_errors_or_reprs(
    base_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """At DEBUG, across a success and a failure, no log line, error or repr holds the key."""
    with caplog.at_level(logging.DEBUG), ChatClient(config(base_url)) as client:
        client.chat(HELLO, model="ok")
        with pytest.raises(ChatError) as caught:
            client.chat(HELLO, model="broken")
    assert caplog.records  # the client and httpx did log
    assert KEY not in caplog.text
    assert KEY not in str(caught.value)
    assert KEY not in repr(caught.value)
    assert KEY not in repr(client)


def test_a_429_surfaces_its_status_and_retry_after_for_the_retry_layer(base_url: str) -> None:
    """The error holds status 429, ``retry_after_seconds`` and the response with its header."""
    with ChatClient(config(base_url)) as client, pytest.raises(ChatError) as caught:
        client.chat(HELLO, model="limited")
    error = caught.value
    assert error.status_code == 429
    assert error.retry_after_seconds == 7.0
    assert error.response is not None
    assert error.response.headers["Retry-After"] == "7"
    assert retry_after_seconds(error, clock=FakeClock()) == 7.0


def test_a_500_surfaces_its_status_and_the_provider_message(base_url: str) -> None:
    """A server error reports its status and the provider's own message, without Retry-After."""
    with ChatClient(config(base_url)) as client, pytest.raises(ChatError) as caught:
        client.chat(HELLO, model="broken")
    assert caught.value.status_code == 500
    assert caught.value.retry_after_seconds is None
    assert "error while processing your request" in str(caught.value)


def test_the_read_timeout_of_the_configuration_applies(base_url: str) -> None:
    """A model slower than ``read_timeout_seconds`` raises ChatTimeoutError, a TimeoutError."""
    slow = config(base_url, connect_timeout_seconds=0.05, read_timeout_seconds=0.1)
    with ChatClient(slow) as client, pytest.raises(ChatTimeoutError) as caught:
        client.chat(HELLO, model="slow")
    assert isinstance(caught.value, TimeoutError)
    assert caught.value.status_code is None


def test_a_refused_connection_is_a_chat_error_without_status() -> None:
    """Nothing listening on the port gives a ChatError with no status and no response."""
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with (
        ChatClient(config(f"http://127.0.0.1:{port}/v1")) as client,
        pytest.raises(ChatError, match="ConnectError") as caught,
    ):
        client.chat(HELLO, model="ok")
    assert (caught.value.status_code, caught.value.response) == (None, None)


def test_the_async_client_reads_its_configuration_on_every_request(base_url: str) -> None:
    """A configuration given as a callable is read per request, so a new key applies at once."""
    current = {"config": config(base_url, key="sk-old-key-0000000")}

    async def scenario() -> tuple[int | None, str]:
        async with AsyncChatClient(lambda: current["config"]) as client:
            with pytest.raises(ChatError) as refused:
                await client.chat(HELLO, model="ok")
            current["config"] = config(base_url)
            completion = await client.chat(HELLO, model="ok")
        return refused.value.status_code, completion["model"]

    assert asyncio.run(scenario()) == (401, "ok")


def test_a_tool_without_an_endpoint_is_refused() -> None:
    """The client needs an endpoint to send completions to."""
    with (
        ChatClient(ExternalToolConfig()) as client,
        pytest.raises(ValueError, match="api_endpoint"),
    ):
        client.chat(HELLO, model="ok")


def test_the_shared_base_is_abstract_and_each_client_connects() -> None:
    """A chat without a way to connect cannot be made; the sync and async clients can."""
    from toolkeeper.integrations.openai_compat import AsyncChatClient, ChatClient, _Chat

    assert _Chat.__abstractmethods__ == frozenset({"_connect"})
    assert not ChatClient.__abstractmethods__
    assert not AsyncChatClient.__abstractmethods__
