"""Units: the one money format (format_money, money_json, check_money), the one duration grammar."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from toolkeeper import ConfigValidationError, ExternalToolConfig, format_money
from toolkeeper._units import (
    DURATION_UNITS,
    MAX_MONEY,
    check_money,
    duration_seconds,
    money_json,
    parse_duration,
)
from toolkeeper.costs import Budget, Period, parse_budget, usd

amounts = st.decimals(min_value=Decimal(0), max_value=MAX_MONEY, places=9, allow_nan=False)


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        ("0.305191", "$0.3052"),
        ("0.05486385", "$0.05486"),
        ("0.000104733", "$0.0001047"),
        ("0E-9", "$0.00"),
        ("0.25", "$0.25"),
        ("0.2", "$0.20"),
        ("0.2507", "$0.2507"),
        ("1.08", "$1.08"),
        ("1234.5", "$1,234.50"),
        ("-2.5", "-$2.50"),
        ("0.000000001", "$0.000000001"),
        ("0.99996", "$1.00"),
    ],
)
def test_format_money_shows_cents_or_four_significant_digits(amount: str, shown: str) -> None:
    """Show cents from a dollar up and four significant digits below, in one rule."""
    assert format_money(Decimal(amount)) == shown


def test_format_money_shows_a_missing_figure_as_told() -> None:
    """Show None as the dash pages use, or the placeholder the caller gives."""
    assert format_money(None) == "\u2013"
    assert format_money(None, missing="-") == "-"


def test_format_money_takes_floats_through_their_shortest_repr() -> None:
    """Show a float cost such as 1e-05 without exponent notation."""
    assert format_money(1e-05) == "$0.00001"
    assert format_money(0.1) == "$0.10"


@given(amounts)
def test_money_json_is_exact_and_never_in_exponent_form(amount: Decimal) -> None:
    """Write any amount as a plain decimal string that parses back to the same dollars."""
    text = money_json(amount)
    assert "e" not in text.lower()
    assert Decimal(text) == usd(amount)
    assert text == "0" or not text.endswith("0") or "." not in text


@pytest.mark.parametrize(
    ("amount", "text"),
    [("0E-9", "0"), ("1E+3", "1000"), ("0.007500000", "0.0075"), ("2", "2"), (1e-05, "0.00001")],
)
def test_money_json_writes_plain_decimals(amount: Decimal | float | str, text: str) -> None:
    """Write 0E-9 as "0", 1E+3 as "1000" and drop trailing zeros."""
    assert money_json(Decimal(amount) if isinstance(amount, str) else amount) == text


@given(st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False))
def test_format_money_never_uses_exponent_form(amount: float) -> None:
    """Show any cost a record may hold as a dollar figure without exponent notation."""
    shown = format_money(amount)
    assert shown.startswith("$")
    assert "e" not in shown.lower()


def test_a_daily_budget_beyond_what_the_ledger_holds_is_a_validation_error() -> None:
    """Reject a daily_budget of 1e19 naming the field, the value and the rule."""
    with pytest.raises(ConfigValidationError) as caught:
        ExternalToolConfig(daily_budget=Decimal("1e19"))
    message = str(caught.value)
    assert "daily_budget" in message
    assert "10000000000000000000" in message
    assert "$1,000,000,000.00" in message


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-1"])
def test_a_money_field_rejects_what_is_not_an_amount(value: str) -> None:
    """Reject NaN, infinity and negative monthly budgets."""
    with pytest.raises(ConfigValidationError, match="monthly_budget"):
        ExternalToolConfig(monthly_budget=value)


def test_the_largest_budget_is_accepted_and_enforceable() -> None:
    """Accept a budget of exactly MAX_MONEY and build its ledger marks without error."""
    config = ExternalToolConfig(daily_budget=MAX_MONEY)
    assert config.daily_budget == MAX_MONEY
    budget = Budget(scope="tool:x", limit=MAX_MONEY, period=Period("daily"))
    assert budget.limit == MAX_MONEY


def test_budgets_from_text_and_code_are_bounded_too() -> None:
    """Refuse a [[budgets]] limit and a Budget beyond MAX_MONEY with the rule."""
    with pytest.raises(ValueError, match="out of range"):
        parse_budget("$10000000000000000000/day")
    with pytest.raises(ValueError, match="budget limit of tool:x"):
        Budget(scope="tool:x", limit=Decimal("1e19"), period=Period("daily"))


def test_check_money_names_the_field() -> None:
    """Name the field, the value and the rule in the error."""
    with pytest.raises(ValueError, match=r"estimated_cost: 'abc' is not an amount of dollars"):
        check_money("abc", "estimated_cost")
    assert check_money("0.25", "estimated_cost") == Decimal("0.25")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90.0), (" 5M ", 300.0), ("1.5h", 5400.0), ("2d", 172800.0), ("250ms", 0.25),
     ("1w", 604800.0)],
)  # fmt: skip
def test_duration_seconds_reads_a_number_and_a_unit(text: str, seconds: float) -> None:
    """The one duration grammar reads a number and a unit, whatever the unit's case."""
    assert duration_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "h", "5 hours", "-5m", "5m ago", "1e3s"])
def test_duration_seconds_is_none_for_what_is_not_a_duration(text: str) -> None:
    """Text that is not a number and a unit is not a duration."""
    assert duration_seconds(text) is None


def test_a_reader_may_accept_fewer_units() -> None:
    """A unit outside the reader's own makes the text not a duration, as the API's ``since``."""
    assert duration_seconds("2w", units=("s", "m", "h", "d")) is None
    assert duration_seconds("2D", units=("s", "m", "h", "d")) == 172800.0


@given(st.integers(min_value=0, max_value=10**6), st.sampled_from(sorted(DURATION_UNITS)))
def test_parse_duration_agrees_with_duration_seconds(number: int, unit: str) -> None:
    """parse_duration reads what duration_seconds reads, within its longest duration."""
    text = f"{number}{unit}"
    seconds = duration_seconds(text)
    assert seconds == number * DURATION_UNITS[unit]
    if seconds <= 36500 * 86400:
        assert parse_duration(text).total_seconds() == pytest.approx(seconds)
    else:
        with pytest.raises(ValueError, match="longer than the longest duration"):
            parse_duration(text)
