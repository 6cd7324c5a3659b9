"""Price usage from the maintained catalog of the ``genai-prices`` package (``toolkeeper[prices]``).

Imported only when a model has no override, so the package is optional.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from toolkeeper._errors import MissingDependencyError
from toolkeeper.costs.usage import Usage

__all__ = ["PackagePrice", "package_price", "package_version"]

#: (total cost, breakdown by part, description of the matched price).
PackagePrice = tuple[Decimal, dict[str, Decimal], str]

# The package's price objects live as long as its data snapshot; each is kept
# beside its text so its id cannot be reused by another object.
_SHOWN: dict[int, tuple[Any, str]] = {}
_KEEP_SHOWN = 4096


def _module() -> Any:
    try:
        import genai_prices
    except ImportError:
        raise MissingDependencyError("the maintained price catalog", "prices") from None
    return genai_prices


def package_version() -> str | None:
    """Return ``"genai-prices <version>"`` without importing it, or ``None`` if not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"genai-prices {version('genai-prices')}"
    except PackageNotFoundError:
        return None


def package_price(model: str, usage: Usage, *, at: datetime) -> PackagePrice | None:
    """Price ``usage`` of ``model`` at ``at`` from the package, or ``None`` if it has no price.

    ``model`` may name its provider first, ``"openai:gpt-4o"``; otherwise the
    package picks the provider whose models match. Per-request and per-second
    quantities are not priced here: the package prices tokens and characters.
    """
    genai_prices = _module()
    provider, colon, ref = model.partition(":")
    provider_id, model_ref = (provider, ref) if colon else (None, model)
    counts = {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_read_tokens": usage.cached_tokens,
        "cache_write_tokens": usage.cache_write_tokens,
        "output_reasoning_tokens": usage.reasoning_tokens,
        "input_characters": usage.characters,
    }
    package_usage = genai_prices.Usage(**{key: value for key, value in counts.items() if value})
    try:
        calculation = genai_prices.calc_price(
            package_usage, model_ref, provider_id=provider_id, genai_request_timestamp=at
        )
    except LookupError:
        return None
    breakdown = {"input": calculation.input_price, "output": calculation.output_price}
    other = calculation.total_price - calculation.input_price - calculation.output_price
    if other:
        breakdown["other"] = other
    described = (
        f"{calculation.provider.id}/{calculation.model.id}: {_shown(calculation.model_price)}"
    )
    return Decimal(calculation.total_price), breakdown, described


def _shown(model_price: Any) -> str:
    """Return ``str(model_price)``, formatted once per price object (it takes ~0.1 ms)."""
    found = _SHOWN.get(id(model_price))
    if found is None or found[0] is not model_price:
        found = (model_price, str(model_price))
        if len(_SHOWN) < _KEEP_SHOWN:  # bounded: one entry per model price in the package
            _SHOWN[id(model_price)] = found
    return found[1]
