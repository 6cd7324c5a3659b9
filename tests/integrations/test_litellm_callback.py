"""The LiteLLM callback: calls made through the real ``litellm`` package, recorded for a tool."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.wrap.wire import ANTHROPIC_MODEL, OPENAI_MODEL, WireProvider
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
    deadline = time.monotonic() + 60
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


KINDS = ("input_tokens", "output_tokens", "cached_tokens", "cache_write_tokens", "reasoning_tokens")
#: What the local wire provider bills (tests/wrap/wire.py), as every token kind.
BILLED = {
    "openai": {"input_tokens": 1000, "output_tokens": 500, "cached_tokens": 200,
               "cache_write_tokens": 0, "reasoning_tokens": 100},
    "anthropic": {"input_tokens": 1050, "output_tokens": 300, "cached_tokens": 200,
                  "cache_write_tokens": 50, "reasoning_tokens": 0},
}  # fmt: skip
MODELS = {"openai": f"openai/{OPENAI_MODEL}", "anthropic": f"anthropic/{ANTHROPIC_MODEL}"}


@pytest.fixture
def wire_url() -> Iterator[str]:
    """Serve the OpenAI and Anthropic wire formats with fixed usage of every token kind."""
    with LoopbackServer.start(WireProvider().app()) as server:
        yield server.url


def _kinds(record: dict[str, Any]) -> dict[str, int]:
    return {kind: record[kind] for kind in KINDS}


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_every_token_kind_is_recorded_streamed_or_not(
    litellm: Any, keeper: Keeper, wire_url: str, provider: str
) -> None:
    """A completion and its stream record input, output, cache read and write, reasoning, cost."""
    from toolkeeper.integrations.litellm_callback import LiteLLMCallback

    litellm.callbacks = [LiteLLMCallback(keeper)]
    base = f"{wire_url}/v1" if provider == "openai" else wire_url
    call = {"model": MODELS[provider], "messages": HELLO, "api_base": base, "api_key": KEY}
    response = litellm.completion(**call)
    stream = litellm.completion(**call, stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    assert len(chunks) > 1
    whole, streamed = wait_for_records(keeper, provider, 2)
    cost = response._hidden_params["response_cost"]  # what LiteLLM priced the call at
    assert cost > 0
    for record in (whole, streamed):
        assert _kinds(record) == BILLED[provider]
        assert record["cost_estimate"] == cost
        assert record["unpriced"] is False


def test_an_async_stream_records_every_token_kind(
    litellm: Any, keeper: Keeper, wire_url: str
) -> None:
    """An ``acompletion`` stream with ``include_usage`` records the cached and reasoning split."""
    from toolkeeper.integrations.litellm_callback import LiteLLMCallback

    litellm.callbacks = [LiteLLMCallback(keeper)]

    async def streamed() -> None:
        stream = await litellm.acompletion(
            model=MODELS["openai"], messages=HELLO, api_base=f"{wire_url}/v1", api_key=KEY,
            stream=True, stream_options={"include_usage": True},
        )  # fmt: skip
        async for _ in stream:
            pass
        # LiteLLM logs async calls from tasks of this loop: let them run before it closes.
        for _ in range(1200):
            if keeper.monitoring.export_metrics(wrapper_name="openai"):
                break
            await asyncio.sleep(0.05)

    asyncio.run(streamed())
    (record,) = wait_for_records(keeper, "openai", 1)
    assert record["operation_type"] == "acompletion"
    assert _kinds(record) == BILLED["openai"]


def _logged(response: dict[str, Any], **payload: Any) -> dict[str, Any]:
    """Return the ``kwargs`` LiteLLM hands a callback: its standard logging payload and more."""
    standard = {
        "call_type": "completion", "custom_llm_provider": "openai", "model": response["model"],
        "prompt_tokens": response["usage"]["prompt_tokens"],
        "completion_tokens": response["usage"]["completion_tokens"], **payload,
    }  # fmt: skip
    return {"model": response["model"], "call_type": "completion",
            "standard_logging_object": standard}  # fmt: skip


BODY = {
    "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": OPENAI_MODEL,
    "choices": [{"index": 0, "finish_reason": "stop",
                 "message": {"role": "assistant", "content": "hello"}}],
    "usage": {"prompt_tokens": 1000, "prompt_tokens_details": {"cached_tokens": 200},
              "completion_tokens": 500, "completion_tokens_details": {"reasoning_tokens": 100},
              "total_tokens": 1500},
}  # fmt: skip


def test_a_response_cost_of_zero_is_recorded_as_zero_and_priced(keeper: Keeper) -> None:
    """LiteLLM's ``response_cost`` 0 (a free call) is the cost, not a reason to re-price."""
    from toolkeeper.integrations.litellm_callback import LiteLLMCallback

    LiteLLMCallback(keeper).log_success_event(_logged(BODY, response_cost=0), BODY, None, None)
    (record,) = wait_for_records(keeper, "openai", 1)
    assert (record["cost_estimate"], record["unpriced"]) == (0.0, False)
    assert _kinds(record) == BILLED["openai"]


def test_an_unknown_model_without_a_cost_is_recorded_unpriced(keeper: Keeper) -> None:
    """No ``response_cost`` and a model the catalog cannot price: unpriced, never a priced $0."""
    from toolkeeper.integrations.litellm_callback import LiteLLMCallback

    body = {**BODY, "model": "no-such-model-anywhere"}
    LiteLLMCallback(keeper).log_success_event(_logged(body, response_cost=None), body, None, None)
    (record,) = wait_for_records(keeper, "openai", 1)
    assert record["unpriced"] is True
    assert record["input_tokens"] == 1000
    assert keeper.costs.unpriced() == {("openai", "no-such-model-anywhere"): 1}
