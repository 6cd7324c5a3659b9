"""Streams handed back wrapped: the operation ends when the stream is consumed or closed.

A wrapped function that returns a stream (the ``openai``/``anthropic`` SDKs'
``Stream``/``AsyncStream``, a generator of chunks, or a ``stream()`` helper's
manager) gets back a proxy that yields the same chunks, keeping only the first and the
last few (:data:`TAIL_CHUNKS`): the providers report usage there (OpenAI in the last
chunk or ``response.completed`` event, Anthropic in ``message_start`` and the final
``message_delta``), and those are read once, when the stream ends
(:class:`~toolkeeper.costs.responses.StreamTally`). Counting and keeping chunks is an
iterator over the stream's own, in C when built (:class:`PythonChunks` is its twin), so
a chunk costs a few writes. The end is told once to the stream's :class:`StreamEnding`;
a stream read to its end may instead be handed to ``later`` (:func:`meter`), whose
taker tells it off the reader's thread (the keeper's pipeline does). The operation is
recorded once, when the stream ends:

- consumed to its end: a success, its latency up to the moment its end is seen (the
  end of its chunks, a helper's drain, or the close or exit that finds a helper's
  stream read to its end), the time to the first chunk as the
  ``time_to_first_token_ms`` metric, the usage of its final chunk (none there:
  unmetered, cost unknown);
- closed, left or garbage-collected before its end: ``cancelled``, error code
  ``STREAM_ABANDONED``, with what its chunks reported so far;
- raising while read: an error, as any failed call.

Everything else a stream has (``response``, ``close()``, ``text_stream``,
``get_final_message()``…) is reached through the proxy unchanged.
"""

from __future__ import annotations

import os
import threading
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterator
from time import perf_counter
from typing import Any

from toolkeeper.costs.responses import Reading, StreamTally

__all__ = [
    "STREAM_ABANDONED",
    "AsyncMeteredStream",
    "MeteredStream",
    "StreamEnd",
    "StreamEnding",
    "meter",
    "meter_stream",
]

#: The error code of an operation whose stream was closed before its end.
STREAM_ABANDONED = "STREAM_ABANDONED"
_SNAPSHOTS = ("current_completion_snapshot", "current_message_snapshot")
#: A stream helper's methods that read the stream to its end.
_DRAINS = frozenset({"get_final_completion", "get_final_message", "until_done"})
_OWN = frozenset({"_chunks", "_ending", "_inner", "_source", "_stream"})
#: How many of a stream's last chunks are kept to read its usage from at its end.
TAIL_CHUNKS = 8
#: The most :class:`PythonChunks` (and its C twin) keep.
MAX_TAIL = 64


class StreamEnd:
    """How a stream ended: ``completed``, ``abandoned`` or ``failed`` (with the error).

    ``reading`` is what its kept chunks (the first and the last ones) and its helper's
    final ``snapshot`` report: read once, when first asked (by the pipeline, for a call
    whose cost nobody waits for), not when the stream ends.
    """

    __slots__ = (
        "_kept", "_reading", "_snapshot", "chunks", "duration_s", "error", "first_chunk_s", "how",
    )  # fmt: skip

    def __init__(  # noqa: PLR0917 - built once per stream, on its reader's thread
        self,
        how: str,
        duration_s: float,
        first_chunk_s: float | None,
        chunks: int,
        error: BaseException | None = None,
        kept: PythonChunks | None = None,
        snapshot: Any = None,
    ) -> None:
        """``kept`` is the stream's :class:`Chunks`, whose kept chunks are read when first asked."""
        self.how, self.duration_s, self.first_chunk_s = how, duration_s, first_chunk_s
        self.chunks, self.error = chunks, error
        self._kept, self._snapshot = kept, snapshot
        self._reading: Reading | None = None

    @property
    def reading(self) -> Reading:
        """Return the usage the stream's chunks reported (unmetered when none did)."""
        if self._reading is None:
            tally = StreamTally()
            for chunk in self._kept.take() if self._kept is not None else ():
                tally.add(chunk)
            if self._snapshot is not None:
                tally.add_final(self._snapshot)
            self._reading = tally.reading()
            self._kept = self._snapshot = None
        return self._reading

    def __repr__(self) -> str:
        return f"StreamEnd(how={self.how!r}, chunks={self.chunks}, duration_s={self.duration_s})"


