"""Streams handed back wrapped: the operation ends when the stream is consumed or closed.

A wrapped function that returns a stream (the ``openai``/``anthropic`` SDKs'
``Stream``/``AsyncStream``, a generator of chunks, or a ``stream()`` helper's
manager) gets back a proxy that yields the same chunks and reads their usage
(:class:`~toolkeeper.costs.responses.StreamTally`). The operation is recorded
once, when the stream ends:

- consumed to its end: a success, its latency up to the last chunk, the time to
  the first chunk as the ``time_to_first_token_ms`` metric, the usage of its
  final chunk (none there: unmetered, cost unknown);
- closed, left or garbage-collected before its end: ``cancelled``, error code
  ``STREAM_ABANDONED``, with what its chunks reported so far;
- raising while read: an error, as any failed call.

Everything else a stream has (``response``, ``close()``, ``text_stream``,
``get_final_message()``…) is reached through the proxy unchanged.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
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
_OWN = frozenset({"_stream", "_meter", "_inner"})


@dataclass(frozen=True, slots=True)
class StreamEnd:
    """How a stream ended: ``completed``, ``abandoned`` or ``failed`` (with the error)."""

    how: str
    reading: Reading
    duration_s: float
    first_chunk_s: float | None
    chunks: int
    error: BaseException | None = None


OnEnd = Callable[[StreamEnd], None]


class _Meter:
    """The state one stream shares with its proxies: tally, times, and ending once."""

    __slots__ = ("_ended", "_lock", "chunks", "first_s", "last_s", "on_end", "started", "tally")

    def __init__(self, started: float, on_end: OnEnd) -> None:
        self.started, self.on_end = started, on_end
        self.tally = StreamTally()
        self.first_s: float | None = None
        self.last_s = started
        self.chunks = 0
        self._ended = False
        self._lock = threading.Lock()

    def saw(self, chunk: Any) -> None:
        now = perf_counter()
        if self.first_s is None:
            self.first_s = now - self.started
        self.last_s = now
        self.chunks += 1
        self.tally.add(chunk)

    def end(self, how: str, source: Any = None, error: BaseException | None = None) -> None:
        with self._lock:
            if self._ended:
                return
            self._ended = True
        for name in _SNAPSHOTS:
            snapshot = getattr(source, name, None) if source is not None else None
            if snapshot is not None:
                self.tally.add_final(snapshot)
                break
        last = self.last_s if how == "completed" else perf_counter()
        end = StreamEnd(
            how=how, reading=self.tally.reading(), duration_s=last - self.started,
            first_chunk_s=self.first_s, chunks=self.chunks, error=error,
        )  # fmt: skip
        self.on_end(end)


class _Metered:
    """What both stream wrappers share: the stream, its meter, and how an ending is judged."""

    def __init__(self, stream: Any, meter: _Meter) -> None:
        self._stream = stream
        self._meter = meter
        self._inner: Any = None

    def _finish(self, error: BaseException | None) -> None:
        source = self._inner if self._inner is not None else self._stream
        if error is not None:
            self._meter.end("failed", source, error)
        elif _read_to_end(source):
            self._meter.end("completed", source)
        else:
            self._meter.end("abandoned", source)

    def __del__(self) -> None:
        meter = getattr(self, "_meter", None)
        if meter is not None:
            meter.end("abandoned")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._stream!r})"


class MeteredStream(_Metered):
    """A sync stream (or stream manager) that records its operation when it ends."""

    def __iter__(self) -> MeteredStream:
        return self

    def __next__(self) -> Any:
        source = self._inner if self._inner is not None else self._stream
        try:
            chunk = next(source)
        except StopIteration:
            self._meter.end("completed", source)
            raise
        except BaseException as error:
            self._meter.end("failed", source, error)
            raise
        meter = self._meter  # _Meter.saw(), inlined: this runs for every chunk
        meter.last_s = now = perf_counter()
        if meter.first_s is None:
            meter.first_s = now - meter.started
        meter.chunks += 1
        meter.tally.add(chunk)
        return chunk

    def __enter__(self) -> Any:
        if hasattr(self._stream, "__next__"):
            self._stream.__enter__()
            return self
        self._inner = self._stream.__enter__()
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

    def __getattr__(self, name: str) -> Any:
        if name in _OWN:
            raise AttributeError(name)
        found = getattr(self._stream, name)
        if name not in _DRAINS:
            return found

        def drain(*args: Any, **kwargs: Any) -> Any:
            result = found(*args, **kwargs)
            self._meter.end("completed", self._stream)
            return result

        return drain


class AsyncMeteredStream(_Metered):
    """An async stream (or async stream manager) that records its operation when it ends."""

    def __aiter__(self) -> AsyncMeteredStream:
        return self

    async def __anext__(self) -> Any:
        source = self._inner if self._inner is not None else self._stream
        try:
            chunk = await source.__anext__()
        except StopAsyncIteration:
            self._meter.end("completed", source)
            raise
        except BaseException as error:
            self._meter.end("failed", source, error)
            raise
        self._meter.saw(chunk)
        return chunk

    async def __aenter__(self) -> Any:
        if hasattr(self._stream, "__anext__"):
            await self._stream.__aenter__()
            return self
        self._inner = await self._stream.__aenter__()
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

    def __getattr__(self, name: str) -> Any:
        if name in _OWN:
            raise AttributeError(name)
        found = getattr(self._stream, name)
        if name not in _DRAINS:
            return found

        async def drain(*args: Any, **kwargs: Any) -> Any:
            result = await found(*args, **kwargs)
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
