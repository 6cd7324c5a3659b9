"""Usage and cost read from what the real ``openai`` and ``anthropic`` SDKs return.

The SDKs call a local provider speaking their wire formats (tests/wrap/wire.py);
the wrapped functions return what users' functions return: objects, dicts,
streams, stream helpers, raw and httpx responses. Prices are genai-prices'.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import genai_prices
import httpx
import pytest

from tests.wrap.wire import ANTHROPIC_MODEL, CHUNKS, OPENAI_MODEL, WireProvider
from toolkeeper import Keeper
from toolkeeper.config.files import ConfigFile
from toolkeeper.demo import LoopbackServer

anthropic = pytest.importorskip("anthropic")
openai = pytest.importorskip("openai")

CONFIG = """\
[tools.openai]
max_retry_attempts = 0
timeout_sync_calls = false

[tools.anthropic]
max_retry_attempts = 0
timeout_sync_calls = false
"""
HELLO = [{"role": "user", "content": "Hello"}]
#: What genai-prices charges for the provider's fixed usage (see wire.py).
OPENAI_COST = genai_prices.calc_price(
    genai_prices.Usage(input_tokens=1000, cache_read_tokens=200, output_tokens=500,
                       output_reasoning_tokens=100),
    OPENAI_MODEL,
).total_price  # fmt: skip
ANTHROPIC_COST = genai_prices.calc_price(
    genai_prices.Usage(input_tokens=1050, cache_read_tokens=200, cache_write_tokens=50,
                       output_tokens=300),
    ANTHROPIC_MODEL,
).total_price  # fmt: skip


@pytest.fixture
def provider() -> WireProvider:
    """Return the local provider's state."""
    return WireProvider()


@pytest.fixture
def base_url(provider: WireProvider) -> Iterator[str]:
    """Serve the provider on loopback and return its root URL."""
    with LoopbackServer.start(provider.app()) as server:
        yield server.url


@pytest.fixture
def keeper(tmp_path: Path) -> Iterator[Keeper]:
    """Open a keeper over an SQLite file, pricing from genai-prices."""
    opened = Keeper.open(
        ConfigFile.parse(CONFIG), store=f"sqlite:///{tmp_path / 'state.db'}", follow_changes=False
    )
    yield opened
    opened.close()


@pytest.fixture
def client(base_url: str) -> Iterator[Any]:
    """Return a real OpenAI client pointed at the local provider."""
    with openai.OpenAI(base_url=f"{base_url}/v1", api_key="sk-test", max_retries=0) as made:
        yield made


@pytest.fixture
def claude(base_url: str) -> Iterator[Any]:
    """Return a real Anthropic client pointed at the local provider."""
    with anthropic.Anthropic(base_url=base_url, api_key="sk-ant-test", max_retries=0) as made:
        yield made


def only_record(keeper: Keeper, tool: str = "openai") -> dict[str, Any]:
    """Return the one operation the tool recorded."""
    (record,) = keeper.monitoring.export_metrics(wrapper_name=tool)
    return record


def assert_openai_billed(record: dict[str, Any]) -> None:
    """Check the record holds the OpenAI usage (its cache and reasoning split) and its cost."""
    assert (record["input_tokens"], record["output_tokens"]) == (1000, 500)
    kinds = (record["cached_tokens"], record["cache_write_tokens"], record["reasoning_tokens"])
    assert kinds == (200, 0, 100)
    assert record["unpriced"] is False
    assert Decimal(repr(record["cost_estimate"])) == OPENAI_COST
    assert record["labels"]["model"] == OPENAI_MODEL


def test_a_chat_completion_object_is_read_and_priced(keeper: Keeper, client: Any) -> None:
    """A ChatCompletion returned by the SDK records 1,000/500 tokens priced with the cache split."""
    chat = keeper.tool("openai")(
        lambda: client.chat.completions.create(model=OPENAI_MODEL, messages=HELLO)
    )
    assert chat().choices[0].message.content == "hello"
    assert_openai_billed(only_record(keeper))


def test_a_chat_completion_dict_is_read_and_priced(keeper: Keeper, client: Any) -> None:
    """The same completion as a dict (model_dump) is read the same way."""
    chat = keeper.tool("openai")(
        lambda: client.chat.completions.create(model=OPENAI_MODEL, messages=HELLO).model_dump()
    )
    chat()
    assert_openai_billed(only_record(keeper))


def test_a_responses_api_answer_is_read_and_priced(keeper: Keeper, client: Any) -> None:
    """A Responses API object (input_tokens and its details) is read and priced."""
    respond = keeper.tool("openai")(
        lambda: client.responses.create(model=OPENAI_MODEL, input="Hello")
    )
    assert respond().output_text == "hello"
    assert_openai_billed(only_record(keeper))


