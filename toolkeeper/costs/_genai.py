"""Price usage from the maintained catalog of the ``genai-prices`` package (``toolkeeper[prices]``).

Imported only when a model has no override, so the package is optional.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from toolkeeper._errors import MissingDependencyError
from toolkeeper.costs._genai_rates import Rates, compile_rates
from toolkeeper.costs.model_ids import candidates, unpriced_reason
from toolkeeper.costs.usage import Usage

__all__ = [
    "PackagePrice",
    "package_lookup",
    "package_price",
    "package_providers",
    "package_version",
]

#: (total cost, breakdown by part, description of the matched price).
PackagePrice = tuple[Decimal, dict[str, Decimal], str]

# The package's price objects live as long as its data snapshot; each is kept
# beside its text so its id cannot be reused by another object.
_SHOWN: dict[int, tuple[Any, str]] = {}
_KEEP_SHOWN = 4096
_PROVIDERS: dict[int, tuple[Any, frozenset[str]]] = {}
_RATES: dict[int, tuple[Any, Rates | None]] = {}
#: Per data snapshot: model id -> (provider, model info, reading), or why it is unpriced.
_RESOLVED: dict[int, tuple[Any, dict[str, tuple[Any, Any, str] | str]]] = {}
_KEEP_RESOLVED = 4096


def _module() -> Any:
    try:
        # Deferred: genai-prices is optional (toolkeeper[prices]); its absence is reported, not an
        # ImportError.
        import genai_prices
    except ImportError:
        raise MissingDependencyError("the maintained price catalog", "prices") from None
    return genai_prices


def package_version() -> str | None:
    """Return ``"genai-prices <version>"`` without importing it, or ``None`` if not installed."""
    try:
        return f"genai-prices {version('genai-prices')}"
    except PackageNotFoundError:
        return None


def package_providers() -> frozenset[str] | None:
    """Return the provider ids of the package's catalog, or ``None`` when it is not installed."""
    try:
        # Deferred: genai-prices is optional (toolkeeper[prices]); its absence is reported, not an
        # ImportError.
        import genai_prices
    except ImportError:
        return None
    return _providers(genai_prices)


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
    """Return the package's price of ``usage`` on ``model`` (or ``None``) and why (or why not).

    Which catalog entry prices ``model`` is found once per id and data snapshot
    (:func:`_resolve`); the entry's price in effect at ``at`` is then applied
    through its compiled :class:`~toolkeeper.costs._genai_rates.Rates` when it has
    them, else by the package itself. Both give the same digits.
    """
    genai_prices = _module()
    snapshot = genai_prices.data_snapshot.get_snapshot()
    resolved = _resolve(genai_prices, snapshot, model)
    if isinstance(resolved, str):
        return None, resolved
    provider, info, why = resolved
    model_price = info.get_prices(at)
    rates = _rates(genai_prices, model_price)
    if rates is None or (provider.id == "groq" and info.id.startswith("whisper")):
        calculation = info.calc_price(
            _package_usage(genai_prices, usage), provider, genai_request_timestamp=at
        )
        charged = (calculation.input_price, calculation.output_price, calculation.total_price)
    else:
        charged = rates.charge(
            usage.input_tokens, usage.output_tokens, usage.cached_tokens,
            usage.cache_write_tokens, usage.reasoning_tokens, usage.characters,
        )  # fmt: skip
    input_price, output_price, total = charged
    breakdown = {"input": input_price, "output": output_price}
    other = total - input_price - output_price
    if other:
        breakdown["other"] = other
    described = f"{provider.id}/{info.id}: {_shown(model_price)}; read {why}"
    return (Decimal(total), breakdown, described), described


def _package_usage(genai_prices: Any, usage: Usage) -> Any:
    counts = {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_read_tokens": usage.cached_tokens,
        "cache_write_tokens": usage.cache_write_tokens,
        "output_reasoning_tokens": usage.reasoning_tokens,
        "input_characters": usage.characters,
    }
    return genai_prices.Usage(**{key: value for key, value in counts.items() if value})


def _resolve(genai_prices: Any, snapshot: Any, model: str) -> tuple[Any, Any, str] | str:
    """Return the (provider, model info, reading) that prices ``model``, or why none does.

    Cached per id for the snapshot's lifetime (a new snapshot, from the package's
    updater, starts afresh), bounded to :data:`_KEEP_RESOLVED` ids.
    """
    cache = _RESOLVED.get(id(snapshot))
    if cache is None or cache[0] is not snapshot:
        cache = (snapshot, {})
        _RESOLVED.clear()
        _RESOLVED[id(snapshot)] = cache
    found = cache[1].get(model)
    if found is not None:
        return found
    tried = candidates(model, _providers(genai_prices))
    answer: tuple[Any, Any, str] | str = unpriced_reason(model, tried)
    for candidate in tried:
        try:
            provider, info = snapshot.find_provider_model(
                candidate.model, None, candidate.provider, None
            )
        except LookupError:
            continue
        answer = (provider, info, candidate.why)
        break
    if len(cache[1]) < _KEEP_RESOLVED:
        cache[1][model] = answer
    return answer


def _rates(genai_prices: Any, model_price: Any) -> Rates | None:
    """Return the compiled rates of a package price (compiled once per price object)."""
    found = _RATES.get(id(model_price))
    if found is None or found[0] is not model_price:
        found = (model_price, compile_rates(model_price, genai_prices.Usage))
        if len(_RATES) < _KEEP_SHOWN:  # bounded: one entry per model price in the package
            _RATES[id(model_price)] = found
    return found[1]


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
