"""The price catalog: prices with effective dates, from overrides and the maintained package.

A :class:`Price` charges each part of a :class:`~toolkeeper.costs.Usage` that it
names a price for: uncached input tokens, cached-read, cache-write, output
(non-reasoning) and reasoning tokens per million, requests, characters and
seconds. Cached and cache-write tokens fall back to the input price, and
reasoning tokens to the output price, when the price names none; a part with
no price at all is not charged. Overrides (the configuration file's prices)
win over the ``genai-prices`` package; among overrides of one model, the one
with the latest ``effective`` time not after the call applies.

A model that no source prices is *unpriced*: :attr:`Priced.cost` is ``None``,
never ``0``, so it cannot be summed by mistake.
"""

from __future__ import annotations

import hashlib
import json
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from toolkeeper.costs.model_ids import OverrideIndex, index_overrides, override_key
from toolkeeper.costs.money import NANO, usd
from toolkeeper.costs.usage import Usage

__all__ = ["PRICE_UNITS", "Price", "PriceCatalog", "Priced"]

#: The price fields a :class:`Price` (and an override) may give, in dollars.
PRICE_UNITS = (
    "input_per_mtok",
    "output_per_mtok",
    "cached_read_per_mtok",
    "cache_write_per_mtok",
    "reasoning_per_mtok",
    "per_request",
    "per_character",
    "per_second",
)
_ALWAYS = datetime(1970, 1, 1, tzinfo=UTC)
_UNSEEN = object()
_MAX_ALIASES = 4096
_MILLION = Decimal(1_000_000)


@dataclass(frozen=True, slots=True, kw_only=True)
class Price:
    """The prices of one model from one moment on (``effective``, inclusive, UTC)."""

    model: str
    effective: datetime = _ALWAYS
    input_per_mtok: Decimal | None = None
    output_per_mtok: Decimal | None = None
    cached_read_per_mtok: Decimal | None = None
    cache_write_per_mtok: Decimal | None = None
    reasoning_per_mtok: Decimal | None = None
    per_request: Decimal | None = None
    per_character: Decimal | None = None
    per_second: Decimal | None = None

    def __post_init__(self) -> None:
        if self.effective.tzinfo is None:
            raise ValueError(f"price effective time must be timezone-aware, got {self.effective!r}")
        if all(getattr(self, unit) is None for unit in PRICE_UNITS):
            raise ValueError(f"price of {self.model!r} names no price; give one of {PRICE_UNITS}")
        for unit in PRICE_UNITS:
            value = getattr(self, unit)
            if value is not None and (not isinstance(value, Decimal) or value < 0):
                raise ValueError(f"price {self.model}.{unit} must be a Decimal >= 0, got {value!r}")

    def charge(self, usage: Usage) -> dict[str, Decimal]:
        """Return the exact cost of each charged part of ``usage`` (not yet quantized)."""
        uncached = usage.input_tokens - usage.cached_tokens - usage.cache_write_tokens
        cached_price = _first(self.cached_read_per_mtok, self.input_per_mtok)
        write_price = _first(self.cache_write_per_mtok, self.input_per_mtok)
        reasoning_price = _first(self.reasoning_per_mtok, self.output_per_mtok)
        plain_output = usage.output_tokens - usage.reasoning_tokens
        parts: list[tuple[str, int | Decimal, Decimal | None, Decimal]] = [
            ("input", uncached, self.input_per_mtok, _MILLION),
            ("cached_read", usage.cached_tokens, cached_price, _MILLION),
            ("cache_write", usage.cache_write_tokens, write_price, _MILLION),
            ("output", plain_output, self.output_per_mtok, _MILLION),
            ("reasoning", usage.reasoning_tokens, reasoning_price, _MILLION),
            ("requests", usage.requests, self.per_request, Decimal(1)),
            ("characters", usage.characters, self.per_character, Decimal(1)),
            ("seconds", usage.seconds, self.per_second, Decimal(1)),
        ]
        return {
            name: Decimal(quantity) * unit_price / per
            for name, quantity, unit_price, per in parts
            if unit_price is not None and quantity
        }

    @classmethod
    def from_data(cls, model: str, data: Mapping[str, Any]) -> Price:
        """Build a price from configuration data: unit names to amounts, and ``effective``.

        Amounts are strings or numbers (``"0.5"``, ``"$0.50"``); ``effective`` is a
        date (midnight UTC) or an ISO time. Raises ``ValueError`` naming the field.
        """
        unknown = set(data) - {*PRICE_UNITS, "effective"}
        if unknown:
            raise ValueError(
                f"price of {model!r} has unknown field(s) {sorted(unknown)}; "
                f"known fields: effective, {', '.join(PRICE_UNITS)}"
            )
        values: dict[str, Any] = {"model": model}
        for unit in PRICE_UNITS:
            if data.get(unit) is not None:
                try:
                    values[unit] = _exact(data[unit])
                except (TypeError, ValueError) as exc:
                    raise ValueError(f"price {model}.{unit}: {exc}") from None
        if data.get("effective") is not None:
            values["effective"] = _moment(model, data["effective"])
        return cls(**values)


