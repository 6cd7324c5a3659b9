"""A metered stream's chunk count: the C ``Chunks`` gives the same answers as its Python twin."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from toolkeeper.wrap import streams
from toolkeeper.wrap.streams import PythonChunks

C_CHUNKS = streams._c_chunks
needs_c = pytest.mark.skipif(C_CHUNKS is None, reason="the C extension was not built")
KINDS = [
    pytest.param(PythonChunks, id="python"),
    pytest.param(C_CHUNKS, id="c", marks=needs_c),
]


class Clock:
    """A clock that tells how often it was read."""

    def __init__(self) -> None:
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        return 100.0 + self.reads


class DroppedError(Exception):
    """What a source raises midway."""


def failing(items: list[Any], after: int) -> Iterator[Any]:
    yield from items[:after]
    raise DroppedError("the connection dropped")


# Each step: read this many chunks through read(), or this many through saw().
steps = st.lists(st.tuples(st.sampled_from(["read", "saw"]), st.integers(0, 12)), max_size=6)


def run(kind: type[PythonChunks], tail: int, plan: list[tuple[str, int]]) -> tuple[Any, ...]:
    """Read numbered chunks as ``plan`` says; return every answer the object gave."""
    chunks = kind(tail, Clock())
    source = iter(range(1000))
    stops: list[Any] = []
    seen: list[Any] = []
    for how, count in plan:
        if how == "saw":
            seen.extend(chunks.saw(next(source)) for _ in range(count))
        else:
            part = iter([next(source) for _ in range(count)])
            seen.extend(chunks.read(part, stops.append))
    return chunks.count, chunks.first_at, seen, stops, chunks.take(), chunks.take(), chunks.ended


@needs_c
@given(tail=st.integers(1, 10), plan=steps)
def test_both_twins_give_the_same_answers(tail: int, plan: list[tuple[str, int]]) -> None:
    assert run(C_CHUNKS, tail, plan) == run(PythonChunks, tail, plan)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", KINDS)
def test_the_first_and_the_last_chunks_are_kept_in_order_the_first_once(kind: Any) -> None:
    clock = Clock()
    chunks = kind(3, clock)
    first, *rest = [object() for _ in range(10)]
    assert list(chunks.read(iter([first, *rest]), lambda error: None)) == [first, *rest]
    assert chunks.count == 10
    assert chunks.first_at == 101.0
    assert clock.reads == 1  # only the first chunk reads the clock
    assert chunks.take() == (first, *rest[-3:])
    assert chunks.take() == ()  # taken: forgotten

    few = kind(8, Clock())
    assert list(few.read(iter([first, *rest[:2]]), lambda error: None)) == [first, *rest[:2]]
    assert few.take() == (first, *rest[:2])  # the first is not repeated from the tail


@pytest.mark.parametrize("kind", KINDS)
def test_on_stop_is_told_of_the_end_once_and_of_an_error_which_is_raised_again(kind: Any) -> None:
    stops: list[Any] = []
    chunks = kind(2, Clock())
    reader = chunks.read(iter([1, 2]), stops.append)
    assert list(reader) == [1, 2]
    assert list(reader) == []
    assert stops == [None]

    stops.clear()
    broken = kind(2, Clock())
    reader = broken.read(failing([1, 2, 3], 2), stops.append)
    assert next(reader) == 1
    assert next(reader) == 2
    with pytest.raises(DroppedError, match="dropped") as raised:
        next(reader)
    assert stops == [raised.value]
    assert raised.value.__traceback__ is not None
    assert broken.count == 2


@pytest.mark.parametrize("kind", KINDS)
def test_an_error_in_on_stop_is_what_the_reader_raises(kind: Any) -> None:
    def on_stop(error: BaseException | None) -> None:
        raise RuntimeError(f"on_stop failed after {error!r}")

    with pytest.raises(RuntimeError, match="on_stop failed after None"):
        list(kind(2, Clock()).read(iter([1]), on_stop))


@pytest.mark.parametrize("kind", KINDS)
def test_end_answers_true_once(kind: Any) -> None:
    chunks = kind(1, Clock())
    assert not chunks.ended
    assert chunks.end() is True
    assert chunks.end() is False
    assert chunks.ended


@pytest.mark.parametrize("kind", KINDS)
def test_bad_arguments_are_refused_with_the_rule(kind: Any) -> None:
    with pytest.raises(ValueError, match="tail is 0; it must be from 1 to 64"):
        kind(0, Clock())
    with pytest.raises(ValueError, match="tail is 65"):
        kind(65, Clock())
    with pytest.raises(TypeError, match="takes an iterator, not list"):
        kind(1, Clock()).read([1, 2], lambda error: None)


@needs_c
def test_the_c_reader_and_its_chunks_are_collected_with_a_cycle() -> None:
    chunks = C_CHUNKS(2, Clock())  # type: ignore[misc]

    class Holder:
        pass

    holder = Holder()
    reader = chunks.read(iter([holder]), lambda error: None)
    holder.reader = reader  # type: ignore[attr-defined]  # a cycle through a kept chunk
    assert next(reader) is holder
    gone = weakref.ref(holder)
    del holder, reader, chunks
    gc.collect()
    assert gone() is None
