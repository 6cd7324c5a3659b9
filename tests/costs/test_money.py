"""Exact money: Decimal dollars quantized to a billionth, and human amounts parsed at the edge."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from toolkeeper.costs import parse_budget, parse_money, usd
from toolkeeper.costs.money import NANO, from_nanos, nanos_of, to_nanos

amounts = st.decimals(
    min_value=Decimal("-1e12"), max_value=Decimal("1e12"), places=9, allow_nan=False
)


def test_a_million_micro_dollars_sum_to_exactly_one_dollar() -> None:
    """Sum 1,000,000 costs of $0.000001 to exactly $1."""
    cost = usd("0.000001")
    total = sum((cost for _ in range(1_000_000)), Decimal(0))
    assert total == Decimal(1)
    assert usd(total) == Decimal("1.000000000")


def test_floats_enter_through_their_shortest_repr() -> None:
    """Turn 0.1 into exactly one tenth, not the float's binary expansion."""
    assert usd(0.1) == Decimal("0.1")
    assert usd(0.1) + usd(0.2) == usd("0.3")
    assert usd(1) == Decimal(1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$50", "50"),
        ("1,200.50", "1200.50"),
        ("0.002 USD", "0.002"),
        (" $ .5 ", "0.5"),
        ("-$3", "-3"),
        ("0.0000000004", "0"),
    ],
)
def test_parse_money_reads_human_amounts(text: str, expected: str) -> None:
    """Read dollar signs, thousands separators, a USD suffix and round to a billionth."""
    assert parse_money(text) == Decimal(expected)


@pytest.mark.parametrize("text", ["", "fifty", "$", "1.2.3", "€5", "nan", "inf"])
def test_parse_money_refuses_what_is_not_an_amount(text: str) -> None:
    """Name the text that is not an amount of dollars."""
    with pytest.raises(ValueError, match="not an amount"):
        parse_money(text)


def test_usd_refuses_non_numbers() -> None:
    """Refuse booleans, NaN and infinities."""
    with pytest.raises(TypeError):
        usd(True)
    with pytest.raises(ValueError, match="finite"):
        usd(Decimal("NaN"))
    with pytest.raises(ValueError, match="finite"):
        usd(float("inf"))


@pytest.mark.parametrize(
    ("text", "limit", "period"),
    [
        ("$50/day", "50", "daily"),
        ("$1,500/month", "1500", "monthly"),
        ("5 / daily", "5", "daily"),
        ("$5/24h", "5", "rolling:24h"),
        ("$0.50/6 hours", "0.5", "rolling:6h"),
    ],
)
def test_parse_budget_reads_amount_and_period(text: str, limit: str, period: str) -> None:
    """Read '$50/day', '$1500/month' and '$5/24h' into a limit and a period."""
    assert parse_budget(text) == (Decimal(limit), period)


@pytest.mark.parametrize(
    ("text", "rule"),
    [("$50", "amount and a period"), ("$50/week", "not a budget period"), ("-$1/day", "negative")],
)
def test_parse_budget_names_the_rule_broken(text: str, rule: str) -> None:
    """Say what is wrong with a budget that cannot be read."""
    with pytest.raises(ValueError, match=rule):
        parse_budget(text)


@given(amounts)
def test_parse_money_round_trips_any_amount(amount: Decimal) -> None:
    """Parse back exactly the plain decimal notation of any amount."""
    assert parse_money(f"{amount:f}") == amount


@given(amounts)
def test_nanos_round_trip_exactly(amount: Decimal) -> None:
    """Convert dollars to whole nano-dollars and back without loss."""
    nanos = to_nanos(amount)
    assert isinstance(nanos, int)
    assert from_nanos(nanos) == amount
    assert from_nanos(nanos).as_tuple().exponent == NANO.as_tuple().exponent


@given(
    st.one_of(
        st.floats(min_value=-2e3, max_value=2e3, allow_nan=False),
        st.decimals(min_value=Decimal("-1e6"), max_value=Decimal("1e6"), places=12),
        st.integers(min_value=-(10**6), max_value=10**6),
        # Halves of a nano-dollar and their neighbours: where a shortcut would round wrongly.
        st.integers(min_value=-(10**12), max_value=10**12).map(lambda n: (n + 0.5) / 1e9),
    )
)
def test_nanos_of_is_exactly_the_quantized_amount(value: float | Decimal | int) -> None:
    """Convert any float, Decimal or int to the same nano-dollars as usd then to_nanos."""
    assert nanos_of(value) == to_nanos(usd(value))


def test_nanos_of_rejects_what_is_not_money() -> None:
    """Refuse NaN and infinities with the value named, like usd."""
    with pytest.raises(ValueError, match="nan"):
        nanos_of(float("nan"))
    with pytest.raises(ValueError, match="inf"):
        nanos_of(float("inf"))
