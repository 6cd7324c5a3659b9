"""Streams handed back wrapped: the operation ends when the stream is consumed or closed.

A wrapped function that returns a stream (the ``openai``/``anthropic`` SDKs'
``Stream``/``AsyncStream``, a generator of chunks, or a ``stream()`` helper's
manager) gets back a proxy that yields the same chunks, keeping only the first and the
last few (:data:`TAIL_CHUNKS`): the providers report usage there (OpenAI in the last
chunk or ``response.completed`` event, Anthropic in ``message_start`` and the final
``message_delta``), and those are read once, when the stream ends
(:class:`~toolkeeper.costs.responses.StreamTally`), so a chunk costs a few attribute
writes. The operation is recorded once, when the stream ends:

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
    "meter_stream",
]

#: The error code of an operation whose stream was closed before its end.
STREAM_ABANDONED = "STREAM_ABANDONED"
_SNAPSHOTS = ("current_completion_snapshot", "current_message_snapshot")
#: A stream helper's methods that read the stream to its end.
_DRAINS = frozenset({"get_final_completion", "get_final_message", "until_done"})
_OWN = frozenset({"_stream", "_meter", "_inner", "_source"})
#: How many of a stream's last chunks are kept to read its usage from at its end.
TAIL_CHUNKS = 8


class StreamEnd:
    """How a stream ended: ``completed``, ``abandoned`` or ``failed`` (with the error).

    ``reading`` is what its kept chunks (the first and the last ones) and its helper's
    final ``snapshot`` report: read once, when first asked (by the pipeline, for a call
    whose cost nobody waits for), not when the stream ends.
    """

    __slots__ = (
        "_kept", "_reading", "_snapshot", "chunks", "duration_s", "error", "first_chunk_s", "how",
    )  # fmt: skip

    def __init__(
        self,
        *,
        how: str,
        duration_s: float,
        first_chunk_s: float | None,
        chunks: int,
        error: BaseException | None = None,
        kept: tuple[Any, ...] = (),
        snapshot: Any = None,
    ) -> None:
        self.how, self.duration_s, self.first_chunk_s = how, duration_s, first_chunk_s
        self.chunks, self.error = chunks, error
        self._kept, self._snapshot = kept, snapshot
        self._reading: Reading | None = None

    @property
    def reading(self) -> Reading:
        """Return the usage the stream's chunks reported (unmetered when none did)."""
        if self._reading is None:
            tally = StreamTally()
            for chunk in self._kept:
                tally.add(chunk)
            if self._snapshot is not None:
                tally.add_final(self._snapshot)
            self._reading = tally.reading()
            self._kept, self._snapshot = (), None
        return self._reading

    def __repr__(self) -> str:
        return f"StreamEnd(how={self.how!r}, chunks={self.chunks}, duration_s={self.duration_s})"


OnEnd = Callable[[StreamEnd], None]


class _Meter:
    """The state one stream shares with its proxies: tally, times, and ending once."""

    __slots__ = (
        "_ended", "_lock", "chunks", "first", "first_s", "on_end", "started", "tail",
    )  # fmt: skip

    def __init__(self, started: float, on_end: OnEnd) -> None:
        self.started, self.on_end = started, on_end
        self.first: Any = None
        self.tail: deque[Any] = deque(maxlen=TAIL_CHUNKS)
        self.first_s: float | None = None
        self.chunks = 0
        self._ended = False
        self._lock = threading.Lock()

    def saw(self, chunk: Any) -> Any:
        """Count one chunk read (the first is kept and timed) and give it back.

        Only the first chunk reads the clock: between chunks the SDK's parsing leaves
        the clock's data out of the processor's caches, so a read per chunk would cost
        more than the rest of the chunk's bookkeeping.
        """
        if self.first_s is None:
            self.first_s = perf_counter() - self.started
            self.first = chunk
        self.chunks += 1
        self.tail.append(chunk)
        return chunk

    def kept(self) -> tuple[Any, ...]:
        """Return the chunks kept to read usage from: the first, then the last ones in order."""
        first = self.first
        if first is None:
            return tuple(self.tail)
        return (first, *(chunk for chunk in self.tail if chunk is not first))

    def end(self, how: str, source: Any = None, error: BaseException | None = None) -> None:
        with self._lock:
            if self._ended:
                return
            self._ended = True
        last = perf_counter()
        kept = self.kept()
        self.first = None
        self.tail.clear()
        snapshot = None
        for name in _SNAPSHOTS:
            snapshot = getattr(source, name, None) if source is not None else None
            if snapshot is not None:
                break
        end = StreamEnd(
            how=how, duration_s=last - self.started, first_chunk_s=self.first_s,
            chunks=self.chunks, error=error, kept=kept, snapshot=snapshot,
        )  # fmt: skip
        self.on_end(end)