def test_a_streamed_chat_is_recorded_when_consumed(keeper: Keeper, client: Any) -> None:
    """A stream with include_usage comes back wrapped; consumed, it records its final usage."""

    @keeper.tool("openai")
    def chat() -> Any:
        return client.chat.completions.create(
            model=OPENAI_MODEL, messages=HELLO, stream=True,
            stream_options={"include_usage": True},
        )  # fmt: skip

    stream = chat()
    assert keeper.monitoring.export_metrics(wrapper_name="openai") == []
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "".join(f"w{index} " for index in range(CHUNKS))
    record = only_record(keeper)
    assert_openai_billed(record)
    assert record["status"] == "success"
    assert record["custom_metrics"]["stream_chunks"] == CHUNKS + 2
    assert 0 < record["custom_metrics"]["time_to_first_token_ms"] <= record["duration_ms"]


def test_an_async_streamed_chat_is_recorded_when_consumed(base_url: str, keeper: Keeper) -> None:
    """An AsyncStream returned by an async wrapped function is metered the same way."""

    async def run() -> str:
        async with openai.AsyncOpenAI(
            base_url=f"{base_url}/v1", api_key="sk-test", max_retries=0
        ) as client:

            @keeper.tool("openai")
            async def chat() -> Any:
                return await client.chat.completions.create(
                    model=OPENAI_MODEL, messages=HELLO, stream=True,
                    stream_options={"include_usage": True},
                )  # fmt: skip

            stream = await chat()
            return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    assert asyncio.run(run()).startswith("w0 ")
    record = only_record(keeper)
    assert_openai_billed(record)
    assert record["custom_metrics"]["stream_chunks"] == CHUNKS + 2


def test_the_stream_helper_is_metered_inside_its_with_block(keeper: Keeper, client: Any) -> None:
    """client.chat.completions.stream(...) returned wrapped records its usage when left."""
    chat = keeper.tool("openai")(
        lambda: client.chat.completions.stream(
            model=OPENAI_MODEL, messages=HELLO, stream_options={"include_usage": True}
        )
    )
    with chat() as stream:
        kinds = [event.type for event in stream]
    assert "content.done" in kinds
    record = only_record(keeper)
    assert_openai_billed(record)
    assert record["status"] == "success"


def test_a_streamed_responses_answer_is_read_from_its_completed_event(
    keeper: Keeper, client: Any
) -> None:
    """A Responses API stream records the usage of its response.completed event."""
    respond = keeper.tool("openai")(
        lambda: client.responses.create(model=OPENAI_MODEL, input="Hello", stream=True)
    )
    events = [event.type for event in respond()]
    assert events[-1] == "response.completed"
    assert_openai_billed(only_record(keeper))


def test_a_raw_response_is_read_from_its_body(keeper: Keeper, client: Any) -> None:
    """with_raw_response's result is read from its HTTP body."""
    chat = keeper.tool("openai")(
        lambda: client.chat.completions.with_raw_response.create(model=OPENAI_MODEL, messages=HELLO)
    )
    raw = chat()
    assert raw.parse().choices[0].message.content == "hello"
    assert_openai_billed(only_record(keeper))


def test_an_httpx_response_is_read_from_its_json(keeper: Keeper, base_url: str) -> None:
    """An httpx.Response holding a completion is read from its JSON body."""
    chat = keeper.tool("openai")(
        lambda: httpx.post(
            f"{base_url}/v1/chat/completions", json={"model": OPENAI_MODEL, "messages": HELLO}
        )
    )
    assert chat().status_code == 200
    assert_openai_billed(only_record(keeper))


def test_a_stream_abandoned_halfway_is_recorded_as_such(keeper: Keeper, client: Any) -> None:
    """Closed after two chunks, the stream is a cancelled operation, cost unknown."""

    @keeper.tool("openai")
    def chat() -> Any:
        return client.chat.completions.create(
            model=OPENAI_MODEL, messages=HELLO, stream=True,
            stream_options={"include_usage": True},
        )  # fmt: skip

    stream = chat()
    next(stream)
    next(stream)
    stream.close()
    record = only_record(keeper)
    assert record["status"] == "cancelled"
    assert record["error_code"] == "STREAM_ABANDONED"
    assert record["custom_metrics"]["stream_chunks"] == 2
    assert record["unpriced"] is True


