"""Human units: durations people write (``90s``, ``5m``, ``1h``) and money people read.

Money has one format everywhere toolkeeper shows it (CLI, API, pages; see
docs/money.md): :func:`format_money` for people, :func:`money_json` for
machines. Both take the amounts toolkeeper keeps, ``Decimal`` dollars with at
most nine decimals, and never write exponent notation.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import timedelta
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation

__all__ = [
    "DURATION_UNITS",
    "MAX_MONEY",
    "check_money",
    "duration_seconds",
    "format_money",
    "money_json",
    "parse_duration",
]

#: The largest amount a money field (a budget, a price, an estimate) may hold: the
#: budget ledgers keep nano-dollars in signed 64-bit integers (at most ~9.2e18), so
#: one billion dollars leaves room for a period's sums.
MAX_MONEY = Decimal(1_000_000_000)

#: Significant digits shown below a dollar; at or above a dollar, cents.
_SIGNIFICANT = 4
_MAX_DECIMALS = 9
_NANO = Decimal(1).scaleb(-_MAX_DECIMALS)
#: Enough digits to quantize any finite amount people type to nine decimals exactly.
_EXACT = Context(prec=400, rounding=ROUND_HALF_EVEN)

#: The one duration grammar: a number and a unit. Each reader may accept fewer units.
DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_LONGEST = timedelta(days=36500)


def duration_seconds(text: str, *, units: Collection[str] = tuple(DURATION_UNITS)) -> float | None:
    """Return the seconds ``text`` (``90s``, ``5m``, ``1h``, ``7d``) stands for, else ``None``.

    Units are case-insensitive; a unit outside ``units`` makes ``text`` not a duration.
    """
    match = _DURATION.match(text.lower())
    if match is None or match.group(2) not in units:
        return None
    return float(match.group(1)) * DURATION_UNITS[match.group(2)]


def parse_duration(text: str) -> timedelta:
    """Return the duration written as a number and a unit: ms, s, m, h, d or w."""
    seconds = duration_seconds(text)
    if seconds is None:
        raise ValueError(
            f"{text!r} is not a duration; write a number and a unit such as 90s, 5m, 1h, 7d"
        )
    if not seconds <= _LONGEST.total_seconds():
        raise ValueError(
            f"{text!r} is longer than the longest duration accepted ({_LONGEST.days}d, 100 years)"
        )
    return timedelta(seconds=seconds)


def _decimal(amount: Decimal | float | int | str) -> Decimal:
    """Return ``amount`` as a finite Decimal (a float through its shortest repr)."""
    if isinstance(amount, bool):
        raise TypeError(f"an amount of money must be a number, got {amount!r}")
    try:
        number = Decimal(repr(amount)) if isinstance(amount, float) else Decimal(amount)
    except InvalidOperation:
        raise ValueError(f"{amount!r} is not an amount of money") from None
    if not number.is_finite():
        raise ValueError(f"an amount of money must be finite, got {amount!r}")
    return number


def format_money(amount: Decimal | float | int | str | None, *, missing: str = "\u2013") -> str:
    """Show dollars for people: cents from a dollar up, four significant digits below.

    ``$1,234.50``, ``$0.25``, ``$0.3052``, ``$0.0001047``, ``$0.00``; at most nine
    decimals, rounded half-even, never exponent notation. ``None`` (no figure)
    shows ``missing``.
    """
    if amount is None:
        return missing
    number = _decimal(amount)
    size = abs(number)
    if size >= 1 or size == 0:
        decimals = 2
    else:
        decimals = min(_MAX_DECIMALS, max(2, _SIGNIFICANT - 1 - size.adjusted()))
    shown = size.quantize(Decimal(1).scaleb(-decimals), context=_EXACT)
    whole, _, fraction = f"{shown:,f}".partition(".")
    fraction = fraction.rstrip("0").ljust(2, "0")
    sign = "-" if number < 0 and shown != 0 else ""
    return f"{sign}${whole}.{fraction}"


def money_json(amount: Decimal | float | int | str) -> str:
    """Write dollars for machines: the exact decimal string, at most nine decimals.

    ``"0.0075"``, ``"1.08"``, ``"0"``, ``"1000000"``: no trailing zeros, no
    exponent (``"0E-9"`` and ``"1E+3"`` never appear). Parse it back with
    ``Decimal(text)``.
    """
    number = _decimal(amount).quantize(_NANO, context=_EXACT)
    if number == 0:
        return "0"
    text = f"{number:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def check_money(value: Decimal | float | int | str, field: str | None = None) -> Decimal:
    """Return ``value`` as dollars if a money field can hold it, else raise ``ValueError``.

    The rule: a finite number from 0 to :data:`MAX_MONEY`. The message gives
    the value and the rule, after ``field`` when it is named.
    """
    where = f"{field}: " if field else ""
    try:
        number = _decimal(value)
    except (TypeError, ValueError):
        raise ValueError(
            f"{where}{value!r} is not an amount of dollars; write a number such as 0.25"
        ) from None
    if not 0 <= number <= MAX_MONEY:
        shown = f"{number:f}" if number.adjusted() < 40 else str(number)
        raise ValueError(
            f"{where}{shown} is out of range: an amount of money must be from $0.00 "
            f"to {format_money(MAX_MONEY)} (the most a budget ledger holds)"
        )
    return number
