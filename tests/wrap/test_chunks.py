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


class Stops:
    """An ``on_stop`` that keeps what it was told: (how, error), the chunks checked."""

    def __init__(self) -> None:
        self.told: list[tuple[str, BaseException | None]] = []

    def __call__(self, chunks: Any, how: str, error: BaseException | None) -> None:
        assert chunks.ended
        self.told.append((how, error))


def run(kind: type[PythonChunks], tail: int, plan: list[tuple[str, int]]) -> tuple[Any, ...]:
    """Read numbered chunks as ``plan`` says; return every answer the object gave."""
    stops = Stops()
    chunks = kind(tail, Clock(), stops)
    source = iter(range(1000))
    seen: list[Any] = []
    for how, count in plan:
        if how == "saw":
            seen.extend(chunks.saw(next(source)) for _ in range(count))
        else:
            part = iter([next(source) for _ in range(count)])
            seen.extend(chunks.read(part))
    return (
        chunks.count, chunks.first_at, seen, stops.told, chunks.take(), chunks.take(),
        chunks.ended, chunks.stopped_at,
    )  # fmt: skip


@needs_c
@given(tail=st.integers(1, 10), plan=steps)
def test_both_twins_give_the_same_answers(tail: int, plan: list[tuple[str, int]]) -> None:
    assert run(C_CHUNKS, tail, plan) == run(PythonChunks, tail, plan)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", KINDS)
def test_the_first_and_the_last_chunks_are_kept_in_order_the_first_once(kind: Any) -> None:
    clock = Clock()
    chunks = kind(3, clock, Stops())
    first, *rest = [object() for _ in range(10)]
    assert list(chunks.read(iter([first, *rest]))) == [first, *rest]
    assert chunks.count == 10
    assert chunks.first_at == 101.0
    assert chunks.stopped_at == 102.0
    assert clock.reads == 2  # only the first chunk and the end read the clock
    assert chunks.take() == (first, *rest[-3:])
    assert chunks.take() == ()  # taken: forgotten

    few = kind(8, Clock(), Stops())
    assert list(few.read(iter([first, *rest[:2]]))) == [first, *rest[:2]]
    assert few.take() == (first, *rest[:2])  # the first is not repeated from the tail


@pytest.mark.parametrize("kind", KINDS)
def test_on_stop_is_told_of_the_end_once_and_of_an_error_which_is_raised_again(kind: Any) -> None:
    stops = Stops()
    chunks = kind(2, Clock(), stops)
    reader = chunks.read(iter([1, 2]))
    assert list(reader) == [1, 2]
    assert list(reader) == []
    assert list(chunks.read(iter([3]))) == [3]  # read again after its end: counted, not ended
    assert stops.told == [("completed", None)]
    assert chunks.count == 3

    stops = Stops()
    broken = kind(2, Clock(), stops)
    reader = broken.read(failing([1, 2, 3], 2))
    assert next(reader) == 1
    assert next(reader) == 2
    with pytest.raises(DroppedError, match="dropped") as raised:
        next(reader)
    assert stops.told == [("failed", raised.value)]
    assert raised.value.__traceback__ is not None
    assert broken.count == 2


@pytest.mark.parametrize("kind", KINDS)
def test_an_error_in_on_stop_is_what_the_reader_raises(kind: Any) -> None:
    def on_stop(chunks: Any, how: str, error: BaseException | None) -> None:
        raise RuntimeError(f"on_stop failed after {how} {error!r}")

    with pytest.raises(RuntimeError, match="on_stop failed after completed None"):
        list(kind(2, Clock(), on_stop).read(iter([1])))
    with pytest.raises(RuntimeError, match="on_stop failed after failed DroppedError"):
        list(kind(2, Clock(), on_stop).read(failing([1], 1)))


@pytest.mark.parametrize("kind", KINDS)
def test_a_stream_ends_once_whoever_ends_it(kind: Any) -> None:
    stops = Stops()
    chunks = kind(1, Clock(), stops)
    assert not chunks.ended
    error = DroppedError("closed")
    assert chunks.stop("failed", error) is True
    assert chunks.stop("completed") is False
    assert list(chunks.read(iter([1]))) == [1]  # its source's end is no second end
    assert chunks.ended
    assert stops.told == [("failed", error)]


