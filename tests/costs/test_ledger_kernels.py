"""The memory ledger's C kernels (hold_at_once, settle_at_once) match their Python twins."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkeeper.costs import ledger_memory
from toolkeeper.costs.ledger_memory import python_hold_at_once, python_settle_at_once

C_HOLD, C_SETTLE = ledger_memory._c_hold, ledger_memory._c_settle
needs_c = pytest.mark.skipif(C_HOLD is None, reason="the C extension was not built")
#: Each kernel pair: the Python twins always, the C ones when built.
KERNELS = [
    pytest.param((python_hold_at_once, python_settle_at_once), id="python"),
    pytest.param((C_HOLD, C_SETTLE), id="c", marks=needs_c),
]

EXPIRES = datetime(2026, 12, 5, tzinfo=UTC)
# Amounts in nano-dollars: mostly small enough to meet a limit or a mark exactly, else
# beyond 64 bits or negative (a refund).
small = st.integers(0, 6)
amounts = st.one_of(small, small, small, st.integers(-(2**70), 2**70))
windows = st.sampled_from([0, 10])
rids = st.sampled_from(["a", "b", "c"])
accounts = st.fixed_dictionaries(
    {
        "numbers": st.tuples(windows, windows, amounts, amounts).map(list),
        "reservations": st.dictionaries(rids, st.tuples(amounts, st.just(EXPIRES)), max_size=3),
        "buckets": st.dictionaries(windows, amounts, max_size=3),
    }
)
operations = st.lists(
    st.one_of(
        st.tuples(
            st.just("hold"),
            st.lists(st.tuples(st.integers(0, 2), amounts, windows, windows), max_size=3),
            st.lists(st.integers(0, 2), max_size=3),
            amounts,
            rids,
        ),
        st.tuples(
            st.just("settle"),
            st.lists(st.tuples(st.integers(0, 2), windows, windows, amounts), max_size=3),
            amounts,
            st.one_of(st.none(), rids),
        ),
    ),
    max_size=12,
)


def apply(books: list[dict[str, Any]], operation: tuple[Any, ...], kernels: Any) -> Any:
    """Run one operation on ``books`` with ``kernels`` (hold, settle); return its answer."""
    hold, settle = kernels
    if operation[0] == "hold":
        _, checks, held_on, amount, rid = operation
        return hold(
            tuple((books[at]["numbers"], *rest) for at, *rest in checks),
            tuple((books[at]["numbers"], books[at]["reservations"]) for at in held_on),
            amount,
            rid,
            (amount, EXPIRES),
        )
    _, lines, amount, rid = operation
    return settle(
        tuple(
            (book["numbers"], book["reservations"], book["buckets"], since, bucket, mark)
            for book, since, bucket, mark in ((books[at], *rest) for at, *rest in lines)
        ),
        amount,
        rid,
    )


@needs_c
@settings(max_examples=1000, deadline=None)
@given(start=st.lists(accounts, min_size=3, max_size=3), steps=operations)
def test_the_kernels_answer_and_change_the_books_as_their_python_twins(
    start: list[dict[str, Any]], steps: list[tuple[Any, ...]]
) -> None:
    mine, theirs = copy.deepcopy(start), copy.deepcopy(start)
    for step in steps:
        python = apply(mine, step, (python_hold_at_once, python_settle_at_once))
        c = apply(theirs, step, (C_HOLD, C_SETTLE))
        assert (type(c), c) == (type(python), python), step
        assert theirs == mine, step


@pytest.mark.parametrize("kernels", KERNELS)
def test_a_hold_admits_up_to_the_limit_and_keeps_the_reservation(kernels: Any) -> None:
    hold, _ = kernels
    numbers = [0, 10, 700, 200]
    reservations: dict[str, Any] = {}
    checks = ((numbers, 1000, 0, 10),)
    books = ((numbers, reservations),)
    assert hold(checks, books, 100, "r1", (100, EXPIRES)) is True  # exactly the limit
    assert (numbers, reservations) == ([0, 10, 700, 300], {"r1": (100, EXPIRES)})
    assert hold(checks, books, 0, "r2", (0, EXPIRES)) is False  # 700 + 300 leaves no room
    assert hold(((numbers, 10**9, 0, 20),), books, 1, "r3", (1, EXPIRES)) is False  # moved
    assert (numbers, list(reservations)) == ([0, 10, 700, 300], ["r1"])


@pytest.mark.parametrize("kernels", KERNELS)
def test_a_settle_drops_the_reservation_adds_the_spend_and_says_when_a_mark_is_reached(
    kernels: Any,
) -> None:
    _, settle = kernels
    numbers, reservations, buckets = [0, 10, 700, 300], {"r1": (100, EXPIRES)}, {10: 50}
    line = (numbers, reservations, buckets, 0, 10, 1000)
    assert settle((line,), 80, "r1") == 0
    assert (numbers, reservations, buckets) == ([0, 10, 780, 200], {}, {10: 130})
    assert settle((line,), 220, None) == 1  # 1000 reaches the first mark exactly
    assert settle(((numbers, {}, {}, 0, 10, 1000),), 5, None) == -1  # the bucket opens
    assert numbers == [0, 10, 1000, 200]


@needs_c
@pytest.mark.parametrize(
    ("kernel", "arguments", "message"),
    [
        ("hold", ([], (), 1, "r", (1, EXPIRES)), r"hold_at_once\(checks: tuple"),
        ("hold", (((1, 2),), (), 1, "r", (1, EXPIRES)), "each of checks is a tuple of 4"),
        ("hold", ((([0, 1, 2], 5, 0, 1),), (), 1, "r", (1, EXPIRES)), "a list"),
        ("hold", ((), (([0, 1, 0, 0], []),), 1, "r", (1, EXPIRES)), "reservations are a dict"),
        ("settle", ([], 1, None), r"settle_at_once\(lines: tuple"),
        ("settle", ((([0, 1, 0, 0], {}, [], 0, 1, 5),), 1, None), "are dicts"),
        ("settle", (((0, 1),), 1, None), "each of lines is a tuple of 6"),
    ],
)
def test_wrong_arguments_are_refused_and_change_nothing(
    kernel: str, arguments: tuple[Any, ...], message: str
) -> None:
    function = C_HOLD if kernel == "hold" else C_SETTLE
    assert function is not None
    before = copy.deepcopy(arguments)
    with pytest.raises(TypeError, match=message):
        function(*arguments)
    assert arguments == before


def test_the_kernels_in_use_are_chosen_once() -> None:
    pure = ledger_memory._PURE_PYTHON or C_HOLD is None
    assert ledger_memory.hold_at_once is (python_hold_at_once if pure else C_HOLD)
    assert ledger_memory.settle_at_once is (python_settle_at_once if pure else C_SETTLE)