OnEnd = Callable[[StreamEnd], None]
#: What a stream's :class:`Chunks` calls when the stream ends: ``on_stop(chunks, how,
#: error)``, ``how`` being ``completed``, ``failed`` (with the error) or ``abandoned``.
OnStop = Callable[[Any, str, BaseException | None], object]


class PythonChunks:
    """What one stream's chunks told so far (how many, the first and when, the last ones).

    The reference for its C twin, ``toolkeeper._speedups.Chunks``, chosen at import when
    the extension was built (``TOOLKEEPER_PURE_PYTHON=1`` chooses this one); both give the
    same answers (tests/wrap/test_chunks.py). A stream is read by one thread at a time;
    :meth:`stop` may be called from any.

    The stream ends once, whoever sees it end: :meth:`stop`, the source of :meth:`read`
    stopping (``completed``, or ``failed`` with its error, which is raised again), or
    this object's collection before then (``abandoned``). Ending reads the clock
    (:attr:`stopped_at`) and calls ``on_stop(chunks, how, error)``, then lets go of it;
    an error there wins. Given ``later``, a completed stream calls ``later(chunks)``
    instead and keeps ``on_stop`` (:attr:`on_stop`): whoever takes it tells it, off the
    reader's thread.
    """

    __slots__ = (
        "_clock", "_ended", "_later", "_lock", "_on_stop", "_tail", "count", "first", "first_at",
        "stopped_at",
    )  # fmt: skip

    def __init__(
        self,
        tail: int,
        clock: Callable[[], float],
        on_stop: OnStop,
        later: Callable[[Any], object] | None = None,
    ) -> None:
        if not 1 <= tail <= MAX_TAIL:
            raise ValueError(f"tail is {tail}; it must be from 1 to {MAX_TAIL}")
        self._clock = clock
        self._on_stop: OnStop | None = on_stop
        self._later = later
        self._tail: deque[Any] = deque(maxlen=tail)
        self._ended = False
        self._lock = threading.Lock()
        self.count = 0
        self.first: Any = None
        #: The clock's time when the first chunk was seen; ``None`` before.
        self.first_at: float | None = None
        #: The clock's time when the stream ended; ``None`` before.
        self.stopped_at: float | None = None

    @property
    def ended(self) -> bool:
        """Whether the stream ended."""
        return self._ended

    @property
    def on_stop(self) -> OnStop | None:
        """What is told of the stream's end; ``None`` once told."""
        return self._on_stop

    def saw(self, chunk: Any) -> Any:
        """Count one chunk read elsewhere (the first is kept and timed) and give it back."""
        if self.first_at is None:
            self.first_at = self._clock()
            self.first = chunk
        self.count += 1
        self._tail.append(chunk)
        return chunk

    def read(self, chunks: Iterator[Any]) -> Iterator[Any]:
        """Return an iterator over ``chunks`` that counts each and ends the stream when they stop.

        Left before their end, it ends nothing: :meth:`stop`, or this object's
        collection, does.
        """
        if not hasattr(chunks, "__next__"):
            raise TypeError(f"read() takes an iterator, not {type(chunks).__name__}")
        return self._read(chunks)

    def _read(self, chunks: Iterator[Any]) -> Iterator[Any]:
        try:
            for chunk in chunks:  # the first: timed and kept whole (unless saw() read it)
                yield self.saw(chunk)
                break
            keep = self._tail.append
            for chunk in chunks:  # every other: this runs for every chunk, so it is inlined
                self.count += 1
                keep(chunk)
                yield chunk
        except GeneratorExit:
            raise
        except BaseException as error:
            self.stop("failed", error)
            raise
        self.stop("completed")

    def take(self) -> tuple[Any, ...]:
        """Return the kept chunks (the first, then the last ones in order) and forget them."""
        first, tail = self.first, tuple(self._tail)
        self.first = None
        self._tail.clear()
        if first is None:
            return tail
        return (first, *(chunk for chunk in tail if chunk is not first))

    def stop(self, how: str, error: BaseException | None = None) -> bool:
        """End the stream: the first time, tell ``on_stop`` (or ``later``) and return True."""
        with self._lock:
            if self._ended:
                return False
            self._ended = True
            self.stopped_at = self._clock()
            if self._later is not None and how == "completed":  # on_stop kept for its taker
                later, on_stop = self._later, None
            else:
                later, on_stop, self._on_stop = None, self._on_stop, None
        if later is not None:
            later(self)
        elif on_stop is not None:
            on_stop(self, how, error)
        return True

    def __del__(self) -> None:
        if not getattr(self, "_ended", True):  # True: __init__ refused its arguments
            self.stop("abandoned")