class _Metered(ABC):
    """What both stream wrappers share: the stream, its meter, and how an ending is judged."""

    def __init__(self, stream: Any, meter: _Meter) -> None:
        self._stream = stream
        self._meter = meter
        self._inner: Any = None
        self._source: Any = stream  # what chunks are read from: the inner stream once entered

    def _ended_by(self, error: BaseException) -> None:
        """End the meter for what reading the next chunk raised: its end, or a failure."""
        if isinstance(error, StopIteration | StopAsyncIteration):
            self._meter.end("completed", self._source)
        else:
            self._meter.end("failed", self._source, error)

    def _finish(self, error: BaseException | None) -> None:
        source = self._source
        if error is not None:
            self._meter.end("failed", source, error)
        elif _read_to_end(source):
            self._meter.end("completed", source)
        else:
            self._meter.end("abandoned", source)

    def __getattr__(self, name: str) -> Any:
        if name in _OWN:
            raise AttributeError(name)
        found = getattr(self._stream, name)
        return self._draining(found) if name in _DRAINS else found

    @abstractmethod
    def _draining(self, method: Callable[..., Any]) -> Callable[..., Any]:
        """Return ``method`` (one that reads the stream to its end) ending the meter after it."""

    def __del__(self) -> None:
        meter = getattr(self, "_meter", None)
        if meter is not None:
            meter.end("abandoned")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._stream!r})"


class MeteredStream(_Metered):
    """A sync stream (or stream manager) that records its operation when it ends."""

    def __iter__(self) -> Iterator[Any]:
        # A generator, as the SDKs' own streams give: resuming one per chunk costs a fraction
        # of a call of __next__. Both read the same source, so they can be mixed.
        if not hasattr(type(self._source), "__iter__"):
            return self
        return self._chunks()

    def _chunks(self) -> Iterator[Any]:
        source, meter = self._source, self._meter
        keep = meter.tail.append
        try:
            chunks = iter(source)
            for chunk in chunks:  # the first: timed and kept whole (unless next() read it)
                yield meter.saw(chunk)
                break
            for chunk in chunks:  # every other: this runs for every chunk, so it is inlined
                meter.chunks += 1
                keep(chunk)
                yield chunk
        except GeneratorExit:  # left before its end: close(), __exit__ or collection judge it
            raise
        except BaseException as error:
            meter.end("failed", source, error)
            raise
        meter.end("completed", source)

    def __next__(self) -> Any:
        try:
            return self._meter.saw(next(self._source))
        except BaseException as error:
            self._ended_by(error)
            raise

    def __enter__(self) -> Any:
        if hasattr(self._stream, "__next__"):
            self._stream.__enter__()
            return self
        self._inner = self._source = self._stream.__enter__()
        return MeteredStream(self._inner, self._meter)

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
            self._meter.end("completed", self._stream)
            return result

        return drain


class AsyncMeteredStream(_Metered):
    """An async stream (or async stream manager) that records its operation when it ends."""

    def __aiter__(self) -> AsyncMeteredStream:
        return self

    async def __anext__(self) -> Any:
        try:
            return self._meter.saw(await self._source.__anext__())
        except BaseException as error:
            self._ended_by(error)
            raise

    async def __aenter__(self) -> Any:
        if hasattr(self._stream, "__anext__"):
            await self._stream.__aenter__()
            return self
        self._inner = self._source = await self._stream.__aenter__()
        return AsyncMeteredStream(self._inner, self._meter)

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
            self._meter.end("completed", self._stream)
            return result

        return drain


def meter_stream(stream: Any, started: float, on_end: OnEnd) -> MeteredStream | AsyncMeteredStream:
    """Return ``stream`` wrapped so that ``on_end`` is called once, when it ends."""
    meter = _Meter(started, on_end)
    kind = type(stream)
    manager_only = hasattr(kind, "__aenter__") and not hasattr(kind, "__next__")
    if hasattr(kind, "__anext__") or manager_only:
        return AsyncMeteredStream(stream, meter)
    return MeteredStream(stream, meter)


def _read_to_end(source: Any) -> bool:
    """Return whether a stream helper's snapshot says its stream ended (read some other way)."""
    message = getattr(source, "current_message_snapshot", None)
    if message is not None:
        return getattr(message, "stop_reason", None) is not None
    completion = getattr(source, "current_completion_snapshot", None)
    choices = getattr(completion, "choices", None) or ()
    return bool(choices) and all(getattr(c, "finish_reason", None) for c in choices)
