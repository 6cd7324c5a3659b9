"""Exact money: US dollars as :class:`~decimal.Decimal`, quantized to a billionth.

Every amount toolkeeper keeps is a ``Decimal`` with nine decimal places (a
"nano-dollar"), so sums are exact whatever their order; backends that store
integers keep nano-dollars (:func:`to_nanos`, :func:`from_nanos`). A float is
accepted only at the edge and converted through its shortest ``repr``, so
``usd(0.1)`` is ``Decimal("0.100000000")``, never ``0.1000000000000000055…``.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation

from toolkeeper._units import check_money

__all__ = [
    "NANO",
    "from_nanos",
    "nanos_of",
    "parse_budget",
    "parse_money",
    "to_nanos",
    "usd",
]

#: The smallest amount kept: one billionth of a dollar.
NANO = Decimal("0.000000001")
_NANO_EXPONENT = -9
# Floats under 10^12 nano-dollars ($1,000) are within 2^-12 of their decimal value once
# scaled, so rounding them directly is exact unless they lie that close to a half.
_FAST_NANOS = 1e12
_HALF_MARGIN = 0.5 - 2**-10
#: Quantizes any finite amount to nano-dollars exactly (the default 28 digits stop at ~$1e19).
_EXACT = Context(prec=400, rounding=ROUND_HALF_EVEN)

_MONEY = re.compile(
    r"^\s*(?P<neg>-)?\s*\$?\s*(?P<num>\d[\d,_]*(?:\.\d*)?|\.\d+)\s*(?:usd)?\s*$", re.I
)
_PERIODS = {
    "d": "daily",
    "day": "daily",
    "daily": "daily",
    "mo": "monthly",
    "month": "monthly",
    "monthly": "monthly",
}
_ROLLING = re.compile(r"^(?P<hours>\d+)\s*h(?:ours?)?$", re.I)


def usd(value: Decimal | int | float | str) -> Decimal:
    """Return ``value`` as dollars quantized to :data:`NANO` (half-even rounding).

    Strings go through :func:`parse_money`, so ``"$1,200.50"`` is accepted.
    Raises ``ValueError`` for a value that is not a finite number (``TypeError`` for a bool).
    """
    if isinstance(value, bool):
        raise TypeError(f"an amount of money must be a number, got {value!r}")
    if isinstance(value, str):
        return parse_money(value)
    number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if not number.is_finite():
        raise ValueError(f"an amount of money must be finite, got {value!r}")
    return number.quantize(NANO, context=_EXACT)


def parse_money(text: str) -> Decimal:
    """Parse a human amount such as ``"$50"``, ``"1,200.50"`` or ``"0.002 USD"``.

    Raises ``ValueError`` naming the text when it is not an amount of dollars.
    """
    match = _MONEY.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not an amount of dollars; write it like '$50' or '0.25'")
    digits = match["num"].replace(",", "").replace("_", "")
    try:
        number = Decimal(digits)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not an amount of dollars") from None
    if match["neg"]:
        number = -number
    return number.quantize(NANO, context=_EXACT)


def parse_budget(text: str) -> tuple[Decimal, str]:
    """Parse ``"$50/day"``, ``"$1500/month"`` or ``"$5/24h"`` into (limit, period).

    The period is ``"daily"``, ``"monthly"`` or ``"rolling:<N>h"``. Raises
    ``ValueError`` naming the text and the accepted forms.
    """
    amount_text, slash, period_text = text.partition("/")
    if not slash:
        raise ValueError(
            f"{text!r} is not a budget; write an amount and a period: '$50/day', "
            "'$1500/month' or '$5/24h'"
        )
    amount = parse_money(amount_text)
    if amount < 0:
        raise ValueError(f"a budget cannot be negative, got {text!r}")
    check_money(amount, f"the limit of {text!r}")
    word = period_text.strip().lower()
    if word in _PERIODS:
        return amount, _PERIODS[word]
    rolling = _ROLLING.match(word)
    if rolling is not None and int(rolling["hours"]) > 0:
        return amount, f"rolling:{int(rolling['hours'])}h"
    raise ValueError(
        f"{period_text.strip()!r} in {text!r} is not a budget period; "
        "use day, month or a number of hours such as 24h"
    )


def to_nanos(amount: Decimal) -> int:
    """Return ``amount`` in whole nano-dollars (quantizing it first)."""
    if amount.as_tuple().exponent == _NANO_EXPONENT:
        return int(amount.scaleb(9))
    return int(usd(amount).scaleb(9))


def nanos_of(value: Decimal | float | int) -> int:
    """Return ``value`` dollars in whole nano-dollars, exactly as ``to_nanos(usd(value))``.

    A float is converted without Decimal work when that cannot change the
    result: its product by 10^9 is small enough to be within a thousandth of
    the exact one, and not that close to a half (where rounding could differ).
    """
    if type(value) is float:
        scaled = value * 1e9
        if -_FAST_NANOS < scaled < _FAST_NANOS:
            whole = round(scaled)
            if abs(scaled - whole) < _HALF_MARGIN:
                return whole
    return to_nanos(usd(value))


def from_nanos(nanos: int) -> Decimal:
    """Return a whole number of nano-dollars as dollars."""
    return Decimal(nanos).scaleb(_NANO_EXPONENT, context=_EXACT)
