"""Price usage from the maintained catalog of the ``genai-prices`` package (``toolkeeper[prices]``).

Imported only when a model has no override, so the package is optional.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from toolkeeper._errors import MissingDependencyError
from toolkeeper.costs.model_ids import candidates, unpriced_reason
from toolkeeper.costs.usage import Usage

__all__ = ["PackagePrice", "package_lookup", "package_price", "package_version"]

#: (total cost, breakdown by part, description of the matched price).
PackagePrice = tuple[Decimal, dict[str, Decimal], str]

# The package's price objects live as long as its data snapshot; each is kept
# beside its text so its id cannot be reused by another object.
_SHOWN: dict[int, tuple[Any, str]] = {}
_KEEP_SHOWN = 4096
_PROVIDERS: dict[int, tuple[Any, frozenset[str]]] = {}


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

    The id is read as :func:`toolkeeper.costs.model_ids.candidates` says
    (``openai:gpt-4o``, ``openai/gpt-4o``, ``ft:gpt-4o-mini:org::id``, Bedrock
    ids…); the description names the catalog entry and the reading that found
    it. Per-request and per-second quantities are not priced here: the
    package prices tokens and characters.
    """
    found, _ = package_lookup(model, usage, at=at)
    return found


def package_lookup(model: str, usage: Usage, *, at: datetime) -> tuple[PackagePrice | None, str]:
    """Return the package's price of ``usage`` on ``model`` (or ``None``) and why (or why not)."""
    genai_prices = _module()
    counts = {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_read_tokens": usage.cached_tokens,
        "cache_write_tokens": usage.cache_write_tokens,
        "output_reasoning_tokens": usage.reasoning_tokens,
        "input_characters": usage.characters,
    }
    package_usage = genai_prices.Usage(**{key: value for key, value in counts.items() if value})
    tried = candidates(model, _providers(genai_prices))
    for candidate in tried:
        try:
            calculation = genai_prices.calc_price(
                package_usage, candidate.model, provider_id=candidate.provider,
                genai_request_timestamp=at,
            )  # fmt: skip
        except LookupError:
            continue
        breakdown = {"input": calculation.input_price, "output": calculation.output_price}
        other = calculation.total_price - calculation.input_price - calculation.output_price
        if other:
            breakdown["other"] = other
        entry = f"{calculation.provider.id}/{calculation.model.id}"
        described = f"{entry}: {_shown(calculation.model_price)}; read {candidate.why}"
        return (Decimal(calculation.total_price), breakdown, described), described
    return None, unpriced_reason(model, tried)


def _providers(genai_prices: Any) -> frozenset[str]:
    """Return the ids of the providers in the package's current data (cached per snapshot)."""
    snapshot = genai_prices.data_snapshot.get_snapshot()
    cached = _PROVIDERS.get(id(snapshot))
    if cached is None or cached[0] is not snapshot:
        cached = (snapshot, frozenset(provider.id for provider in snapshot.providers))
        _PROVIDERS.clear()
        _PROVIDERS[id(snapshot)] = cached
    return cached[1]


def _shown(model_price: Any) -> str:
    """Return ``str(model_price)``, formatted once per price object (it takes ~0.1 ms)."""
    found = _SHOWN.get(id(model_price))
    if found is None or found[0] is not model_price:
        found = (model_price, str(model_price))
        if len(_SHOWN) < _KEEP_SHOWN:  # bounded: one entry per model price in the package
            _SHOWN[id(model_price)] = found
    return found[1]