@dataclass(frozen=True, slots=True, kw_only=True)
class Priced:
    """The cost of one usage: exact dollars, or ``None`` when no source prices the model."""

    model: str
    cost: Decimal | None
    source: str | None
    breakdown: Mapping[str, Decimal] = field(default_factory=dict)
    catalog_version: str = ""

    @property
    def priced(self) -> bool:
        """Return whether a source priced the usage (an unpriced cost is unknown, not zero)."""
        return self.cost is not None


class PriceCatalog:
    """Look up prices: overrides first, then (optionally) the ``genai-prices`` package.

    Immutable once built, so one catalog may be shared by every thread.
    ``package=False`` prices from the overrides alone, without the extra.
    """

    def __init__(self, prices: Iterable[Price] = (), *, package: bool = True) -> None:
        by_model: dict[str, list[Price]] = {}
        for price in prices:
            by_model.setdefault(price.model, []).append(price)
        for model, entries in by_model.items():
            entries.sort(key=lambda entry: entry.effective)
            moments = [entry.effective for entry in entries]
            if len(set(moments)) != len(moments):
                raise ValueError(f"two prices of {model!r} take effect at the same moment")
        self._prices = by_model
        self._package = package
        digest = hashlib.sha256(_canonical(by_model).encode()).hexdigest()[:12]
        self._overrides_version = f"overrides {digest}"
        self._version: str | None = None
        # Which override each id that is not an override's own key reads as (None: none).
        # Built on first use; a dict's single get/set is atomic, so threads may share it.
        self._readings: tuple[OverrideIndex, frozenset[str]] | None = None
        self._aliases: dict[str, str | None] = {}

    @classmethod
    def from_overrides(cls, data: Mapping[str, Any], *, package: bool = True) -> PriceCatalog:
        """Build a catalog from configuration data: model -> a price mapping, or a list of them."""
        prices: list[Price] = []
        for model, entry in data.items():
            entries = entry if isinstance(entry, list) else [entry]
            prices.extend(Price.from_data(model, item) for item in entries)
        return cls(prices, package=package)

    @property
    def version(self) -> str:
        """Return a string naming the prices in use: the overrides' digest and the package."""
        if self._version is None:
            if not self._package:
                self._version = self._overrides_version
            else:
                # Deferred: the genai-prices catalog is optional and slow to load; only a model
                # without a [prices] override needs it.
                from toolkeeper.costs._genai import package_version

                package = package_version() or "genai-prices not installed"
                self._version = f"{self._overrides_version}; {package}"
        return self._version

    def override(self, model: str, *, at: datetime) -> Price | None:
        """Return the override of ``model`` in effect at ``at``, or ``None``.

        ``model`` may name the override's model with a provider prefix, or without
        the one the override was written with (see :meth:`override_key`).
        """
        entries = self._prices.get(model)
        if entries is None:
            key = self.override_key(model)
            if key is None:
                return None
            entries = self._prices[key]
        index = bisect_right([entry.effective for entry in entries], at)
        return entries[index - 1] if index else None

    def override_key(self, model: str) -> str | None:
        """Return the ``[prices]`` id whose overrides price ``model``, or ``None``.

        Read as the catalog reads ids (:mod:`toolkeeper.costs.model_ids`), with the
        providers the ``genai-prices`` catalog knows (without it, the prefixes the
        overrides are written with). Remembered per id, for at most 4,096 ids.
        """
        if model in self._prices:
            return model
        if not self._prices:
            return None
        found = self._aliases.get(model, _UNSEEN)
        if found is not _UNSEEN:
            return found  # type: ignore[return-value]
        if self._readings is None:
            providers = self._providers()
            self._readings = (index_overrides(self._prices, providers), providers)
        index, providers = self._readings
        key = override_key(model, index, providers)
        if len(self._aliases) < _MAX_ALIASES:  # bounded: ids come from responses
            self._aliases[model] = key
        return key

    def _providers(self) -> frozenset[str]:
        """Return the provider ids a prefix may name: the package's, else the overrides' own."""
        if self._package:
            # Deferred: the genai-prices catalog is optional and slow to load; only a model without
            # a [prices] override needs it.
            from toolkeeper.costs._genai import package_providers

            found = package_providers()
            if found is not None:
                return found
        heads = (key.partition("/") for key in self._prices)
        return frozenset(head.lower() for head, slash, rest in heads if slash and rest)

    def price(self, model: str, usage: Usage, *, at: datetime) -> Priced:
        """Price ``usage`` as if made on ``model`` at ``at`` (timezone-aware).

        Raises :class:`~toolkeeper.MissingDependencyError` when the model has no
        override and the package is wanted but not installed.
        """
        if at.tzinfo is None:
            raise ValueError(f"a pricing time must be timezone-aware, got {at!r}")
        version = self.version
        found = self.override(model, at=at)
        if found is not None:
            charged = found.charge(usage)
            breakdown = {name: usd(value) for name, value in charged.items()}
            total = sum(charged.values(), Decimal(0))
            source = f"override effective {found.effective.isoformat()}"
            return Priced(
                model=model,
                cost=total.quantize(NANO),
                source=source,
                breakdown=breakdown,
                catalog_version=version,
            )
        if self._package:
            # Deferred: the genai-prices catalog is optional and slow to load; only a model without
            # a [prices] override needs it.
            from toolkeeper.costs._genai import package_price

            answer = package_price(model, usage, at=at)
            if answer is not None:
                total, parts, described = answer
                return Priced(
                    model=model,
                    cost=usd(total),
                    source=f"genai-prices ({described})",
                    breakdown={name: usd(value) for name, value in parts.items()},
                    catalog_version=version,
                )
        return Priced(model=model, cost=None, source=None, catalog_version=version)

    def explain(self, model: str, *, at: datetime) -> str:
        """Say which catalog entry prices ``model`` at ``at`` and why, or why none does."""
        found = self.override(model, at=at)
        if found is not None:
            key = self.override_key(model)
            read = "" if key == model else f" (read as {key!r})"
            return f"[prices.{key!r}] override effective {found.effective.isoformat()}{read}"
        if not self._package:
            return (
                "no [prices] override, and the genai-prices catalog is not installed "
                "(pip install 'toolkeeper[prices]')"
            )
        # Deferred: the genai-prices catalog is optional and slow to load; only a model without a
        # [prices] override needs it.
        from toolkeeper.costs._genai import package_lookup

        answer, why = package_lookup(model, Usage(model=model), at=at)
        return f"genai-prices: {why}" if answer is not None else f"unpriced: {why}"

    def __repr__(self) -> str:
        return f"PriceCatalog(models={sorted(self._prices)!r}, package={self._package})"


