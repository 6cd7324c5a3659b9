"""The monitor's C kernels (tally, common, extent, rows, add_counts) match their Python twins."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkeeper.monitor import aggregates, buckets, persist, sketch
from toolkeeper.monitor.aggregates import python_common, python_extent
from toolkeeper.monitor.buckets import Bucket, python_tally
from toolkeeper.monitor.persist import python_rows
from toolkeeper.monitor.records import END_TS, MODEL, OPERATION, TOOL
from toolkeeper.monitor.sketch import python_add_counts

C_TALLY = buckets._c_tally
needs_c = pytest.mark.skipif(C_TALLY is None, reason="the C extension was not built")

STATUSES = ("success", "error", "fallback", "timeout", "cancelled")
durations = st.one_of(
    st.floats(min_value=0.0, max_value=1e4),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1e-9, 1e-12, 5e-324, math.inf, -math.inf]),
)
costs = st.one_of(
    st.floats(min_value=0.0, max_value=10.0),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e9, max_value=1e9),
    st.sampled_from([0.0, -0.0, 2.1e-05, 0.5e-15, 1.5e-15, 2.5e-15, 4.6e3, 9.3e3]),
    st.integers(-(10**6), 10**6),
    st.none(),
)
tokens = st.one_of(st.integers(0, 10**6), st.integers(-(2**70), 2**70))
records = st.lists(
    st.tuples(
        st.integers(0, 9), st.just(0.0), st.just("t"), st.just("op"), st.sampled_from(STATUSES),
        durations, costs, tokens, tokens,
        st.one_of(st.none(), st.just({}), st.dictionaries(st.sampled_from("ab"), st.integers())),
        st.none(),
        st.one_of(st.none(), st.just({}), st.just({"unpriced": True})),
        st.sampled_from([None, "gpt-4o"]),
    ),
    max_size=120,
)  # fmt: skip


def both(
    batch: list[tuple[Any, ...]], bins: dict[int, int], low: float, high: float
) -> tuple[str, str]:
    """Return what the Python and the C tally give (results and bins, in order) as text."""
    assert C_TALLY is not None
    mine, theirs = dict(bins), dict(bins)
    python = python_tally(batch, mine, low, high) if batch else None
    c = C_TALLY(batch, theirs, low, high) if batch else None
    return repr((python, list(mine.items()))), repr((c, list(theirs.items())))


@needs_c
@settings(max_examples=300, deadline=None)
@given(records, st.dictionaries(st.integers(63_557, 63_700), st.integers(1, 5), max_size=5))
def test_the_c_tally_equals_the_python_one(
    batch: list[tuple[Any, ...]], bins: dict[int, int]
) -> None:
    """Statuses and bins in the order first seen, sums, minimum and maximum: all equal."""
    python, c = both(batch, bins, math.inf, -math.inf)
    assert c == python


@needs_c
def test_the_c_tally_counts_a_large_batch_like_the_python_one() -> None:
    """Past the table's flush point (512 distinct latency keys), runs of statuses, big sums."""
    batch = [
        (i, 0.0, "t", "op", STATUSES[i // 300 % 5], 1e-6 * 1.01**i, 2.1e-05 * (i % 3),
         2**62 if i % 7 == 0 else 12, 3, None, None, None, "m")
        for i in range(3_000)
    ]  # fmt: skip
    python, c = both(batch, {}, 0.5, 0.25)
    assert c == python


@needs_c
@pytest.mark.parametrize(
    ("record", "error"),
    [
        ((0, 0.0, "t", "op", "success", 0.1, math.nan, 1, 1, None, None, None), ValueError),
        ((0, 0.0, "t", "op", "success", 0.1, math.inf, 1, 1, None, None, None), OverflowError),
        ((0, 0.0, "t", "op", "success", "slow", 0.0, 1, 1, None, None, None), TypeError),
        ((0, 0.0, "t", "op", "success", 0.1, 0.0, None, 1, None, None, None), TypeError),
    ],
)
def test_the_c_tally_raises_what_the_python_one_raises(
    record: tuple[Any, ...], error: type[Exception]
) -> None:
    """A cost that cannot be rounded, a duration or a token count that is not a number."""
    assert C_TALLY is not None
    with pytest.raises(error):
        python_tally([record], {}, math.inf, -math.inf)
    with pytest.raises(error):
        C_TALLY([record], {}, math.inf, -math.inf)


def test_add_many_with_the_python_tally_equals_add(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bucket.add_many counts through whichever tally was chosen; the Python one is exact too."""
    monkeypatch.setattr(buckets, "tally", python_tally)
    batch = [
        (0, 0.0, "t", "op", status, 0.01 * (i + 1), 0.25, 3, 2, {"q": i}, None, None)
        for i, status in enumerate(STATUSES * 10)
    ]  # fmt: skip
    one, many = Bucket(), Bucket()
    for r in batch:
        one.add(r[4], r[5], r[6], r[7], r[8], r[9])
    assert many.add_many(batch) is True
    assert one.to_dict() == many.to_dict()


C_COMMON, C_EXTENT = aggregates._c_common, aggregates._c_extent
ends = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 5), st.sampled_from([0.0, -0.0])
)
columns = st.lists(
    st.tuples(st.sampled_from(["a", "b"]), st.sampled_from(["x", "y"]), ends,
              st.sampled_from([None, "m", "n"])),
    min_size=1, max_size=60,
)  # fmt: skip


def raws(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Return raw records with the given tool, operation, end and model."""
    return [(0, end, tool, op, "success", 0.1, 0.0, 0, 0, None, None, None, model)
            for tool, op, end, model in rows]  # fmt: skip


@pytest.mark.skipif(C_COMMON is None, reason="the C extension was not built")
@settings(max_examples=300, deadline=None)
@given(columns)
def test_the_c_common_and_extent_equal_the_python_ones(rows: list[tuple[Any, ...]]) -> None:
    """Whether a batch is one series (with or without the model); its earliest and latest end."""
    assert C_COMMON is not None
    assert C_EXTENT is not None
    batch = raws(rows)
    for fields in ((TOOL, OPERATION), (TOOL, OPERATION, MODEL), ()):
        assert C_COMMON(batch, fields) == python_common(batch, fields)
    python, c = python_extent(batch, END_TS), C_EXTENT(batch, END_TS)
    assert repr(c) == repr(python)
    assert c[0] is python[0]
    assert c[1] is python[1]


def test_a_batch_of_two_series_and_two_periods_is_split_in_order() -> None:
    """The fold's groups keep the records' order, with the C checks and the Python ones."""
    batch = raws([("a", "x", 5.0, "m"), ("b", "x", 12.0, "m"), ("a", "x", 15.0, "n"),
                  ("a", "x", 9.0, "m")])  # fmt: skip
    for check, span in ((python_common, python_extent), (C_COMMON, C_EXTENT)):
        if check is None or span is None:
            continue
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(aggregates, "common", check)
            patch.setattr(aggregates, "extent", span)
            series = dict(aggregates.group_by_model_series(batch))
            assert series == {("a", "x", "m"): [batch[0], batch[3]], ("b", "x", "m"): [batch[1]],
                              ("a", "x", "n"): [batch[2]]}  # fmt: skip
            assert list(aggregates.group_by_series(batch)) == [
                (("a", "x"), [batch[0], batch[2], batch[3]]), (("b", "x"), [batch[1]])
            ]  # fmt: skip
            assert list(aggregates.group_by_period(batch)) == [
                (0, [batch[0], batch[3]]), (1, [batch[1], batch[2]])
            ]  # fmt: skip


C_ROWS = persist._c_rows
texts = st.one_of(st.none(), st.sampled_from(["gpt-4o", "m\u00e9", "x"]))
writer_raws = st.lists(
    st.tuples(
        st.one_of(st.integers(0, 2**64 + 5), st.integers(-5, -1)), st.floats(0, 2e9),
        st.just("t"), st.just("op"), st.sampled_from(STATUSES),
        st.one_of(st.floats(allow_nan=False), st.integers(0, 9)), st.floats(0, 1),
        st.integers(0, 99), st.integers(0, 99),
        st.one_of(st.none(), st.just({}), st.just({"q": 1})),
        st.one_of(st.none(), st.just("boom")),
        st.one_of(st.none(), st.just({"labels": {"team": "a"}})),
        texts,
    ),
    max_size=40,
)  # fmt: skip


@pytest.mark.skipif(C_ROWS is None, reason="the C extension was not built")
@settings(max_examples=300, deadline=None)
@given(writer_raws, st.sampled_from(["op-0badcafe-", "op-\u00e9-"]))
def test_the_c_rows_equal_the_python_ones(raws: list[tuple[Any, ...]], prefix: str) -> None:
    """Plain records laid out inline (ids, labels from the cache or asked for), others by row()."""
    assert C_ROWS is not None

    def run(lay_out: Any) -> tuple[str, list[str]]:
        asked: list[str] = []
        labels = {"gpt-4o": '{"model": "gpt-4o"}'}

        def labels_of(model: str) -> str:
            asked.append(model)
            return f"<{model}>"

        def row(raw: tuple[Any, ...], given: str) -> tuple[Any, ...]:
            return ("other", raw[0], given)

        return repr(lay_out(raws, prefix, labels, labels_of, row)), asked

    assert run(C_ROWS) == run(python_rows)


@needs_c
@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(st.integers(-(2**40), 2**40), st.integers(0, 2**70), max_size=60),
    st.dictionaries(st.integers(-(2**40), 2**40), st.integers(0, 2**70), max_size=60),
)
def test_add_counts_adds_as_its_python_twin(into: dict[int, int], other: dict[int, int]) -> None:
    """The C merge of a sketch's bins gives the same counts, in the same key order."""
    assert sketch._c_add_counts is not None
    mine, theirs = dict(into), dict(into)
    python_add_counts(mine, other)
    sketch._c_add_counts(theirs, other)
    assert list(mine.items()) == list(theirs.items())
    sketch._c_add_counts(theirs, theirs)  # into itself: every count doubles
    assert theirs == {key: 2 * count for key, count in mine.items()}


@needs_c
def test_add_counts_refuses_what_is_not_two_dicts() -> None:
    """Anything but two dicts is a TypeError naming the signature, and nothing is added."""
    assert sketch._c_add_counts is not None
    into = {1: 1}
    with pytest.raises(TypeError, match=r"add_counts\(into: dict, other: dict\)"):
        sketch._c_add_counts(into, [(1, 2)])  # type: ignore[arg-type]
    assert into == {1: 1}
