"""Carry finished records from recording threads to the aggregates and to the sink.

Every finished operation passes through here, and only here::

    recording threads --append--> pending (deque) --drain--> Aggregates.fold   (exact)
                                                        +--> RollupDeltas.add  (exact, writer)
                                                        +--> recent ring       (bounded)
                                                        +--> outbox (bounded) --> sink(batch)

Recording is one ``deque.append`` of a tuple: atomic under the GIL, no lock, no
allocation beyond the tuple. A call whose response must still be read and priced
queues an *unread* record instead (see :mod:`toolkeeper.monitor.records`) in
``unread``: the pipeline's ``reader`` turns it into a raw record at the start of
every drain, so its usage is read and priced off the caller's thread (by the
background thread when there is one) and every reader still sees it, priced,
before it reads. Draining (folding into the aggregates) happens

* in every reader, before it reads, so reads are exact and immediate;
* in the background thread, when there is a sink: every ``flush_interval_s``,
  and as soon as a batch (``sink_batch_size``) waits in the outbox;
* in a recording thread, when ``pending`` reaches ``drain_threshold``. It tries
  the lock and moves on if another thread is draining; past four times the
  threshold it waits for the lock, so ``pending`` stays bounded even when
  recorders outrun the consumer (back-pressure on CPU, never on I/O).

Only the background thread and :meth:`RecordPipeline.flush` call the sink, so a
slow sink never blocks a recording thread. When the outbox is full, records are
dropped for the sink only and counted in ``dropped_events``; the aggregates have
already counted them. A sink that raises loses its batch, which is logged and
counted the same way. A :class:`BatchWriter` sink (the store's writer) also gets
the rollup deltas of every record drained, so what it writes for other processes
(rollups, totals) is exact even when raw records are dropped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import repeat
from operator import call
from typing import Protocol, runtime_checkable

from toolkeeper.monitor.aggregates import Aggregates
from toolkeeper.monitor.records import RawRecord, WrapperOperationMetrics, materialize
from toolkeeper.monitor.rollups import RollupDelta, RollupDeltas

__all__ = ["BatchWriter", "RecordPipeline", "Sink"]


@runtime_checkable
class BatchWriter(Protocol):
    """A sink that stores raw records and exact rollups: the store's writer.

    ``write`` gets raw tuples (see :mod:`toolkeeper.monitor.records`), the rollup
    deltas of every record drained since its last call, and how many raw records
    were dropped so far. It is called with no raw records when only deltas wait,
    or while ``pending`` says an earlier write left rollups unstored.
    """

    @property
    def pending(self) -> bool:
        """Return whether rollups from an earlier (failed) write wait to be stored."""
        ...

    @property
    def refused(self) -> int:
        """Return how many raw records the store refused (each isolated from its batch)."""
        ...

    def write(
        self, raws: list[RawRecord], deltas: dict[tuple[str, str, str, int], RollupDelta],
        dropped: int,
    ) -> None:  # fmt: skip
        """Store one batch."""
        ...


Sink = Callable[[list[WrapperOperationMetrics]], None] | BatchWriter
"""Receives finished records in batches, from one thread at a time.

