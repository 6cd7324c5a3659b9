"""Every token kind a provider bills apart, from the real SDKs' answers to every view of them.

The ``openai`` and ``anthropic`` SDKs call the local wire-format provider
(tests/wrap/wire.py): each OpenAI answer bills 1,000 input tokens (200 read from
the cache) and 500 output (100 reasoning); each Anthropic answer 800 + 200 cache
reads + 50 cache writes = 1,050 input and 300 output. Records, the store (SQLite
and PostgreSQL), rollups, the cost report, exports and metrics all keep the split.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import genai_prices
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tests.wrap.wire import ANTHROPIC_MODEL, OPENAI_MODEL, WireProvider
from toolkeeper import Keeper
from toolkeeper.config.files import ConfigFile
from toolkeeper.demo import LoopbackServer
from toolkeeper.monitor import MonitoringCollector
from toolkeeper.monitor.export import iter_csv, iter_json
from toolkeeper.monitor.persist import iter_stored_operations

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
KINDS = ("input_tokens", "output_tokens", "cached_tokens", "cache_write_tokens", "reasoning_tokens")
#: What each provider's answer bills, in the order of KINDS.
OPENAI = (1000, 500, 200, 0, 100)
ANTHROPIC = (1050, 300, 200, 50, 0)
OPENAI_CALLS, ANTHROPIC_CALLS = 4, 2
OPENAI_COST = genai_prices.calc_price(
    genai_prices.Usage(input_tokens=1000, cache_read_tokens=200, output_tokens=500,
                       output_reasoning_tokens=100),
    OPENAI_MODEL,
).total_price  # fmt: skip


@pytest.fixture
def base_url() -> Iterator[str]:
    """Serve the wire-format provider on loopback and return its root URL."""
    with LoopbackServer.start(WireProvider().app()) as server:
        yield server.url


@pytest.fixture
def keeper(store_uri: str) -> Iterator[Keeper]:
    """Open a keeper over each SQL store, pricing from genai-prices."""
    opened = Keeper.open(ConfigFile.parse(CONFIG), store=store_uri, follow_changes=False)
    yield opened
    opened.close()


@pytest.fixture
def called(keeper: Keeper, base_url: str) -> Keeper:
    """Make every kind of call through wrapped functions: objects, raw answers and streams."""
    with (
        openai.OpenAI(base_url=f"{base_url}/v1", api_key="sk-test", max_retries=0) as client,
        anthropic.Anthropic(base_url=base_url, api_key="sk-ant-test", max_retries=0) as claude,
    ):
        chat = keeper.tool("openai", operation="chat")(client.chat.completions.create)
        respond = keeper.tool("openai", operation="respond")(client.responses.create)
        raw = keeper.tool("openai", operation="raw")(
            client.chat.completions.with_raw_response.create
        )
        ask = keeper.tool("anthropic", operation="ask")(claude.messages.create)
        chat(model=OPENAI_MODEL, messages=HELLO)
        respond(model=OPENAI_MODEL, input="Hello")
        raw(model=OPENAI_MODEL, messages=HELLO)
        for _ in chat(
            model=OPENAI_MODEL, messages=HELLO, stream=True, stream_options={"include_usage": True}
        ):
            pass
        ask(model=ANTHROPIC_MODEL, max_tokens=400, messages=HELLO)
        for _ in ask(model=ANTHROPIC_MODEL, max_tokens=400, messages=HELLO, stream=True):
            pass
    keeper.flush()
    return keeper


def kinds_of(item: Any) -> tuple[int, ...]:
    """Return a record's (or a dict's) tokens in the order of KINDS."""
    if isinstance(item, dict):
        return tuple(int(item[name]) for name in KINDS)
    return tuple(getattr(item, name) for name in KINDS)


def times(count: int, kinds: tuple[int, ...]) -> tuple[int, ...]:
    """Return ``count`` calls' worth of ``kinds``."""
    return tuple(count * value for value in kinds)


def test_each_record_keeps_every_token_kind_in_memory_and_in_the_store(called: Keeper) -> None:
    """Chat, responses, raw and streamed answers keep cached, cache-write and reasoning tokens."""
    records = called.monitoring.export_metrics()
    assert sorted(kinds_of(r) for r in records if r["wrapper_name"] == "openai") == [OPENAI] * 4
    assert [kinds_of(r) for r in records if r["wrapper_name"] == "anthropic"] == [ANTHROPIC] * 2
    stored = list(iter_stored_operations(called.store))
    assert sorted(kinds_of(r) for r in stored) == sorted([OPENAI] * 4 + [ANTHROPIC] * 2)
    assert {r.operation_type for r in stored} == {"chat", "respond", "raw", "ask"}


