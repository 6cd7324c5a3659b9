"""LatencySketch: quantiles within 1% of the exact sorted value, exact merges, ddsketch keys."""

from __future__ import annotations

import math
import random

import pytest
from ddsketch import DDSketch
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkeeper.monitor.sketch import RELATIVE_ACCURACY, LatencySketch, bin_key

TOLERANCE = RELATIVE_ACCURACY * (1 + 1e-9)  # float rounding at exact bin edges
QUANTILES = (0.0, 0.01, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1.0)
latencies = st.lists(
    st.floats(min_value=1e-6, max_value=1e4, allow_nan=False, allow_infinity=False),
    min_size=1,
    max_size=300,
)


def exact(values: list[float], q: float) -> float:
    """Return the element of rank ``floor(q * (n - 1))``, the value the sketch estimates."""
    ordered = sorted(values)
    return ordered[math.floor(q * (len(ordered) - 1))]


@settings(max_examples=200, deadline=None)
@given(latencies)
def test_quantiles_are_within_one_percent_of_the_exact_value(values: list[float]) -> None:
    """Every quantile is within 1% relative error of the exact sorted computation."""
    sketch = LatencySketch()
    for value in values:
        sketch.add(value)
    for q, estimate in zip(QUANTILES, sketch.quantiles(QUANTILES), strict=True):
        truth = exact(values, q)
        assert estimate is not None
        assert abs(estimate - truth) <= TOLERANCE * truth


@settings(max_examples=100, deadline=None)
@given(latencies, latencies)
def test_merging_equals_adding_everything_to_one_sketch(a: list[float], b: list[float]) -> None:
    """Merging two sketches gives the same bins as one sketch of both lists."""
    left, right, whole = LatencySketch(), LatencySketch(), LatencySketch()
    for value in a:
        left.add(value)
        whole.add(value)
    for value in b:
        right.add(value)
        whole.add(value)
    left.merge(right)
    assert left.bins == whole.bins
    assert left.count == len(a) + len(b)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(min_value=-1.0, max_value=1e4, allow_nan=False), max_size=200))
def test_add_many_equals_add_one_by_one(values: list[float]) -> None:
    """The C-level batch path counts exactly what the one-by-one path counts."""
    one, many = LatencySketch(), LatencySketch()
    for value in values:
        one.add(value)
    many.add_many(values)
    assert (one.bins, one.zero_count) == (many.bins, many.zero_count)


def test_keys_are_those_of_the_ddsketch_package() -> None:
    """Bin keys match ``ddsketch``'s logarithmic mapping at 1%, so sketches can be exchanged."""
    reference = DDSketch(relative_accuracy=RELATIVE_ACCURACY)
    rng = random.Random(7)
    for _ in range(1000):
        value = rng.lognormvariate(-3, 2)
        assert bin_key(value) == reference._mapping.key(value)


def test_zero_and_tiny_values_count_as_zero() -> None:
    """Zero, negative and sub-nanosecond durations are counted, as zero."""
    sketch = LatencySketch()
    for value in (0.0, -1.0, 1e-12, 0.5):
        sketch.add(value)
    assert sketch.count == 4
    assert sketch.quantile(0.0) == 0.0
    assert sketch.quantile(0.5) == 0.0
    assert sketch.quantile(1.0) == pytest.approx(0.5, rel=RELATIVE_ACCURACY)


def test_empty_sketch_has_no_quantiles_and_rejects_bad_ones() -> None:
    """An empty sketch answers ``None``; a quantile outside [0, 1] is an error naming it."""
    sketch = LatencySketch()
    assert sketch.quantile(0.5) is None
    with pytest.raises(ValueError, match=r"quantile 1\.5"):
        sketch.quantile(1.5)


def test_cumulative_count_and_dict_round_trip() -> None:
    """Cumulative counts follow the values; ``to_dict``/``from_dict`` keep every bin."""
    sketch = LatencySketch()
    sketch.add_many([0.001] * 3 + [0.1] * 5 + [2.0] * 2 + [0.0])
    assert sketch.cumulative_count(0.0) == 1
    assert sketch.cumulative_count(0.05) == 4
    assert sketch.cumulative_count(1.0) == 9
    assert sketch.cumulative_count(100.0) == 11
    copy = LatencySketch.from_dict(sketch.to_dict())
    assert (copy.bins, copy.zero_count) == (sketch.bins, sketch.zero_count)