@pytest.mark.parametrize("kind", KINDS)
def test_chunks_collected_before_their_end_were_abandoned(kind: Any) -> None:
    stops = Stops()
    chunks = kind(2, Clock(), stops)
    reader = chunks.read(iter([1, 2, 3]))
    assert next(reader) == 1
    del chunks, reader
    gc.collect()
    assert stops.told == [("abandoned", None)]

    ended = Stops()
    done = kind(2, Clock(), ended)
    assert list(done.read(iter([1]))) == [1]
    del done
    gc.collect()
    assert ended.told == [("completed", None)]  # ended already: nothing more


@pytest.mark.parametrize("kind", KINDS)
def test_on_stop_may_keep_the_chunks_it_is_given(kind: Any) -> None:
    kept: list[Any] = []

    def on_stop(chunks: Any, how: str, error: BaseException | None) -> None:
        kept.append((chunks, how))

    chunks = kind(2, Clock(), on_stop)
    chunks.saw("only")
    del chunks
    gc.collect()
    ((resurrected, how),) = kept
    assert how == "abandoned"
    assert resurrected.take() == ("only",)  # still whole, and not ended twice
    del resurrected
    kept.clear()
    gc.collect()
    assert kept == []


@pytest.mark.parametrize("kind", KINDS)
def test_bad_arguments_are_refused_with_the_rule(kind: Any) -> None:
    with pytest.raises(ValueError, match="tail is 0; it must be from 1 to 64"):
        kind(0, Clock(), Stops())
    with pytest.raises(ValueError, match="tail is 65"):
        kind(65, Clock(), Stops())
    with pytest.raises(TypeError, match="takes an iterator, not list"):
        kind(1, Clock(), Stops()).read([1, 2])


@needs_c
def test_the_c_chunks_are_collected_with_a_cycle_and_judged_abandoned() -> None:
    stops = Stops()
    chunks = C_CHUNKS(2, Clock(), stops)  # type: ignore[call-arg]

    class Holder:
        pass

    holder = Holder()
    reader = chunks.read(iter([holder, 2]))
    holder.reader = reader  # type: ignore[attr-defined]  # a cycle through a kept chunk
    assert next(reader) is holder
    gone = weakref.ref(holder)
    del holder, reader, chunks
    gc.collect()
    assert gone() is None
    assert stops.told == [("abandoned", None)]


@pytest.mark.parametrize("kind", KINDS)
def test_a_completed_stream_given_later_is_handed_to_it_and_keeps_on_stop(kind: Any) -> None:
    stops, handed = Stops(), []
    chunks = kind(2, Clock(), stops, handed.append)
    assert list(chunks.read(iter([1, 2]))) == [1, 2]
    assert handed == [chunks]
    assert stops.told == []  # told by whoever takes it
    assert chunks.on_stop is stops
    assert chunks.stopped_at == 102.0

    failing_stops, failing_handed = Stops(), []
    broken = kind(2, Clock(), failing_stops, failing_handed.append)
    with pytest.raises(DroppedError):
        list(broken.read(failing([1, 2], 1)))
    assert failing_handed == []  # anything but completed is told at once
    assert [how for how, _ in failing_stops.told] == ["failed"]
    assert broken.on_stop is None

    by_stop, by_stop_handed = Stops(), []
    stopped = kind(2, Clock(), by_stop, by_stop_handed.append)
    assert stopped.stop("completed") is True
    assert by_stop_handed == [stopped]
    assert by_stop.told == []


@pytest.mark.parametrize("kind", KINDS)
def test_an_error_in_later_is_what_the_reader_raises(kind: Any) -> None:
    def later(chunks: Any) -> None:
        raise RuntimeError("the queue is gone")

    chunks = kind(2, Clock(), Stops(), later)
    with pytest.raises(RuntimeError, match="the queue is gone"):
        list(chunks.read(iter([1])))
    assert chunks.ended