A :class:`BatchWriter` receives raw tuples and rollup deltas instead, which saves
building a record object per operation and keeps its rollups exact.
"""

_log = logging.getLogger("toolkeeper.monitor")


class RecordPipeline:
    """Fold queued raw records into the aggregates and hand batches to a sink.

    ``sink_queue_size`` bounds the records waiting for the sink; ``recent_size``
    bounds the ring of recent records kept for exports; ``writer_share`` bounds the
    share of time the background thread spends delivering (it rests in proportion).
    The background thread runs only when there is a sink and ``flush_interval_s`` is
    not ``None``: without a sink, readers and the threshold drain are enough to keep memory bounded.
    """

    def __init__(
        self,
        aggregates: Aggregates,
        *,
        sink: Sink | None = None,
        sink_queue_size: int = 100_000,
        sink_batch_size: int = 1_000,
        recent_size: int = 10_000,
        flush_interval_s: float | None = 1.0,
        drain_threshold: int = 8_192,
        writer_share: float = 0.1,
    ) -> None:
        for name, value in (
            ("sink_queue_size", sink_queue_size),
            ("sink_batch_size", sink_batch_size),
            ("drain_threshold", drain_threshold),
        ):
            if value < 1:
                raise ValueError(f"{name} must be at least 1, got {value!r}")
        if recent_size < 0:
            raise ValueError(f"recent_size must not be negative, got {recent_size!r}")
        if not 0 < writer_share <= 1:
            raise ValueError(f"writer_share must be in (0, 1], got {writer_share!r}")
        self.aggregates = aggregates
        self.pending: deque[RawRecord] = deque()
        self.lock = threading.Lock()
        self.drain_threshold = drain_threshold
        self._hard_limit = 4 * drain_threshold
        self._sink = sink
        self._writer_share = writer_share
        self._writer = sink if isinstance(sink, BatchWriter) else None
        self._rollups = (
            None if self._writer is None
            else RollupDeltas(max_operations_per_tool=aggregates.max_operations_per_tool)
        )  # fmt: skip
        self._sink_capacity = sink_queue_size
        self._sink_batch_size = sink_batch_size
        self._outbox: deque[RawRecord] = deque()
        self._recent: deque[RawRecord] = deque(maxlen=recent_size)
        self.unread: deque[RawRecord] = deque()
        """Records whose response is still to read and price, and records still to build
        (``Recorder.defer``, ``Recorder.later``): the reader turns both into raw records."""
        self.reader: Callable[[list[RawRecord]], list[RawRecord]] | None = None
        """Turns unread records into raw records (set by the decorator layer)."""
        self.unread_threshold = max(min(256, drain_threshold), 1)
        self._asked = False  # the background thread was woken for the unread records
        self.observers: list[Callable[[list[RawRecord]], None]] = []
        """Called with every drained batch, under :attr:`lock` (append to it under the lock)."""
        self.changes = 0
        """Grows (under :attr:`lock`) when the aggregates change: a batch folded, history shown."""
        self._sink_lock = threading.Lock()
        self._dropped_overflow = 0  # changed under self.lock
        self._dropped_failed = 0  # changed under self._sink_lock
        self.sink_failures = 0
        self._stop = threading.Event()
        # Woken early once a batch is waiting, so bursts do not wait for the interval.
        self._wake = threading.Event()
        self._wake_at = max(min(sink_batch_size, sink_queue_size // 2), 1)
        self._closed = False
        self._thread: threading.Thread | None = None
        if sink is not None and flush_interval_s is not None:
            if flush_interval_s <= 0:
                raise ValueError(f"flush_interval_s must be positive, got {flush_interval_s!r}")
            self._thread = threading.Thread(
                target=self._run, args=(flush_interval_s,), name="toolkeeper-monitor", daemon=True
            )
            self._thread.start()

    @property
    def dropped_events(self) -> int:
        """Return how many records never reached the sink (full outbox or failed sink)."""
        return self._dropped_overflow + self._dropped_failed

    @property
    def refused_rows(self) -> int:
        """Return how many raw records the store refused (0 without a writer)."""
        return 0 if self._writer is None else self._writer.refused

    @property
    def backlog(self) -> int:
        """Return how many records wait to be folded or delivered."""
        return len(self.pending) + len(self.unread) + len(self._outbox)

    def relieve_unread(self) -> None:
        """Have the unread records read, from a recording thread that found them at their threshold.

        With a background thread, wake it (once) and return: the reading and pricing
        are its work. Without one, or past four times the drain threshold (recorders
        outrunning the reader), drain here, as :meth:`relieve` does.
        """
        if self._thread is not None and not self._closed and len(self.unread) < self._hard_limit:
            if not self._asked:
                self._asked = True
                self._wake.set()
            return
        with self.lock:
            self.drain()

    def relieve(self) -> None:
        """Drain from a recording thread that found ``pending`` at its threshold."""
        if len(self.pending) >= self._hard_limit:
            with self.lock:
                self.drain()
        elif self.lock.acquire(blocking=False):
            try:
                self.drain()
            finally:
                self.lock.release()

    def drain(self) -> None:
        """Read the unread records, then fold every record queued; the caller holds :attr:`lock`."""
        unread = self.unread
        if unread:
            self._asked = False
            self._read(unread)
        pending = self.pending
        count = len(pending)
        if not count:
            return
        # Pop a fixed count (recorders may keep appending, and this must finish),
        # with the loop in C: map(call, repeat(popleft)).
        batch = list(map(call, repeat(pending.popleft, count)))
        self.aggregates.fold(batch, self._rollups)
        self.changes += 1
        for observe in self.observers:
            observe(batch)
        self._recent.extend(batch)
        if self._sink is not None:
            room = self._sink_capacity - len(self._outbox)
            if room >= count:
                self._outbox.extend(batch)
            else:
                if room > 0:
                    self._outbox.extend(batch[:room])
                self._dropped_overflow += count - max(room, 0)
            if len(self._outbox) >= self._wake_at:
                self._wake.set()

    def _read(self, unread: deque[RawRecord]) -> None:
        """Turn the unread records queued so far into raw records, queued in ``pending``."""
        count = len(unread)
        taken = list(map(call, repeat(unread.popleft, count)))
        reader = self.reader
        if reader is None:  # nothing can read them: a bug, not a loss to hide
            raise RuntimeError(f"{count} unread records were queued with no reader set")
        self.pending.extend(reader(taken))

    @contextmanager
    def drained(self) -> Iterator[Aggregates]:
        """Hold the lock with every queued record folded, and yield the aggregates."""
        with self.lock:
            self.drain()
            yield self.aggregates

    def recent(self) -> list[RawRecord]:
        """Return the recent finished records, oldest first."""
        with self.drained():
            return list(self._recent)

    def deliver(self, *, batches: int | None = None) -> int:
        """Fold what is queued, then hand the outbox (or ``batches`` batches of it) to the sink.

        Return how many records were handed over.
        """
        sink = self._sink
        if sink is None:
            with self.lock:
                self.drain()
            return 0
        delivered = 0
        with self._sink_lock:
            with self.lock:
                self.drain()
                deltas = self._rollups.take() if self._rollups is not None else {}
            writer = self._writer
            outbox = self._outbox
            if writer is not None and not outbox and (deltas or writer.pending):
                self._write(writer, [], deltas)
            while outbox and (batches is None or batches > 0):
                if batches is not None:
                    batches -= 1
                size = min(len(outbox), self._sink_batch_size)
                popleft = outbox.popleft
                raws = [popleft() for _ in range(size)]
                if writer is not None:
                    delivered += self._write(writer, raws, deltas)
                    deltas = {}
                    continue
                records = [materialize(raw) for raw in raws]
                try:
                    sink(records)  # type: ignore[operator]  # not a BatchWriter, so a callable
                except Exception:  # noqa: BLE001 - a failing sink must not stop monitoring; the loss is logged and counted
                    self._sink_failed(len(records))
                else:
                    delivered += len(records)
        return delivered

    def _write(
        self, writer: BatchWriter, raws: list[RawRecord],
        deltas: dict[tuple[str, str, str, int], RollupDelta],
    ) -> int:  # fmt: skip
        try:
            writer.write(raws, deltas, self.dropped_events)
        except Exception:  # noqa: BLE001 - a failing store must not stop monitoring; the loss is logged and counted
            self._sink_failed(len(raws))
            return 0
        return len(raws)

    def _sink_failed(self, count: int) -> None:
        self.sink_failures += 1
        self._dropped_failed += count
        _log.exception("monitoring sink failed; %d records were dropped", count)

    def flush(self) -> None:
        """Fold everything queued and deliver it to the sink now, in the calling thread."""
        self.deliver()

    def close(self) -> None:
        """Stop the background thread and flush; idempotent.

        Recording still works afterwards; records then reach the sink on ``flush()``.
        """
        if not self._closed:
            self._closed = True
            self._stop.set()
            self._wake.set()
            if self._thread is not None:
                self._thread.join()
        self.flush()

    def _run(self, interval: float) -> None:
        while not self._stop.is_set():
            self._wake.wait(interval)
            self._wake.clear()
            # One batch at a time, each followed by a rest in proportion to its work: the
            # writer holds the GIL while it builds rows, so this bounds the share of the
            # process it takes, in short slices. A writer that cannot keep up then drops raw
            # events (counted), and the application keeps its speed.
            while not self._stop.is_set():
                started = time.monotonic()
                if not self.deliver(batches=1):
                    break
                busy = time.monotonic() - started
                rest = busy * (1.0 - self._writer_share) / self._writer_share
                self._stop.wait(min(rest, interval * 10))
