"""The LiteLLM callback: calls made through the real ``litellm`` package, recorded for a tool."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from toolkeeper import Keeper
from toolkeeper.config.files import ConfigFile
from toolkeeper.demo import FakeProvider, LoopbackServer, ModelProfile

KEY = "sk-litellm-0123456789abcdef"
HELLO = [{"role": "user", "content": "Hello there"}]
CONFIG = """\
[tools.openai]
api_key = "env:TK_LITELLM_KEY"
"""


@pytest.fixture
def litellm(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Import LiteLLM with its bundled price map (no network) and no callbacks registered."""
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm as module

    # LiteLLM copies `callbacks` into these lists on a call: start each test with none.
    lists = ("callbacks", "success_callback", "failure_callback", "_async_success_callback",
             "_async_failure_callback")  # fmt: skip
    saved = {name: list(getattr(module, name)) for name in lists}
    for name in lists:
        setattr(module, name, [])
    yield module
    for name, value in saved.items():
        setattr(module, name, value)


@pytest.fixture
def base_url() -> Iterator[str]:
    """Serve a fake OpenAI-compatible provider: model ``ok`` answers, ``broken`` fails."""
    profiles = {
        "ok": ModelProfile(latency_ms=1, latency_spread=0),
        "broken": ModelProfile(latency_ms=1, latency_spread=0, error_rate=1.0),
    }
    provider = FakeProvider(profiles, api_key=KEY, seed=1)
    with LoopbackServer.start(provider.app) as server:
        yield f"{server.url}/v1"


@pytest.fixture
def keeper(monkeypatch: pytest.MonkeyPatch) -> Iterator[Keeper]:
    """Open a keeper with an ``openai`` tool that knows the key (to mask it)."""
    monkeypatch.setenv("TK_LITELLM_KEY", KEY)
    opened = Keeper.open(ConfigFile.parse(CONFIG), store="memory://", follow_changes=False)
    yield opened
    opened.close()


def wait_for_records(keeper: Keeper, tool: str, count: int) -> list[dict[str, Any]]:
    """Return the tool's records once ``count`` arrived (LiteLLM logs sync calls from a thread)."""
    deadline = time.monotonic() + 20
    while True:
        done = keeper.monitoring.export_metrics(wrapper_name=tool)
        if len(done) >= count or time.monotonic() > deadline:
            return done
        time.sleep(0.05)


def test_a_completion_is_recorded_with_tokens_model_and_cost(
    litellm: Any, keeper: Keeper, base_url: str
) -> None:
    """A successful ``litellm.completion`` is recorded for the provider's tool with its usage."""
    from toolkeeper.integrations.litellm_callback import LiteLLMCallback

    litellm.callbacks = [LiteLLMCallback(keeper)]
    response = litellm.completion(
        model="openai/ok", messages=HELLO, api_base=base_url, api_key=KEY, max_tokens=20
    )
    (record,) = wait_for_records(keeper, "openai", 1)
    assert record["status"] == "success"
    assert record["operation_type"] == "completion"
    assert record["input_tokens"] == response.usage.prompt_tokens > 0
    assert record["output_tokens"] == response.usage.completion_tokens > 0
    assert record["labels"]["model"] == "ok"
    assert record["duration_ms"] > 0


def test_a_failed_completion_is_recorded_with_its_status_and_no_key(
    litellm: Any, keeper: Keeper, base_url: str
) -> None:
    """A provider error is recorded as an error with its HTTP status; the key never appears."""
    from toolkeeper.integrations.litellm_callback import LiteLLMCallback

    litellm.callbacks = [LiteLLMCallback(keeper)]
    with pytest.raises(Exception) as raised:  # noqa: PT011 - LiteLLM maps statuses to its own classes
        litellm.completion(
            model="openai/broken", messages=HELLO, api_base=base_url, api_key=KEY,
            num_retries=0, max_retries=0,
        )  # fmt: skip
    assert type(raised.value).__module__.startswith("litellm")
    (record,) = wait_for_records(keeper, "openai", 1)
    assert record["status"] == "error"
    assert record["error_code"].startswith("HTTP_5")
    assert KEY not in record["error_message"]


def test_async_completions_go_to_the_tool_given(
    litellm: Any, keeper: Keeper, base_url: str
) -> None:
    """``acompletion`` calls are recorded too, for the tool the callback was told to use."""
    from toolkeeper.integrations.litellm_callback import LiteLLMCallback

    litellm.callbacks = [LiteLLMCallback(keeper, tool="gateway")]

    async def two_calls() -> None:
        for _ in range(2):
            await litellm.acompletion(
                model="openai/ok", messages=HELLO, api_base=base_url, api_key=KEY
            )
        # LiteLLM logs async calls from tasks of this loop: let them run before it closes.
        for _ in range(400):
            if len(keeper.monitoring.export_metrics(wrapper_name="gateway")) >= 2:
                break
            await asyncio.sleep(0.05)

    asyncio.run(two_calls())
    done = wait_for_records(keeper, "gateway", 2)
    assert [(r["operation_type"], r["status"]) for r in done] == [("acompletion", "success")] * 2
    assert keeper.monitoring.export_metrics(wrapper_name="openai") == []
