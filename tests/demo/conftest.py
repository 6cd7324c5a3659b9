"""Fixtures for the demo: a fast fake provider on loopback whose phases follow a fake clock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from toolkeeper import FakeClock, Keeper
from toolkeeper.config.files import ConfigFile
from toolkeeper.demo import DEMO_KEY_ENV, FakeProvider, LoopbackServer, ModelProfile, Phase
from toolkeeper.demo.config import demo_config

KEY = "sk-demo-test-0123456789abcdef"

# The demo's models, minus randomness and waiting: phases are what the tests move through.
FAST_PROFILES = {
    "gpt-4o": ModelProfile(
        latency_ms=2, latency_spread=0,
        phases=(Phase(name="outage", start_s=20, end_s=50, error_rate=1.0),),
    ),
    "gpt-4o-mini": ModelProfile(latency_ms=1, latency_spread=0),
}  # fmt: skip


@pytest.fixture
def provider_clock() -> FakeClock:
    """Return the clock the provider's phases follow."""
    return FakeClock()


@pytest.fixture
def provider(provider_clock: FakeClock) -> FakeProvider:
    """Return a fast fake provider that wants ``KEY``."""
    return FakeProvider(FAST_PROFILES, api_key=KEY, clock=provider_clock, seed=7)


@pytest.fixture
def base_url(provider: FakeProvider) -> Iterator[str]:
    """Serve the provider on loopback for the test and return its ``/v1`` URL."""
    with LoopbackServer.start(provider.app) as server:
        yield f"{server.url}/v1"


@pytest.fixture
def keeper_clock() -> FakeClock:
    """Return the keeper's clock, so circuit waits and retry backoffs pass without waiting."""
    return FakeClock()


@pytest.fixture
def keeper(
    base_url: str, keeper_clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Keeper]:
    """Open a keeper on the demo's configuration and an in-memory store."""
    monkeypatch.setenv(DEMO_KEY_ENV, KEY)
    opened = Keeper.open(
        ConfigFile.parse(demo_config(base_url)),
        store="memory://",
        follow_changes=False,
        clock=keeper_clock,
    )
    yield opened
    opened.close()
