"""Model ids as calls report them: provider prefixes, colons, Bedrock ids and OpenAI fine-tunes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import genai_prices
import pytest

from toolkeeper.costs import PriceCatalog, Usage
from toolkeeper.costs.model_ids import candidates

AT = datetime(2026, 3, 1, tzinfo=UTC)
USAGE = Usage(input_tokens=1000, output_tokens=1000)
PROVIDERS = {"openai", "aws", "anthropic", "openrouter"}


def package_cost(model: str, provider: str | None = None) -> Decimal:
    """Return what genai-prices charges USAGE on ``model`` at ``provider``."""
    found = genai_prices.calc_price(
        genai_prices.Usage(input_tokens=1000, output_tokens=1000), model, provider_id=provider,
        genai_request_timestamp=AT,
    )  # fmt: skip
    return Decimal(found.total_price)


@pytest.mark.parametrize(
    ("model", "provider", "ref"),
    [
        ("openai:gpt-4o", None, "gpt-4o"),
        ("openai/gpt-4o", None, "gpt-4o"),
        ("openrouter/openai/gpt-4o", "openrouter", "openai/gpt-4o"),
        ("anthropic.claude-3-5-sonnet-20240620-v1:0", "aws",
         "anthropic.claude-3-5-sonnet-20240620-v1:0"),
        ("ft:gpt-4o-mini-2024-07-18:acme::A1b2C3", "openai",
         "ft:gpt-4o-mini-2024-07-18:acme::A1b2C3"),
    ],
)  # fmt: skip
def test_prefixed_colon_and_fine_tuned_ids_are_priced(
    model: str, provider: str | None, ref: str
) -> None:
    """Each id is priced as genai-prices prices the entry it stands for."""
    priced = PriceCatalog(package=True).price(model, USAGE, at=AT)
    assert priced.cost == package_cost(ref, provider)


def test_a_fine_tune_is_priced_at_its_fine_tune_price_not_the_base_price() -> None:
    """ft:gpt-4o-mini-… costs the fine-tune's price, more than gpt-4o-mini's own."""
    catalog = PriceCatalog(package=True)
    tuned = catalog.price("ft:gpt-4o-mini-2024-07-18:acme::A1b2C3", USAGE, at=AT).cost
    base = catalog.price("gpt-4o-mini-2024-07-18", USAGE, at=AT).cost
    assert tuned is not None
    assert base is not None
    assert tuned > base


@pytest.mark.parametrize(
    ("model", "reason"),
    [
        ("llama3.1:70b", "no catalog entry matches"),
        ("ft:my-own-base:acme::x", "no fine-tune price in the catalog matches its base"),
    ],
)
def test_an_unknown_id_is_unpriced_with_the_reason(model: str, reason: str) -> None:
    """An id no entry prices is unpriced (cost None), and explain() says why."""
    catalog = PriceCatalog(package=True)
    assert catalog.price(model, USAGE, at=AT).cost is None
    assert reason in catalog.explain(model, at=AT)


def test_a_colon_is_a_provider_prefix_only_before_a_known_provider() -> None:
    """llama3.1:70b keeps its colon; openai:gpt-4o is gpt-4o at openai."""
    assert [c.model for c in candidates("llama3.1:70b", PROVIDERS)] == ["llama3.1:70b"]
    first = candidates("openai:gpt-4o", PROVIDERS)[0]
    assert (first.provider, first.model) == ("openai", "gpt-4o")


def test_the_prices_command_names_the_entry_and_why(tmp_path: Path) -> None:
    """`toolkeeper prices openai/gpt-4o --json` names openai/gpt-4o and the provider/model form."""
    env = {**os.environ, "TOOLKEEPER_STORE": f"sqlite:///{tmp_path / 'state.db'}"}
    env.pop("TOOLKEEPER_CONFIG", None)
    done = subprocess.run(
        [sys.executable, "-m", "toolkeeper", "prices", "openai/gpt-4o", "--input", "1000",
         "--output", "1000", "--json"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert "openai/gpt-4o" in shown["why"]
    assert "provider/model" in shown["why"]
    assert Decimal(shown["cost"]) == package_cost("gpt-4o", "openai")


OVERRIDE = {"input_per_mtok": "1", "output_per_mtok": "3"}
#: What OVERRIDE charges USAGE (1,000 input and 1,000 output tokens).
OVERRIDE_COST = Decimal("0.004")


@pytest.mark.parametrize("model", ["gpt-4o", "openai/gpt-4o", "openai:gpt-4o", "OpenAI/gpt-4o"])
@pytest.mark.parametrize("key", ["gpt-4o", "openai/gpt-4o", "openai:gpt-4o"])
def test_an_override_prices_every_form_of_its_model_id(key: str, model: str) -> None:
    """[prices."gpt-4o"] and [prices."openai/gpt-4o"] price gpt-4o with or without the prefix."""
    catalog = PriceCatalog.from_overrides({key: OVERRIDE})
    priced = catalog.price(model, USAGE, at=AT)
    assert (priced.cost, priced.source) == (
        OVERRIDE_COST,
        "override effective 1970-01-01T00:00:00+00:00",
    )


def test_an_override_for_one_provider_leaves_another_providers_id_to_the_catalog() -> None:
    """An override of openai/gpt-4o does not price openrouter/gpt-4o: that is another provider."""
    catalog = PriceCatalog.from_overrides({"openai/gpt-4o": OVERRIDE})
    assert catalog.override_key("openrouter/gpt-4o") is None
    assert catalog.price("openrouter/openai/gpt-4o", USAGE, at=AT).cost != OVERRIDE_COST


def test_a_bare_id_is_not_guessed_between_two_providers_overrides() -> None:
    """With overrides of gpt-4o at two providers, a bare gpt-4o takes neither: the catalog does."""
    catalog = PriceCatalog.from_overrides(
        {"openai/gpt-4o": OVERRIDE, "azure/gpt-4o": {"input_per_mtok": "9"}}
    )
    assert catalog.override_key("gpt-4o") is None
    assert catalog.override_key("azure:gpt-4o") == "azure/gpt-4o"
    assert catalog.price("gpt-4o", USAGE, at=AT).cost == package_cost("gpt-4o", "openai")


def test_a_colon_in_a_model_name_is_not_read_as_a_prefix_for_overrides() -> None:
    """An override of llama3.1:70b prices exactly that id; 70b alone is another model."""
    catalog = PriceCatalog.from_overrides({"llama3.1:70b": OVERRIDE}, package=False)
    assert catalog.price("llama3.1:70b", USAGE, at=AT).cost == OVERRIDE_COST
    assert catalog.override_key("70b") is None


def test_overrides_without_the_catalog_read_their_own_prefixes() -> None:
    """Without genai-prices, an override written openai/gpt-4o still prices openai:gpt-4o."""
    catalog = PriceCatalog.from_overrides({"openai/gpt-4o": OVERRIDE}, package=False)
    assert catalog.price("openai:gpt-4o", USAGE, at=AT).cost == OVERRIDE_COST
    assert catalog.price("gpt-4o", USAGE, at=AT).cost == OVERRIDE_COST
    assert catalog.price("gpt-4o-mini", USAGE, at=AT).cost is None


def test_an_override_matched_through_its_prefix_is_explained() -> None:
    """explain() names the [prices] entry that priced a prefixed id, and says how it was read."""
    catalog = PriceCatalog.from_overrides({"gpt-4o": OVERRIDE})
    said = catalog.explain("openai/gpt-4o", at=AT)
    assert said.startswith("[prices.'gpt-4o'] override effective")
    assert "read as 'gpt-4o'" in said


def test_a_wrapped_call_reporting_a_prefixed_model_is_priced_by_the_config_files_override(
    tmp_path: Path,
) -> None:
    """A call whose body says openai/gpt-4o is priced by the file's [prices."gpt-4o"]."""
    from toolkeeper import Keeper
    from toolkeeper.config.files import ConfigFile

    config = ConfigFile.parse(
        '[prices."gpt-4o"]\ninput_per_mtok = "1"\noutput_per_mtok = "3"\n\n'
        "[tools.llm]\nmax_retry_attempts = 0\ntimeout_sync_calls = false\n"
    )
    keeper = Keeper.open(config, store=f"sqlite:///{tmp_path / 'state.db'}", follow_changes=False)
    try:
        body = {
            "model": "openai/gpt-4o",
            "usage": {"prompt_tokens": 1000, "completion_tokens": 1000},
        }
        keeper.tool("llm")(lambda: body)()
        (record,) = keeper.monitoring.export_metrics(wrapper_name="llm")
    finally:
        keeper.close()
    assert (Decimal(repr(record["cost_estimate"])), record["unpriced"]) == (OVERRIDE_COST, False)