def test_rollups_and_the_cost_report_sum_every_kind_for_every_process(
    called: Keeper, store_uri: str
) -> None:
    """The report's totals and groups hold each kind, read alike by another keeper."""
    report = called.costs.report(since=timedelta(hours=1), by="tool").to_dict()
    expected = {
        "openai": times(OPENAI_CALLS, OPENAI),
        "anthropic": times(ANTHROPIC_CALLS, ANTHROPIC),
    }
    assert {g["key"]: kinds_of(g["tokens"]) for g in report["groups"]} == expected
    total = tuple(a + b for a, b in zip(*expected.values(), strict=True))
    assert kinds_of(report["tokens"]) == total
    other = Keeper.open(ConfigFile.parse(CONFIG), store=store_uri, follow_changes=False)
    try:
        seen = other.costs.report(since=timedelta(hours=1), by="tool").to_dict()
    finally:
        other.close()
    assert (seen["tokens"], seen["groups"]) == (report["tokens"], report["groups"])


def test_prometheus_counts_each_token_type_here_and_for_the_fleet(
    called: Keeper, store_uri: str
) -> None:
    """toolkeeper_tokens_total has a token_type per kind, in this process and in the fleet view."""

    def tokens(collector: MonitoringCollector) -> dict[tuple[str, str], float]:
        registry = CollectorRegistry()
        registry.register(collector)
        text = generate_latest(registry).decode()
        return {
            (s.labels["tool"], s.labels["token_type"]): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name == "toolkeeper_tokens_total" and s.labels["operation"] in ("chat", "ask")
        }

    own = tokens(MonitoringCollector(called.monitoring))
    types = ("input", "output", "cache_read", "cache_creation", "reasoning")
    chat = dict(zip(types, times(2, OPENAI), strict=True))
    ask = dict(zip(types, times(2, ANTHROPIC), strict=True))
    assert own == {
        **{("openai", kind): value for kind, value in chat.items()},
        **{("anthropic", kind): value for kind, value in ask.items()},
    }
    other = Keeper.open(ConfigFile.parse(CONFIG), store=store_uri, follow_changes=False)
    try:
        fleet = tokens(MonitoringCollector(other.monitoring, fleet=True))
    finally:
        other.close()
    assert fleet == own


def test_exports_carry_every_kind_and_exact_decimal_costs(called: Keeper) -> None:
    """JSON and CSV exports of stored operations hold the kinds and costs as decimal strings."""
    exported = json.loads("".join(iter_json(iter_stored_operations(called.store))))
    chats = [r for r in exported if r["operation_type"] == "chat"]
    assert [kinds_of(r) for r in chats] == [OPENAI, OPENAI]
    assert [r["cost_estimate"] for r in chats] == [str(OPENAI_COST)] * 2
    text = "".join(iter_csv(iter_stored_operations(called.store)))
    rows = list(csv.DictReader(io.StringIO(text)))
    asks = [r for r in rows if r["operation_type"] == "ask"]
    assert [kinds_of(r) for r in asks] == [ANTHROPIC, ANTHROPIC]
    assert all(Decimal(r["cost_estimate"]) > 0 and "e" not in r["cost_estimate"] for r in asks)


def test_genai_histograms_count_each_token_type(keeper: Keeper, base_url: str) -> None:
    """gen_ai.client.token.usage has one point set per gen_ai.token.type, cached ones included."""
    keeper.monitoring.count_genai()
    with anthropic.Anthropic(base_url=base_url, api_key="sk-ant-test", max_retries=0) as claude:
        ask = keeper.tool("anthropic", operation="ask")(claude.messages.create)
        for _ in range(3):
            ask(model=ANTHROPIC_MODEL, max_tokens=400, messages=HELLO)
    usage = keeper.monitoring.genai_snapshot()["gen_ai.client.token.usage"]
    sums = {dict(key)["gen_ai.token.type"]: state.total for key, state in usage.items()}
    assert sums == {"input": 3150.0, "output": 900.0, "cache_read": 600.0, "cache_creation": 150.0}


def test_an_operation_block_records_the_kinds_it_is_given_and_checks_them(keeper: Keeper) -> None:
    """op.usage's kinds are recorded; parts larger than their whole are refused, naming them."""
    with keeper.operation("openai", "batch") as op:
        op.usage(input_tokens=300, output_tokens=50, cached_tokens=120, reasoning_tokens=20)
    (record,) = keeper.monitoring.export_metrics(wrapper_name="openai")
    assert kinds_of(record) == (300, 50, 120, 0, 20)
    assert "cached_tokens" not in record["custom_metrics"]
    with (
        pytest.raises(ValueError, match=r"cached_tokens \(200\).*input_tokens \(100\)"),
        keeper.operation("openai", "batch") as op,
    ):
        op.usage(input_tokens=100, cached_tokens=200)
