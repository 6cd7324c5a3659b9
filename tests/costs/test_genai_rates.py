"""Rates compiled from the genai-prices catalog charge every usage to the digit the package does."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import genai_prices
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkeeper.costs import PriceCatalog, Usage
from toolkeeper.costs._genai_rates import Rates, compile_rates

AT = datetime(2026, 3, 1, tzinfo=UTC)


def _every_model_price() -> list[tuple[str, Any]]:
    """Return (provider/model, price) for every price object of every model in the package."""
    found = []
    for provider in genai_prices.data_snapshot.get_snapshot().providers:
        for info in provider.models:
            prices = info.prices if isinstance(info.prices, list) else [info.prices]
            for price in prices:
                model_price = getattr(price, "prices", price)
                found.append((f"{provider.id}/{info.id}", model_price))
    return found


MODEL_PRICES = _every_model_price()


@functools.cache
def compiled() -> list[tuple[str, Any, Rates | None]]:
    """Return (provider/model, price, its compiled rates or None) for every price, compiled once."""
    return [(name, price, compile_rates(price, genai_prices.Usage)) for name, price in MODEL_PRICES]


@st.composite
def usages(draw: st.DrawFn) -> Usage:
    """Draw a valid usage: cached and cache-write within input, reasoning within output."""
    input_tokens = draw(st.integers(0, 300_000) | st.integers(0, 3_000_000))  # tiers: 128k, 200k…
    cached = draw(st.integers(0, input_tokens))
    cache_write = draw(st.integers(0, input_tokens - cached))
    output_tokens = draw(st.integers(0, 500_000))
    reasoning = draw(st.integers(0, output_tokens))
    return Usage(
        input_tokens=input_tokens, output_tokens=output_tokens, cached_tokens=cached,
        cache_write_tokens=cache_write, reasoning_tokens=reasoning,
        characters=draw(st.integers(0, 100_000)),
    )  # fmt: skip


def _package_charge(model_price: Any, usage: Usage) -> tuple[str, str, str]:
    counts = {
        "input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens,
        "cache_read_tokens": usage.cached_tokens, "cache_write_tokens": usage.cache_write_tokens,
        "output_reasoning_tokens": usage.reasoning_tokens, "input_characters": usage.characters,
    }  # fmt: skip
    calculated = model_price.calc_price(
        genai_prices.Usage(**{key: value for key, value in counts.items() if value})
    )
    return (
        str(calculated["input_price"]),
        str(calculated["output_price"]),
        str(calculated["total_price"]),
    )


def test_most_model_prices_compile_to_rates() -> None:
    """Compile the prices of nine in ten of the package's models (the rest: the package)."""
    rates = [found for _, _, found in compiled()]
    assert len(rates) > 100
    assert sum(found is not None for found in rates) > len(rates) * 9 // 10


@settings(max_examples=15, deadline=None)
@given(usage=usages())
def test_compiled_rates_charge_what_the_package_charges_to_the_digit(usage: Usage) -> None:
    """Give, for every compiled model price, the package's input, output and total, to the digit."""
    for name, model_price, rates in compiled():
        if rates is None:
            continue
        got = rates.charge(
            usage.input_tokens, usage.output_tokens, usage.cached_tokens,
            usage.cache_write_tokens, usage.reasoning_tokens, usage.characters,
        )  # fmt: skip
        try:
            wanted = _package_charge(model_price, usage)
        except ValueError:
            continue  # the package refuses this usage for this price (e.g. characters on tokens)
        assert tuple(str(value) for value in got) == wanted, name


@pytest.mark.parametrize(
    "model",
    ["gpt-4o", "gpt-4o-mini-2024-07-18", "openai:gpt-4o", "claude-3-5-haiku-20241022",
     "anthropic/claude-sonnet-4-20250514", "gemini-1.5-pro", "ft:gpt-4o-mini:org::id",
     "anthropic.claude-3-haiku-20240307-v1:0", "no-such-model-anywhere"],
)  # fmt: skip
def test_the_catalog_prices_as_the_package_does_call_after_call(model: str) -> None:
    """Price a model the same on its first and later calls, equal to the package's own answer."""
    catalog = PriceCatalog()
    usage = Usage(
        input_tokens=250_000, cached_tokens=50_000, output_tokens=4_000, reasoning_tokens=1_000
    )
    first = catalog.price(model, usage, at=AT)
    again = catalog.price(model, usage, at=AT)
    assert again == first
    if first.cost is None:
        assert first.source is None
        return
    assert first.source is not None
    entry = first.source.split("genai-prices (", 1)[1].split(":", 1)[0]
    provider, _, model_id = entry.partition("/")
    package_usage = genai_prices.Usage(
        input_tokens=250_000, cache_read_tokens=50_000, output_tokens=4_000,
        output_reasoning_tokens=1_000,
    )  # fmt: skip
    calculated = genai_prices.calc_price(
        package_usage, model_id, provider_id=provider, genai_request_timestamp=AT
    )
    assert first.cost == Decimal(calculated.total_price).quantize(Decimal("0.000000001"))
