"""LatencySketch: quantiles within 1% of the exact sorted value, exact merges, stored keys."""

from __future__ import annotations

import math
import random

import pytest
from ddsketch import DDSketch
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkeeper.monitor.sketch import RELATIVE_ACCURACY, LatencySketch, bin_key, bin_value

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


def test_every_bin_is_narrow_enough_for_one_percent() -> None:
    """Each bin spans at most 1/64 of its low end, and its value is within 1/129 of both ends."""
    rng = random.Random(7)
    for _ in range(1000):
        value = rng.lognormvariate(-3, 2)
        key = bin_key(value)
        estimate = bin_value(key)
        assert abs(estimate - value) <= value / 129 * (1 + 1e-9)
    for exponent in range(-30, 30):
        low = 2.0**exponent
        assert bin_key(low * (1 + 1 / 64)) == bin_key(low) + 1
        assert bin_key(math.nextafter(low, 0.0)) == bin_key(low) - 1


def test_sketches_stored_with_the_logarithmic_mapping_are_read_within_accuracy() -> None:
    """A sketch stored by an earlier version (log-mapped keys, no mapping name) reads right."""
    reference = DDSketch(relative_accuracy=RELATIVE_ACCURACY)
    rng = random.Random(11)
    values = [rng.lognormvariate(-4, 1.5) for _ in range(2000)]
    old_bins: dict[str, int] = {}
    for value in values:
        key = str(reference._mapping.key(value))
        old_bins[key] = old_bins.get(key, 0) + 1
    sketch = LatencySketch.from_dict({"zero_count": 3, "bins": old_bins})
    assert sketch.count == len(values) + 3
    for q in (0.5, 0.9, 0.99):
        truth = exact([0.0] * 3 + values, q)
        estimate = sketch.quantile(q)
        assert estimate is not None
        assert abs(estimate - truth) <= 0.02 * truth  # two roundings of 1% each
    with pytest.raises(ValueError, match="mapping 'other'"):
        LatencySketch.from_dict({"mapping": "other", "bins": {}})


def test_zero_and_tiny_values_count_as_zero() -> None:
    """Zero, negative and sub-nanosecond durations are counted, as zero."""
    sketch = LatencySketch()
    for value in (0.0, -1.0, 1e-12, math.inf, math.nan, 0.5):
        sketch.add(value)
    assert sketch.count == 6
    assert sketch.quantile(0.0) == 0.0
    assert sketch.quantile(0.5) == 0.0
    many = LatencySketch()
    many.add_many([0.0, -1.0, 1e-12, math.inf, math.nan, 0.5])
    assert (many.bins, many.zero_count) == (sketch.bins, sketch.zero_count)
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