_c_chunks: type[PythonChunks] | None
try:
    from toolkeeper import _speedups

    _c_chunks = _speedups.Chunks  # type: ignore[assignment]  # the same methods, in C
except ImportError:  # built without a C compiler
    _c_chunks = None
#: The kept chunks of one stream: C when built (see :class:`PythonChunks`).
Chunks: type[PythonChunks] = (
    PythonChunks if _c_chunks is None or os.environ.get("TOOLKEEPER_PURE_PYTHON") else _c_chunks
)


class StreamEnding(ABC):
    """What one stream's end is told to: a subclass says what is done with its :class:`StreamEnd`.

    It holds what the end is measured from and what a stream helper's snapshot is read
    from (``source``: the stream, or the one its manager entered), never the wrappers, so
    that the chunks, which hold it, can outlive them while read, and judge the stream
    abandoned when collected unended. Called by the chunks (``on_stop``), it builds the
    end (:meth:`end_of`) and hands it to :meth:`ended`; a completed stream metered with
    ``later`` is told by whoever takes its chunks from ``later``, which builds the end
    the same way.
    """

    __slots__ = ("source", "started")

    def __init__(self, source: Any, started: float) -> None:
        self.source, self.started = source, started

    def __call__(self, chunks: PythonChunks, how: str, error: BaseException | None) -> None:
        self.ended(self.end_of(chunks, how, error))

    def end_of(self, chunks: PythonChunks, how: str, error: BaseException | None) -> StreamEnd:
        """Return how the stream of ``chunks`` ended (they ended: ``stopped_at`` is set)."""
        started, first_at, source = self.started, chunks.first_at, self.source
        snapshot = None
        for name in _SNAPSHOTS:  # a stream helper's final snapshot: what it read of the stream
            snapshot = getattr(source, name, None)
            if snapshot is not None:
                break
        return StreamEnd(
            how, chunks.stopped_at - started, None if first_at is None else first_at - started,  # type: ignore[operator]  # ended
            chunks.count, error, chunks, snapshot,
        )  # fmt: skip

    @abstractmethod
    def ended(self, end: StreamEnd) -> None:
        """Act on how the stream ended, on the thread that saw it end."""


class _Told(StreamEnding):
    """A stream ending that hands its end to a callback (:func:`meter_stream`)."""

    __slots__ = ("on_end",)

    def __init__(self, source: Any, started: float, on_end: OnEnd) -> None:
        super().__init__(source, started)
        self.on_end = on_end

    def ended(self, end: StreamEnd) -> None:
        self.on_end(end)


