"""Per-token rates of one ``genai-prices`` model price, compiled once and applied exactly.

``ModelPrice.calc_price`` resolves its units, validates them and decomposes the
usage on every call (~100 µs). For the prices of text models (plain ``Decimal``
amounts per input, cached-read, cache-write, output and reasoning token, per
character and per thousand requests) the result is a fixed sum: each priced
part's count (the leaf count: input tokens less the cached and cache-write
tokens that have prices of their own, output tokens less the priced reasoning
ones) times its price, divided by its unit. :class:`Rates` does that sum with the
same ``Decimal`` operations in the same order as the package, so the totals are
identical to the digit; :func:`compile_rates` proves it on one probe per count
before handing a :class:`Rates` out, and gives ``None`` (the package prices every
call itself) for a price the probes disagree with. A tiered price (the rate of every
token set by how many input tokens the call had) is applied as the package applies it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

__all__ = ["Rates", "compile_rates"]

#: price key -> (the usage count it prices, its unit, its direction).
_UNITS: dict[str, tuple[str, int, str | None]] = {
    "input_mtok": ("input_tokens", 1_000_000, "input"),
    "cache_read_mtok": ("cache_read_tokens", 1_000_000, "input"),
    "cache_write_mtok": ("cache_write_tokens", 1_000_000, "input"),
    "output_mtok": ("output_tokens", 1_000_000, "output"),
    "output_reasoning_mtok": ("output_reasoning_tokens", 1_000_000, "output"),
    "input_mchars": ("input_characters", 1_000_000, "input"),
    "requests_kcount": ("requests", 1_000, None),
}
#: (input, output, cached read, cache write, reasoning, characters) of the probes.
_PROBES = (
    (1_000_003, 0, 0, 0, 0, 0),
    (700_001, 0, 700_001, 0, 0, 0),
    (300_007, 0, 0, 300_007, 0, 0),
    (0, 90_001, 0, 0, 0, 0),
    (0, 50_021, 0, 0, 50_021, 0),
    (0, 0, 0, 0, 0, 4_000_037),
    (1_009, 0, 0, 0, 0, 0),
    (1_009, 2_003, 101, 53, 11, 0),
    (2_000_011, 400_009, 600_011, 100_019, 30_011, 0),
    (2_000_011, 400_009, 600_011, 100_019, 30_011, 5_003),
)

#: A plain price, or a tiered one: (base, ((start, price), …) highest start first).
Price = Decimal | tuple[Decimal, tuple[tuple[int, Decimal], ...]]
#: (input price, output price, total price) of one usage.
Charged = tuple[Decimal, Decimal, Decimal]


#: price key -> the index of its count in :meth:`Rates.charge`'s leaf counts.
#: Unknown keys get the last index: a count of 0.
_COUNT_INDEX = {key: index for index, key in enumerate(_UNITS)}
_NOT_COUNTED = len(_UNITS)


class Rates:
    """A model price's parts, in the package's order: (price key, price, unit, direction)."""

    __slots__ = ("_less_cache_write", "_less_cached", "_less_reasoning", "_steps", "parts")

    def __init__(self, parts: tuple[tuple[str, Price, int, str | None], ...]) -> None:
        self.parts = parts
        keys = {key for key, _, _, _ in parts}
        self._less_cached = "cache_read_mtok" in keys
        self._less_cache_write = "cache_write_mtok" in keys
        self._less_reasoning = "output_reasoning_mtok" in keys
        self._steps = tuple(
            (_COUNT_INDEX.get(key, _NOT_COUNTED), price, per, direction)
            for key, price, per, direction in parts
        )

    def charge(  # noqa: PLR0917 - the six counts a price reads
        self, input_tokens: int, output_tokens: int, cached: int, cache_write: int,
        reasoning: int, characters: int,
    ) -> Charged:  # fmt: skip
        """Return the input, output and total price of these counts, as the package computes them.

        A count that has a price of its own is taken out of the count it is part of
        (cached and cache-write out of input, reasoning out of output), as the
        package's leaf decomposition does.
        """
        uncached = input_tokens
        if self._less_cached:
            uncached -= cached
        if self._less_cache_write:
            uncached -= cache_write
        plain_output = output_tokens - reasoning if self._less_reasoning else output_tokens
        counts = (uncached, cached, cache_write, plain_output, reasoning, characters, 1, 0)
        input_price = output_price = total = Decimal(0)
        for index, price, per, direction in self._steps:
            if isinstance(price, Decimal):
                rate = price
            else:  # tiered: every token at the rate of the tier the input tokens reach
                base, tiers = price
                rate = next((at for start, at in tiers if input_tokens > start), base)
            amount = rate * Decimal(counts[index]) / per
            total += amount
            if direction == "input":
                input_price += amount
            elif direction == "output":
                output_price += amount
        return input_price, output_price, total

    def __repr__(self) -> str:
        return f"Rates({', '.join(f'{key}={price}' for key, price, _, _ in self.parts)})"


def _tiered(value: Any) -> tuple[Decimal, tuple[tuple[int, Decimal], ...]] | None:
    """Return a package ``TieredPrices`` as (base, tiers highest start first), else ``None``."""
    base, tiers = getattr(value, "base", None), getattr(value, "tiers", None)
    if type(base) is not Decimal or not isinstance(tiers, list):
        return None
    found = []
    for tier in tiers:
        start, price = getattr(tier, "start", None), getattr(tier, "price", None)
        if type(start) is not int or start < 0 or type(price) is not Decimal:
            return None
        found.append((start, price))
    found.sort(key=lambda tier: tier[0])
    return base, tuple(reversed(found))


def _amounts(price: Price) -> list[Decimal]:
    if isinstance(price, Decimal):
        return [price]
    return [price[0], *(amount for _, amount in price[1])]


def _exact(amount: Decimal) -> bool:
    return amount.is_finite() and amount >= 0


def compile_rates(model_price: Any, usage_type: Any) -> Rates | None:
    """Return the rates of a package ``ModelPrice``, or ``None`` when the package must price it.

    ``usage_type`` is the package's ``Usage``, used to check the rates against
    ``model_price.calc_price`` on every probe.
    """
    parts: list[tuple[str, Price, int, str | None]] = []
    for key, value in vars(model_price).items():
        if key.startswith("_") or value is None:
            continue
        if type(value) is Decimal:
            price: Price = value
        else:
            tiered = _tiered(value)
            if tiered is None:
                return None
            price = tiered
        if not all(_exact(amount) for amount in _amounts(price)):
            return None
        # A unit toolkeeper never counts (web searches, audio…) is charged for 0 of it, as the
        # package does for a count the usage does not report.
        _, per, direction = _UNITS.get(key, ("", 1, None))
        parts.append((key, price, per, direction))
    rates = Rates(tuple(parts))
    for probe in _PROBES:
        input_tokens, output_tokens, cached, cache_write, reasoning, characters = probe
        counts = {
            "input_tokens": input_tokens, "output_tokens": output_tokens,
            "cache_read_tokens": cached, "cache_write_tokens": cache_write,
            "output_reasoning_tokens": reasoning, "input_characters": characters,
        }  # fmt: skip
        try:
            expected = model_price.calc_price(
                usage_type(**{key: value for key, value in counts.items() if value})
            )
        except (ValueError, LookupError):
            return None
        got = rates.charge(*probe)
        wanted = (expected["input_price"], expected["output_price"], expected["total_price"])
        if any(a != b or str(a) != str(b) for a, b in zip(got, wanted, strict=True)):
            return None
    return rates
