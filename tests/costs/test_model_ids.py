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
