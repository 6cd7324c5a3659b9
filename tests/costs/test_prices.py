"""The price catalog: overrides win, effective dates pick the price, unpriced is never $0."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from toolkeeper._errors import MissingDependencyError
from toolkeeper.costs import Price, PriceCatalog, Usage

AT = datetime(2026, 3, 1, tzinfo=UTC)


def test_override_prices_every_token_kind_exactly() -> None:
    """Charge uncached, cached, cache-write, output and reasoning tokens at their own prices."""
    catalog = PriceCatalog.from_overrides(
        {
            "my-model": {
                "input_per_mtok": "2",
                "output_per_mtok": "8",
                "cached_read_per_mtok": "0.5",
                "cache_write_per_mtok": "2.5",
                "reasoning_per_mtok": "10",
                "effective": "2026-01-01",
            }
        },
        package=False,
    )
    usage = Usage(
        input_tokens=1_000_000,
        cached_tokens=200_000,
        cache_write_tokens=100_000,
        output_tokens=500_000,
        reasoning_tokens=100_000,
    )
    priced = catalog.price("my-model", usage, at=AT)
    # 700k x $2 + 200k x $0.5 + 100k x $2.5 + 400k x $8 + 100k x $10, per million
    assert priced.breakdown == {
        "input": Decimal("1.4"),
        "cached_read": Decimal("0.1"),
        "cache_write": Decimal("0.25"),
        "output": Decimal("3.2"),
        "reasoning": Decimal("1"),
    }
    assert priced.cost == Decimal("5.95")
    assert priced.priced
    assert priced.source is not None
    assert priced.source.startswith("override effective 2026-01-01")


def test_parts_without_their_own_price_fall_back() -> None:
    """Charge cached tokens at the input price and reasoning at the output price when unnamed."""
    catalog = PriceCatalog(
        [Price(model="m", input_per_mtok=Decimal(1), output_per_mtok=Decimal(3))], package=False
    )
    usage = Usage(input_tokens=10, cached_tokens=4, output_tokens=6, reasoning_tokens=6)
    assert catalog.price("m", usage, at=AT).cost == Decimal("0.000028")


def test_non_token_units_price_other_tools() -> None:
    """Price per request, per character and per second for tools that do not bill tokens."""
    catalog = PriceCatalog.from_overrides(
        {
            "search-api": {"per_request": "0.005"},
            "tts": {"per_character": "0.000015"},
            "transcribe": {"per_second": "0.0001", "per_request": "0.01"},
        },
        package=False,
    )
    assert catalog.price("search-api", Usage(requests=3), at=AT).cost == Decimal("0.015")
    assert catalog.price("tts", Usage(characters=1000), at=AT).cost == Decimal("0.015")
    speech = catalog.price("transcribe", Usage(seconds=Decimal("90.5")), at=AT)
    assert speech.breakdown == {"requests": Decimal("0.01"), "seconds": Decimal("0.00905")}
    assert speech.cost == Decimal("0.01905")


def test_effective_dates_pick_the_price_in_force() -> None:
    """Use each price from its effective moment on, and none before the first."""
    catalog = PriceCatalog.from_overrides(
        {
            "m": [
                {"per_request": "1", "effective": "2026-01-01"},
                {"per_request": "2", "effective": "2026-02-01T12:00:00+00:00"},
            ]
        },
        package=False,
    )
    one = Usage(requests=1)
    assert catalog.price("m", one, at=datetime(2026, 2, 1, 11, 59, tzinfo=UTC)).cost == 1
    assert catalog.price("m", one, at=datetime(2026, 2, 1, 12, 0, tzinfo=UTC)).cost == 2
    before = catalog.price("m", one, at=datetime(2025, 12, 31, tzinfo=UTC))
    assert before.cost is None
    assert not before.priced


def test_unknown_model_is_unpriced_not_free() -> None:
    """Report an unknown model with cost None and no source, never as $0."""
    catalog = PriceCatalog(package=True)
    priced = catalog.price("no-such-model-anywhere", Usage(input_tokens=100), at=AT)
    assert priced.cost is None
    assert priced.priced is False
    assert priced.source is None


def test_the_package_prices_known_models() -> None:
    """Price gpt-4o from genai-prices, naming the package and the matched model."""
    catalog = PriceCatalog()
    priced = catalog.price("gpt-4o", Usage(input_tokens=1000, output_tokens=100), at=AT)
    assert priced.cost is not None
    assert priced.cost > 0
    assert priced.source is not None
    assert "genai-prices" in priced.source
    assert "openai/gpt-4o" in priced.source
    assert "genai-prices" in catalog.version
    named = catalog.price("openai:gpt-4o", Usage(input_tokens=1000, output_tokens=100), at=AT)
    assert named.cost == priced.cost


def test_overrides_win_over_the_package() -> None:
    """Price a model the package knows from the override when one is given."""
    catalog = PriceCatalog.from_overrides({"gpt-4o": {"input_per_mtok": "1000"}})
    priced = catalog.price("gpt-4o", Usage(input_tokens=1000), at=AT)
    assert priced.cost == Decimal("1")
    assert priced.source is not None
    assert priced.source.startswith("override")


def test_missing_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Raise MissingDependencyError naming toolkeeper[prices] when genai-prices is absent."""
    monkeypatch.setitem(sys.modules, "genai_prices", None)
    catalog = PriceCatalog.from_overrides({"mine": {"per_request": "1"}})
    assert catalog.price("mine", Usage(), at=AT).cost == 1
    with pytest.raises(MissingDependencyError, match=r"toolkeeper\[prices\]"):
        catalog.price("gpt-4o", Usage(input_tokens=1), at=AT)


def test_version_changes_with_the_overrides() -> None:
    """Give two catalogs with different override prices different versions."""
    one = PriceCatalog.from_overrides({"m": {"per_request": "1"}}, package=False)
    two = PriceCatalog.from_overrides({"m": {"per_request": "2"}}, package=False)
    same = PriceCatalog.from_overrides({"m": {"per_request": "1"}}, package=False)
    assert one.version != two.version
    assert one.version == same.version


@pytest.mark.parametrize(
    ("data", "rule"),
    [
        ({"input_per_mtok": "1", "colour": "red"}, "unknown field"),
        ({"input_per_mtok": "-1"}, ">= 0"),
        ({"input_per_mtok": "cheap"}, "input_per_mtok"),
        ({"effective": "2026-01-01"}, "names no price"),
        ({"per_request": "1", "effective": "soon"}, "not an ISO date"),
        ({"per_request": "1", "effective": "2026-01-01T10:00:00"}, "needs a time zone"),
    ],
)
def test_bad_override_names_its_field(data: dict[str, str], rule: str) -> None:
    """Name the model, the field and the rule of an override that cannot be read."""
    with pytest.raises(ValueError, match=rule):
        PriceCatalog.from_overrides({"m": data}, package=False)