def test_a_stream_without_usage_is_unmetered_not_free(keeper: Keeper, client: Any) -> None:
    """Without include_usage the stream's cost is unknown: recorded unpriced, counted."""

    @keeper.tool("openai")
    def chat() -> Any:
        return client.chat.completions.create(model=OPENAI_MODEL, messages=HELLO, stream=True)

    for _ in chat():
        pass
    record = only_record(keeper)
    assert record["status"] == "success"
    assert (record["unpriced"], record["cost_estimate"]) == (True, 0.0)
    assert keeper.costs.unpriced() == {("openai", f"{OPENAI_MODEL} (unmetered)"): 1}


@pytest.mark.parametrize("reported", [0, 0.0123])
def test_a_reported_cost_is_the_cost_zero_included(
    keeper: Keeper, client: Any, provider: WireProvider, reported: float
) -> None:
    """A gateway's usage.cost is recorded as the cost, $0 included, and marked priced."""
    provider.cost = reported
    chat = keeper.tool("openai")(
        lambda: client.chat.completions.create(model=OPENAI_MODEL, messages=HELLO)
    )
    chat()
    record = only_record(keeper)
    assert (record["cost_estimate"], record["unpriced"]) == (reported, False)


def test_an_anthropic_message_counts_every_input_token(keeper: Keeper, claude: Any) -> None:
    """800 input + 200 cache reads + 50 cache writes are 1,050 input, priced with the split."""
    ask = keeper.tool("anthropic")(
        lambda: claude.messages.create(model=ANTHROPIC_MODEL, max_tokens=400, messages=HELLO)
    )
    assert ask().content[0].text == "hello"
    record = only_record(keeper, "anthropic")
    assert (record["input_tokens"], record["output_tokens"]) == (1050, 300)
    assert (record["cached_tokens"], record["cache_write_tokens"]) == (200, 50)
    assert Decimal(repr(record["cost_estimate"])) == ANTHROPIC_COST


def test_an_anthropic_stream_is_read_from_its_start_and_delta(keeper: Keeper, claude: Any) -> None:
    """A streamed Message records message_start's input and message_delta's output."""
    ask = keeper.tool("anthropic")(
        lambda: claude.messages.create(
            model=ANTHROPIC_MODEL, max_tokens=400, messages=HELLO, stream=True
        )
    )
    kinds = [event.type for event in ask()]
    assert kinds[-1] == "message_stop"
    record = only_record(keeper, "anthropic")
    assert (record["input_tokens"], record["output_tokens"]) == (1050, 300)
    assert (record["cached_tokens"], record["cache_write_tokens"]) == (200, 50)
    assert Decimal(repr(record["cost_estimate"])) == ANTHROPIC_COST


def test_the_anthropic_stream_helper_is_read_when_its_text_is(keeper: Keeper, claude: Any) -> None:
    """messages.stream(...) read through text_stream records the final message's usage."""
    ask = keeper.tool("anthropic")(
        lambda: claude.messages.stream(model=ANTHROPIC_MODEL, max_tokens=400, messages=HELLO)
    )
    with ask() as stream:
        text = "".join(stream.text_stream)
    assert text.startswith("w0 ")
    record = only_record(keeper, "anthropic")
    assert (record["input_tokens"], record["output_tokens"]) == (1050, 300)
    assert (record["status"], record["unpriced"]) == ("success", False)


def test_a_stream_helper_read_its_own_way_lasts_until_its_end_is_seen(
    keeper: Keeper, claude: Any
) -> None:
    """Read through text_stream (not the proxy's chunks), the call lasts until its block ends."""
    ask = keeper.tool("anthropic")(
        lambda: claude.messages.stream(model=ANTHROPIC_MODEL, max_tokens=400, messages=HELLO)
    )
    with ask() as stream:
        for _ in stream.text_stream:
            time.sleep(0.002)  # the application's work on each piece of text
    record = only_record(keeper, "anthropic")
    assert record["status"] == "success"
    assert record["duration_ms"] >= CHUNKS * 2


def test_a_stream_helper_left_early_is_abandoned(keeper: Keeper, claude: Any) -> None:
    """Leaving messages.stream(...)'s block after two events records the call as abandoned."""
    ask = keeper.tool("anthropic")(
        lambda: claude.messages.stream(model=ANTHROPIC_MODEL, max_tokens=400, messages=HELLO)
    )
    with ask() as stream:
        for index, _ in enumerate(stream):
            if index == 1:
                break
    record = only_record(keeper, "anthropic")
    assert (record["status"], record["error_code"]) == ("cancelled", "STREAM_ABANDONED")


