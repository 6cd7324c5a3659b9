"""Measure what tracking a call costs, beside the tools people would use instead.

Every per-call figure is a median over many short chunks, the peers' chunks
interleaved, measured in the same run on the same machine, in nanoseconds of the
calling thread's CPU time per call (``time.thread_time_ns``). Work a library does
in threads of its own is charged to none of them: toolkeeper's store writer,
OpenTelemetry's batch processor, Langfuse's exporter. (Those threads would
otherwise land in whichever peer's chunk is running; and this machine is shared,
so wall time also counts other tenants.) The throughput figures are wall time and
include every thread.

- ``tracked_call_ns``: a no-op under ``@keeper.tool`` recording status, latency,
  cost and tokens (read from an OpenAI-style result), with the store writer running;
- ``floor_ns``: the same no-op in a hand-written try/finally with two
  ``perf_counter_ns`` calls and a count/sum/min/max update under a lock;
- ``prometheus_ns``: prometheus-client counters for calls, cost and tokens and a
  histogram for latency;
- ``otel_ns``: an OpenTelemetry SDK span (BatchSpanProcessor, no-op exporter);
- ``langfuse_ns``: a Langfuse generation with usage and cost, its exporter
  pointed at a closed local port.

Also: throughput with 1, 2 and 4 threads, memory growth over many operations,
the store writer's throughput into SQLite, and ``import toolkeeper`` time.

The timing (CPU per call, the floor, interleaved chunks, medians) is
benchmarks/_harness.py, shared with benchmarks/paths.py.

Run: ``.venv/bin/python benchmarks/overhead.py [--quick]``. Results go to
``benchmarks/results/overhead.json``; the last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import gc
import inspect
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _harness import cpu_ns, floor_body, interleave

from toolkeeper import Keeper
from toolkeeper.config.files import ConfigFile

CONFIG = """\
[tools.bench]
timeout_sync_calls = false
max_retry_attempts = 0
"""
RESULT = {"model": "gpt-4o-mini", "usage": {"prompt_tokens": 12, "completion_tokens": 3,
                                            "cost": 0.000021}}  # fmt: skip
OUT = Path(__file__).parent / "results" / "overhead.json"
CHUNK_S = 0.05


def noop() -> dict[str, Any]:
    """Stand for a call to an external tool that returns at once."""
    return RESULT


def prometheus_body() -> Callable[[], object]:
    """Return the no-op instrumented with prometheus-client counters and a histogram."""
    from prometheus_client import CollectorRegistry, Counter, Histogram

    registry = CollectorRegistry()
    calls = Counter("calls", "calls", ["tool", "operation", "status"], registry=registry)
    cost = Counter("cost_usd", "cost", ["tool", "operation"], registry=registry)
    tokens = Counter("tokens", "tokens", ["tool", "operation", "direction"], registry=registry)
    latency = Histogram("latency_seconds", "latency", ["tool", "operation"], registry=registry)
    clock = time.perf_counter

    def body() -> object:
        start = clock()
        status = "error"
        try:
            result = noop()
            status = "success"
            return result
        finally:
            latency.labels("bench", "chat").observe(clock() - start)
            calls.labels("bench", "chat", status).inc()
            usage = RESULT["usage"]
            cost.labels("bench", "chat").inc(usage["cost"])
            tokens.labels("bench", "chat", "input").inc(usage["prompt_tokens"])
            tokens.labels("bench", "chat", "output").inc(usage["completion_tokens"])

    return body


def otel_body() -> tuple[Callable[[], object], Callable[[], None]]:
    """Return the no-op inside an OpenTelemetry SDK span, and a shutdown."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )

    class NoOpExporter(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:  # noqa: ARG002 - drops them
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(NoOpExporter()))
    tracer = provider.get_tracer("bench")

    def body() -> object:
        with tracer.start_as_current_span("chat") as span:
            result = noop()
            usage = RESULT["usage"]
            span.set_attribute("gen_ai.usage.input_tokens", usage["prompt_tokens"])
            span.set_attribute("gen_ai.usage.output_tokens", usage["completion_tokens"])
            span.set_attribute("gen_ai.usage.cost", usage["cost"])
            return result

    return body, provider.shutdown


def langfuse_body() -> tuple[Callable[[], object], Callable[[], None]]:
    """Return the no-op inside a Langfuse generation (exporter at a closed port), and a shutdown."""
    from langfuse import Langfuse

    logging.getLogger("langfuse").setLevel(logging.CRITICAL)
    logging.getLogger("opentelemetry").setLevel(logging.CRITICAL)
    client = Langfuse(public_key="pk-bench", secret_key="sk-bench", host="http://127.0.0.1:9",
                      flush_interval=3600, timeout=1)  # fmt: skip
    usage = RESULT["usage"]

    def body() -> object:
        with client.start_as_current_observation(
            name="chat", as_type="generation", model="gpt-4o-mini",
            usage_details={"input": usage["prompt_tokens"], "output": usage["completion_tokens"]},
            cost_details={"total": usage["cost"]},
        ):  # fmt: skip
            return noop()

    def shutdown() -> None:
        # The exporter cannot reach its closed port; do not wait on it.
        client._resources = None  # type: ignore[attr-defined]

    return body, shutdown


def threaded_rate(body: Callable[[], object], threads: int, calls: int) -> float:
    """Return calls per second with ``threads`` threads each making ``calls`` calls."""
    barrier = threading.Barrier(threads + 1)

    def worker() -> None:
        barrier.wait()
        for _ in range(calls):
            body()

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for worker_thread in workers:
        worker_thread.start()
    barrier.wait()
    start = time.perf_counter()
    for worker_thread in workers:
        worker_thread.join()
    return threads * calls / (time.perf_counter() - start)