def _first(*values: Decimal | None) -> Decimal | None:
    return next((value for value in values if value is not None), None)


def _exact(value: Any) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(f"expected an amount of dollars, got {value!r}")
    if isinstance(value, str):
        value = value.strip().removeprefix("$").strip()
    try:
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:
        raise ValueError(f"expected an amount of dollars, got {value!r}") from None
    if not number.is_finite() or number < 0:
        raise ValueError(f"expected an amount of dollars >= 0, got {value!r}")
    return number


def _moment(model: str, value: Any) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day, tzinfo=UTC)
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"price {model}.effective = {value!r} is not an ISO date") from None
        if "T" not in value and " " not in value.strip():
            moment = moment.replace(tzinfo=UTC)
    else:
        raise TypeError(f"price {model}.effective = {value!r} is not a date")
    if moment.tzinfo is None:
        raise ValueError(f"price {model}.effective = {value!r} needs a time zone (or a date)")
    return moment.astimezone(UTC)


def _canonical(by_model: Mapping[str, list[Price]]) -> str:
    data = {
        model: [
            {
                f.name: str(value)
                for f in fields(entry)
                if (value := getattr(entry, f.name)) is not None
            }
            for entry in entries
        ]
        for model, entries in sorted(by_model.items())
    }
    return json.dumps(data, sort_keys=True)