class _Metered(ABC):
    """What both stream wrappers share: the stream, its chunks, and how an ending is judged."""

    __slots__ = ("__weakref__", "_chunks", "_ending", "_inner", "_stream")

    def __init__(self, stream: Any, chunks: PythonChunks, ending: StreamEnding) -> None:
        # A stream helper's manager and the stream it enters share their chunks (which end
        # once) and their ending, whose source becomes the entered stream.
        self._stream = stream
        self._chunks, self._ending = chunks, ending
        self._inner: Any = None

    @property
    def _source(self) -> Any:
        """What chunks are read from: the stream, or the one its manager entered."""
        return self._ending.source

    def _enter(self, inner: Any) -> Any:
        self._inner = self._ending.source = inner
        return type(self)(inner, self._chunks, self._ending)

    def _stopped(self, error: BaseException | None) -> None:
        """End the stream for how reading a chunk stopped: at its end (``None``), or failing."""
        if error is None or isinstance(error, StopIteration | StopAsyncIteration):
            self._chunks.stop("completed")
        else:
            self._chunks.stop("failed", error)

    def _finish(self, error: BaseException | None) -> None:
        if error is not None:
            self._chunks.stop("failed", error)
        elif _read_to_end(self._source):
            self._chunks.stop("completed")
        else:
            self._chunks.stop("abandoned")

    def __getattr__(self, name: str) -> Any:
        if name in _OWN:
            raise AttributeError(name)
        found = getattr(self._stream, name)
        return self._draining(found) if name in _DRAINS else found

    @abstractmethod
    def _draining(self, method: Callable[..., Any]) -> Callable[..., Any]:
        """Return ``method`` (one that reads the stream to its end) ending the stream after it."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._stream!r})"


class MeteredStream(_Metered):
    """A sync stream (or stream manager) that records its operation when it ends."""

    __slots__ = ()

    def __iter__(self) -> Iterator[Any]:
        # The chunks' own iterator (C when built): a call of __next__ per chunk would cost
        # more than the rest. Both read the same source, so they can be mixed; left before
        # its end, close(), __exit__ or the chunks' collection judge the stream.
        source = self._ending.source
        if not hasattr(type(source), "__iter__"):
            return self
        return self._chunks.read(iter(source))

    def __next__(self) -> Any:
        try:
            return self._chunks.saw(next(self._ending.source))
        except BaseException as error:
            self._stopped(error)
            raise

    def __enter__(self) -> Any:
        if hasattr(self._stream, "__next__"):
            self._stream.__enter__()
            return self
        return self._enter(self._stream.__enter__())

    def __exit__(self, kind: Any, error: Any, trace: Any) -> Any:
        try:
            return self._stream.__exit__(kind, error, trace)
        finally:
            self._finish(error)

    def close(self) -> None:
        """Close the stream; read before its end, the operation is recorded as abandoned."""
        try:
            close = getattr(self._stream, "close", None)
            if close is not None:
                close()
        finally:
            self._finish(None)

    def _draining(self, method: Callable[..., Any]) -> Callable[..., Any]:
        def drain(*args: Any, **kwargs: Any) -> Any:
            result = method(*args, **kwargs)
            self._chunks.stop("completed")
            return result

        return drain


class AsyncMeteredStream(_Metered):
    """An async stream (or async stream manager) that records its operation when it ends."""

    __slots__ = ()

    def __aiter__(self) -> AsyncMeteredStream:
        return self

    async def __anext__(self) -> Any:
        try:
            return self._chunks.saw(await self._ending.source.__anext__())
        except BaseException as error:
            self._stopped(error)
            raise

    async def __aenter__(self) -> Any:
        if hasattr(self._stream, "__anext__"):
            await self._stream.__aenter__()
            return self
        return self._enter(await self._stream.__aenter__())

    async def __aexit__(self, kind: Any, error: Any, trace: Any) -> Any:
        try:
            return await self._stream.__aexit__(kind, error, trace)
        finally:
            self._finish(error)

    async def close(self) -> None:
        """Close the stream; read before its end, the operation is recorded as abandoned."""
        try:
            close = getattr(self._stream, "close", None) or getattr(self._stream, "aclose", None)
            if close is not None:
                await close()
        finally:
            self._finish(None)

    aclose = close

    def _draining(self, method: Callable[..., Any]) -> Callable[..., Any]:
        async def drain(*args: Any, **kwargs: Any) -> Any:
            result = await method(*args, **kwargs)
            self._chunks.stop("completed")
            return result

        return drain


def meter(
    stream: Any, ending: StreamEnding, later: Callable[[Any], object] | None = None
) -> MeteredStream | AsyncMeteredStream:
    """Return ``stream`` wrapped so that ``ending`` is told once, when it ends.

    Given ``later``, a stream read to its end is handed to ``later(chunks)`` on the
    reader's thread, and its ending (``chunks.on_stop``) told by whoever takes it; any
    other end is told at once.
    """
    kind = type(stream)
    wrapper = _WRAPPERS.get(kind)
    if wrapper is None:  # asked once per class
        manager_only = hasattr(kind, "__aenter__") and not hasattr(kind, "__next__")
        is_async = hasattr(kind, "__anext__") or manager_only
        wrapper = AsyncMeteredStream if is_async else MeteredStream
        if len(_WRAPPERS) < _KEEP_CLASSES:
            _WRAPPERS[kind] = wrapper
    return wrapper(stream, Chunks(TAIL_CHUNKS, perf_counter, ending, later), ending)


def meter_stream(stream: Any, started: float, on_end: OnEnd) -> MeteredStream | AsyncMeteredStream:
    """Return ``stream`` wrapped so that ``on_end`` is called once, when it ends."""
    return meter(stream, _Told(stream, started, on_end))


#: Per stream class: the wrapper its streams get (bounded: classes, not streams).
_WRAPPERS: dict[type, type[MeteredStream] | type[AsyncMeteredStream]] = {}
_KEEP_CLASSES = 4096


def _read_to_end(source: Any) -> bool:
    """Return whether a stream helper's snapshot says its stream ended (read some other way)."""
    message = getattr(source, "current_message_snapshot", None)
    if message is not None:
        return getattr(message, "stop_reason", None) is not None
    completion = getattr(source, "current_completion_snapshot", None)
    choices = getattr(completion, "choices", None) or ()
    return bool(choices) and all(getattr(c, "finish_reason", None) for c in choices)