def rss_mb() -> float:
    """Return this process's resident memory in MB."""
    with open("/proc/self/statm") as handle:  # noqa: PTH123 - a one-line read
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def memory_growth_mb(keeper: Keeper, tracked: Callable[[], object], operations: int) -> float:
    """Return how much resident memory grows over ``operations`` tracked calls after warm-up."""
    for _ in range(200_000):
        tracked()
    keeper.flush()
    gc.collect()
    before = rss_mb()
    for _ in range(operations):
        tracked()
    keeper.flush()
    gc.collect()
    return rss_mb() - before


def writer_rate(path: Path, operations: int) -> tuple[float, int]:
    """Return the store writer's rows per second into a new SQLite file, and the rows it stored.

    Batches have the pipeline's default size, as the background writer hands them over;
    each is folded into the aggregates and rollup deltas first, as the pipeline's drain does.
    """
    from toolkeeper.monitor.aggregates import Aggregates
    from toolkeeper.monitor.persist import StoreWriter
    from toolkeeper.monitor.pipeline import RecordPipeline
    from toolkeeper.monitor.rollups import RollupDeltas
    from toolkeeper.store import open_store
    from toolkeeper.store.operations import operation_rows

    store = open_store(f"sqlite:///{path}")
    writer = StoreWriter(store, now=time.time, retention_days=lambda _: 30)
    now = time.time()
    batch_size = inspect.signature(RecordPipeline).parameters["sink_batch_size"].default
    batches = [
        [(seq, now, "bench", "chat", "success", 0.001, 0.00002, 12, 3, None, None, None, "gpt")
         for seq in range(start, start + batch_size)]
        for start in range(0, operations, batch_size)
    ]  # fmt: skip
    aggregates, deltas = Aggregates(), RollupDeltas()
    start = time.perf_counter()
    for batch in batches:
        aggregates.fold(batch, deltas)
        writer.write(batch, deltas.take(), 0)
    elapsed = time.perf_counter() - start
    stored = operation_rows(store, limit=1)[1]
    store.close()
    return operations / elapsed, stored


def import_ms(rounds: int) -> float:
    """Return the median wall time of ``python -c 'import toolkeeper'`` minus a bare interpreter."""

    def run(code: str) -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        return time.perf_counter() - start

    bare = statistics.median(run("pass") for _ in range(rounds))
    full = statistics.median(run("import toolkeeper") for _ in range(rounds))
    return max(full - bare, 0.0) * 1000


def main() -> None:
    """Run every measurement and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds; under two minutes")
    args = parser.parse_args()
    chunk_rounds = 40 if args.quick else 150
    calls = 50_000 if args.quick else 200_000  # per thread-count measurement
    memory_ops = 1_000_000 if args.quick else 10_000_000

    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        results: dict[str, Any] = {}
        # The writer first, alone: the peers below leave threads behind (Langfuse's exporter
        # keeps retrying its closed port), which would take CPU from it.
        runs = [writer_rate(directory / f"writer-{n}.db", 100_000 if args.quick else 500_000)
                for n in range(3)]  # fmt: skip
        results["writer_rows_per_s"] = round(statistics.median(rate for rate, _ in runs))
        results["writer_rows_stored"] = min(stored for _, stored in runs)
        keeper = Keeper.open(ConfigFile.parse(CONFIG), store=f"sqlite:///{directory / 'bench.db'}",
                             follow_changes=False)  # fmt: skip
        tracked = keeper.tool("bench", operation="chat")(noop)
        otel, otel_shutdown = otel_body()
        langfuse, langfuse_shutdown = langfuse_body()
        bodies = {
            "tracked_call_ns": tracked,
            "floor_ns": floor_body(RESULT),
            "prometheus_ns": prometheus_body(),
            "otel_ns": otel,
            "langfuse_ns": langfuse,
        }
        # Each body runs in chunks of about CHUNK_S, interleaved body after body, so the
        # machine's noise (frequency changes, other tenants' caches) hits every peer alike; a
        # figure is the median over its chunks. The store writer works during the tracked
        # chunks (it wakes as soon as a batch waits); what it has left when a chunk ends is
        # written before the next chunk starts.
        # Each chunk is sized from the median of three runs of 2,000 calls.
        timers = {name: (lambda n, b=body: cpu_ns(b, n)) for name, body in bodies.items()}
        got = interleave(timers, chunk_rounds, keeper.flush, chunk_s=CHUNK_S, warmup_calls=0,
                         probe_calls=2_000, probe_rounds=3, min_calls=50)  # fmt: skip
        for name, value in got.items():
            results[name] = round(value, 1)
        otel_shutdown()
        langfuse_shutdown()
        results["tracked_over_floor"] = round(results["tracked_call_ns"] / results["floor_ns"], 2)
        results["tracked_over_prometheus"] = round(
            results["tracked_call_ns"] / results["prometheus_ns"], 3
        )
        for threads in (1, 2, 4):
            rates = [threaded_rate(tracked, threads, calls // threads) for _ in range(3)]
            results[f"calls_per_s_{threads}_threads"] = round(statistics.median(rates))
        results["memory_operations"] = memory_ops
        results["memory_growth_mb"] = round(memory_growth_mb(keeper, tracked, memory_ops), 1)
        keeper.flush()
        results["dropped_events"] = keeper.monitoring.dropped_events
        keeper.close()
    results["import_ms"] = round(import_ms(5 if args.quick else 11), 1)
    results["mode"] = "quick" if args.quick else "full"
    results["python"] = sys.version.split()[0]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
