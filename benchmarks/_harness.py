"""The measuring harness that benchmarks/paths.py and benchmarks/overhead.py share.

- :func:`cpu_ns` / :func:`wall_ns`: the mean time per call of a body, on the calling
  thread's CPU clock (``time.thread_time_ns``: the store writer's thread and the other
  tenants of a shared machine are charged to no figure) or on the wall clock (for
  round trips, which wait rather than compute);
- :func:`floor_body`: the hand-written minimum a tracked call is compared with (a
  try/finally, two clock reads, four numbers updated under a lock);
- :func:`interleave`: each body timed in chunks of about ``chunk_s`` seconds, body
  after body, round after round, so the machine's noise (frequency changes, other
  tenants' caches) hits every peer alike; a figure is the median over its chunks;
- :func:`emit` / :func:`ratio_line`: a figure as one JSON line, printed as it comes.

Imported by the scripts as ``_harness`` (they run as ``python benchmarks/<name>.py``,
which puts this folder first on ``sys.path``).
"""

from __future__ import annotations

import gc
import json
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["cpu_ns", "emit", "floor_body", "interleave", "ratio_line", "wall_ns"]


def cpu_ns(body: Callable[[], object], calls: int) -> float:
    """Return the mean CPU ns (this thread's) per call of ``body`` over ``calls`` calls."""
    start = time.thread_time_ns()
    for _ in range(calls):
        body()
    return (time.thread_time_ns() - start) / calls


def wall_ns(body: Callable[[], object], calls: int) -> float:
    """Return the mean wall ns per call of ``body`` over ``calls`` calls."""
    start = time.perf_counter_ns()
    for _ in range(calls):
        body()
    return (time.perf_counter_ns() - start) / calls


def floor_body(value: object) -> Callable[[], object]:
    """Return the sync floor: time a call returning ``value``, update four numbers under a lock."""
    lock = threading.Lock()
    stats = {"count": 0, "sum": 0, "min": 1 << 62, "max": 0}
    clock = time.perf_counter_ns

    def noop() -> object:
        return value

    def body() -> object:
        start = clock()
        try:
            return noop()
        finally:
            elapsed = clock() - start
            with lock:
                stats["count"] += 1
                stats["sum"] += elapsed
                stats["min"] = min(stats["min"], elapsed)
                stats["max"] = max(stats["max"], elapsed)

    return body


def interleave(
    timers: dict[str, Callable[[int], float]],
    rounds: int,
    between: Callable[[], None],
    *,
    chunk_s: float,
    warmup_calls: int = 20,
    probe_calls: int = 200,
    probe_rounds: int = 1,
    min_calls: int = 5,
) -> dict[str, float]:
    """Run each timer in chunks of about ``chunk_s``, timer after timer, round after round.

    A timer takes a number of calls and returns the ns per call. Each is first
    warmed up (``warmup_calls``), then probed (the median of ``probe_rounds`` runs
    of ``probe_calls``) to size its chunk (at least ``min_calls``). ``between``
    runs after every chunk (a keeper's ``flush``: what the store writer has left
    is written before the next chunk starts). Returns the median ns per call of
    each timer over its chunks.
    """
    sizes: dict[str, int] = {}
    for name, timer in timers.items():
        if warmup_calls:
            timer(warmup_calls)  # caches, connections, scripts
        probes = []
        for _ in range(probe_rounds):
            gc.collect()
            probes.append(timer(probe_calls))
        sizes[name] = max(min_calls, round(chunk_s * 1e9 / max(statistics.median(probes), 1.0)))
    samples: dict[str, list[float]] = {name: [] for name in timers}
    for _ in range(rounds):
        for name, timer in timers.items():
            gc.collect()
            samples[name].append(timer(sizes[name]))
            between()
    return {name: statistics.median(values) for name, values in samples.items()}


def emit(lines: list[dict[str, Any]], figure: str, value: float, **extra: Any) -> None:
    """Append one figure's JSON line (printed as it comes)."""
    line = {"figure": figure, "value": round(value, 3), **extra}
    lines.append(line)
    print(json.dumps(line), flush=True)


def ratio_line(  # noqa: PLR0917 - one figure's fields
    lines: list[dict[str, Any]], figure: str, ns: float, peer: str, peer_ns: float,
    goal: float, mode: str,
) -> None:  # fmt: skip
    """Emit a figure as the ratio of its time to its peer's, against the goal ratio."""
    ratio = ns / peer_ns
    emit(lines, figure, ratio, unit="ratio", ns=round(ns, 1), peer=peer,
         peer_ns=round(peer_ns, 1), goal=f"<= {goal}", holds=ratio <= goal, mode=mode)  # fmt: skip