def test_op_response_reads_a_completion_into_an_operation_block(
    keeper: Keeper, client: Any, claude: Any
) -> None:
    """keeper.operation()'s op.response() adds each response's tokens and prices them."""
    with keeper.operation("openai", "chat") as op:
        completion = op.response(client.chat.completions.create(model=OPENAI_MODEL, messages=HELLO))
    assert completion.choices[0].message.content == "hello"
    assert_openai_billed(only_record(keeper))
    with keeper.operation("anthropic", "ask") as op:
        op.response(claude.messages.create(model=ANTHROPIC_MODEL, max_tokens=9, messages=HELLO))
    record = only_record(keeper, "anthropic")
    assert (record["input_tokens"], Decimal(repr(record["cost_estimate"]))) == (
        1050, ANTHROPIC_COST,
    )  # fmt: skip


def test_op_response_meters_a_stream_read_inside_the_block(keeper: Keeper, client: Any) -> None:
    """A stream handed to op.response() adds its final usage when read inside the block."""
    with keeper.operation("openai", "chat") as op:
        stream = op.response(
            client.chat.completions.create(
                model=OPENAI_MODEL, messages=HELLO, stream=True,
                stream_options={"include_usage": True},
            )
        )  # fmt: skip
        chunks = sum(1 for _ in stream)
    record = only_record(keeper)
    assert_openai_billed(record)
    assert record["custom_metrics"]["stream_chunks"] == chunks


def test_op_response_keeps_a_reported_zero_cost(
    keeper: Keeper, client: Any, provider: WireProvider
) -> None:
    """A response reporting usage.cost = 0 makes the block cost $0, priced."""
    provider.cost = 0
    with keeper.operation("openai", "chat") as op:
        op.response(client.chat.completions.create(model=OPENAI_MODEL, messages=HELLO))
    record = only_record(keeper)
    assert (record["cost_estimate"], record["unpriced"], record["input_tokens"]) == (0, False, 1000)


def test_an_instrumented_openai_client_tracks_every_call(keeper: Keeper, client: Any) -> None:
    """tk.instrument() records create, raw and streamed calls with no decorator."""
    import toolkeeper as tk

    tracked = tk.instrument(client, tool="openai", keeper=keeper)
    tracked.chat.completions.create(model=OPENAI_MODEL, messages=HELLO)
    tracked.chat.completions.with_raw_response.create(model=OPENAI_MODEL, messages=HELLO)
    for _ in tracked.chat.completions.create(
        model=OPENAI_MODEL, messages=HELLO, stream=True, stream_options={"include_usage": True}
    ):
        pass
    tracked.responses.create(model=OPENAI_MODEL, input="Hello")
    records = keeper.monitoring.export_metrics(wrapper_name="openai")
    assert sorted(r["operation_type"] for r in records) == ["chat.completions.create"] * 3 + [
        "responses.create"
    ]
    for record in records:
        assert_openai_billed(record)


def test_an_instrumented_async_client_tracks_its_streams(base_url: str, keeper: Keeper) -> None:
    """An instrumented AsyncOpenAI records awaited and streamed calls."""
    import toolkeeper as tk

    async def run() -> None:
        async with tk.instrument(
            openai.AsyncOpenAI(base_url=f"{base_url}/v1", api_key="sk-test", max_retries=0),
            tool="openai", keeper=keeper,
        ) as client:  # fmt: skip
            await client.chat.completions.create(model=OPENAI_MODEL, messages=HELLO)
            stream = await client.chat.completions.create(
                model=OPENAI_MODEL, messages=HELLO, stream=True,
                stream_options={"include_usage": True},
            )  # fmt: skip
            async for _ in stream:
                pass

    asyncio.run(run())
    records = keeper.monitoring.export_metrics(wrapper_name="openai")
    assert len(records) == 2
    for record in records:
        assert_openai_billed(record)


def test_an_instrumented_anthropic_client_tracks_messages(keeper: Keeper, claude: Any) -> None:
    """An instrumented Anthropic client records messages.create and messages.stream."""
    import toolkeeper as tk

    tracked = tk.instrument(claude, tool="anthropic", keeper=keeper)
    tracked.messages.create(model=ANTHROPIC_MODEL, max_tokens=9, messages=HELLO)
    with tracked.messages.stream(model=ANTHROPIC_MODEL, max_tokens=9, messages=HELLO) as stream:
        stream.get_final_message()
    records = keeper.monitoring.export_metrics(wrapper_name="anthropic")
    assert sorted(r["operation_type"] for r in records) == ["messages.create", "messages.stream"]
    for record in records:
        assert (record["input_tokens"], record["status"]) == (1050, "success")
        assert Decimal(repr(record["cost_estimate"])) == ANTHROPIC_COST
