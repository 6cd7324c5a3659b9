"""Measure the paths users take through ``@keeper.tool``, each against its floor or peer.

Every figure is a ratio of two bodies measured in the same run, their chunks
interleaved round after round, each a median over its chunks:

- ``sync_openai_priced`` / ``sync_anthropic_priced`` / ``sync_dict_priced``: a sync
  call returning a real ``openai`` ChatCompletion, a real ``anthropic`` Message, or a
  dict, each with usage but no cost (priced from the catalog), against the sync floor
  of benchmarks/_harness.py, overhead.py's too (a try/finally, two clock reads, four
  numbers under a lock);
- ``async_dict_timeout`` / ``async_openai_timeout``: an ``async def`` tool under its
  30 s timeout returning a dict that carries its cost, or a ChatCompletion to price,
  against a hand-written async floor doing the same bookkeeping under
  ``asyncio.timeout(30)``;
- ``stream_openai_per_chunk``: a real ``openai.Stream`` (server-sent events parsed by
  the SDK from bytes in memory) returned by a tracked function and read to its end,
  against the SDK's bare iteration of the same bytes, each counting only its time
  outside the SDK's own work (making the stream, parsing its chunks): the figure is the
  extra time per chunk, in nanoseconds;
- ``budget_memory``: a call charged to a daily budget whose ledger is in memory, against
  the same call without a budget: the figure is the extra time, in nanoseconds;
- ``budget_redis``: the same call with the ledger in Redis, against a bare ``EVALSHA``
  round trip of a one-line script (wall time: a round trip is waiting, not CPU);
- ``budget_sqlite``: the same call with the ledger in an SQLite file (wall time).

CPU figures are the calling thread's CPU time (``time.thread_time_ns``), so the store
writer's thread and other tenants of this shared machine are charged to none of
them. Each figure is written as one JSON line to ``benchmarks/results/paths.jsonl``
(with the machine's load average when it ran), and printed.

The timing and the JSON lines are benchmarks/_harness.py, shared with
benchmarks/overhead.py.

Run: ``.venv/bin/python benchmarks/paths.py [--quick] [--redis redis://…/N]`` (the
Redis URL defaults to ``TOOLKEEPER_TEST_REDIS``; without one that figure is skipped).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from _harness import cpu_ns, emit, floor_body, interleave, ratio_line, wall_ns

from toolkeeper import Keeper
from toolkeeper.config.files import ConfigFile

OUT = Path(__file__).parent / "results" / "paths.jsonl"
CHUNK_S = 0.02
STREAM_CHUNKS = 200

CONFIG = """\
[tools.bench]
timeout_sync_calls = false
max_retry_attempts = 0

[tools.abench]
timeout_seconds = 30
max_retry_attempts = 0

[tools.budgeted]
timeout_sync_calls = false
max_retry_attempts = 0
daily_budget = 1000000
"""
COSTED = {"model": "gpt-4o-mini", "usage": {"prompt_tokens": 12, "completion_tokens": 3,
                                            "cost": 0.000021}}  # fmt: skip
UNCOSTED = {"model": "gpt-4o-mini", "usage": {"prompt_tokens": 12, "completion_tokens": 3}}
OPENAI_BODY = {
    "id": "chatcmpl-1", "object": "chat.completion", "created": 1_700_000_000,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [{"index": 0, "finish_reason": "stop",
                 "message": {"role": "assistant", "content": "Hello."}}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15,
              "prompt_tokens_details": {"cached_tokens": 0},
              "completion_tokens_details": {"reasoning_tokens": 0}},
}  # fmt: skip
ANTHROPIC_BODY = {
    "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-3-5-haiku-20241022",
    "content": [{"type": "text", "text": "Hello."}], "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 12, "output_tokens": 3, "cache_read_input_tokens": 0,
              "cache_creation_input_tokens": 0},
}  # fmt: skip


def openai_completion() -> Any:
    """Return a real ``openai`` ChatCompletion with usage and no cost."""
    from openai.types.chat import ChatCompletion

    return ChatCompletion.model_validate(OPENAI_BODY)


def anthropic_message() -> Any:
    """Return a real ``anthropic`` Message with usage and no cost."""
    from anthropic.types import Message

    return Message.model_validate(ANTHROPIC_BODY)


def async_batch(loop: asyncio.AbstractEventLoop, one: Callable[[], Any]) -> Callable[[int], float]:
    """Return a timer of ``n`` sequential awaits of ``one()`` on ``loop``, CPU ns per await."""

    async def run(n: int) -> None:
        for _ in range(n):
            await one()

    def timed(n: int) -> float:
        start = time.thread_time_ns()
        loop.run_until_complete(run(n))
        return (time.thread_time_ns() - start) / n

    return timed


def async_floor(value: object) -> Callable[[], Any]:
    """Return the async floor: the floor's bookkeeping around an await under asyncio.timeout(30)."""
    lock = threading.Lock()
    stats = {"count": 0, "sum": 0, "min": 1 << 62, "max": 0}
    clock = time.perf_counter_ns

    async def noop() -> object:
        return value

    async def body() -> object:
        start = clock()
        try:
            async with asyncio.timeout(30):
                return await noop()
        finally:
            elapsed = clock() - start
            with lock:
                stats["count"] += 1
                stats["sum"] += elapsed
                stats["min"] = min(stats["min"], elapsed)
                stats["max"] = max(stats["max"], elapsed)

    return body


def sse_bytes(chunks: int) -> bytes:
    """Return an OpenAI chat stream of ``chunks`` content chunks and a usage chunk, as SSE."""
    base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1_700_000_000,
            "model": "gpt-4o-mini-2024-07-18"}  # fmt: skip
    lines = []
    for n in range(chunks):
        delta = {"choices": [{"index": 0, "delta": {"content": f"w{n} "}, "finish_reason": None}]}
        lines.append(f"data: {json.dumps({**base, **delta})}\n\n")
    usage = {"prompt_tokens": 12, "completion_tokens": chunks, "total_tokens": 12 + chunks}
    lines.append(f"data: {json.dumps({**base, 'choices': [], 'usage': usage})}\n\n")
    lines.append("data: [DONE]\n\n")
    return "".join(lines).encode()


def openai_stream_factory(chunks: int) -> Callable[[], Any]:
    """Return a maker of real ``openai.Stream`` objects over ``chunks`` chunks held in memory."""
    import httpx
    from openai import OpenAI, Stream
    from openai.types.chat import ChatCompletionChunk

    client = OpenAI(api_key="sk-bench", base_url="http://127.0.0.1:9/v1")
    payload = sse_bytes(chunks)
    request = httpx.Request("POST", "http://127.0.0.1:9/v1/chat/completions")

    def make() -> Any:
        response = httpx.Response(
            200, content=payload, headers={"content-type": "text/event-stream"}, request=request
        )
        return Stream(cast_to=ChatCompletionChunk, response=response, client=client)

    return make


def sync_figures(keeper: Keeper, rounds: int, mode: str, lines: list[dict[str, Any]]) -> None:
    """Sync calls priced from the catalog, against the sync floor."""
    completion, message = openai_completion(), anthropic_message()
    bodies: dict[str, Callable[[], object]] = {
        "floor": floor_body(COSTED),
        "costed": keeper.tool("bench", operation="costed")(lambda: COSTED),
        "openai": keeper.tool("bench", operation="openai")(lambda: completion),
        "anthropic": keeper.tool("bench", operation="anthropic")(lambda: message),
        "dict": keeper.tool("bench", operation="dict")(lambda: UNCOSTED),
    }
    timers = {name: (lambda n, b=body: cpu_ns(b, n)) for name, body in bodies.items()}
    got = interleave(timers, rounds, keeper.flush, chunk_s=CHUNK_S)
    ratio_line(lines, "sync_costed_dict", got["costed"], "sync_floor", got["floor"], 2, mode)
    ratio_line(lines, "sync_openai_priced", got["openai"], "sync_floor", got["floor"], 2, mode)
    ratio_line(lines, "sync_anthropic_priced", got["anthropic"], "sync_floor", got["floor"], 2,
               mode)  # fmt: skip
    ratio_line(lines, "sync_dict_priced", got["dict"], "sync_floor", got["floor"], 2, mode)


def async_figures(keeper: Keeper, rounds: int, mode: str, lines: list[dict[str, Any]]) -> None:
    """Async calls under a 30 s timeout, against the asyncio.timeout floor."""
    completion = openai_completion()

    async def costed() -> object:
        return COSTED

    async def sdk() -> object:
        return completion

    loop = asyncio.new_event_loop()
    try:
        timers = {
            "floor": async_batch(loop, async_floor(COSTED)),
            "dict": async_batch(loop, keeper.tool("abench", operation="dict")(costed)),
            "openai": async_batch(loop, keeper.tool("abench", operation="openai")(sdk)),
        }
        got = interleave(timers, rounds, keeper.flush, chunk_s=CHUNK_S)
    finally:
        loop.close()
    ratio_line(lines, "async_dict_timeout", got["dict"], "async_floor", got["floor"], 1, mode)
    ratio_line(lines, "async_openai_timeout", got["openai"], "async_floor", got["floor"], 1, mode)


def paired_extra(bare: Callable[[], float], tracked: Callable[[], float], rounds: int) -> float:
    """Return the median over rounds of ``tracked() - bare()``, each timer run back to back.

    Each round runs both one right after the other (in turn, which goes first), so the
    difference is taken under the same load; the median of the differences drops the
    rounds a neighbour disturbed.
    """
    bare(), tracked()  # warm up
    extras = []
    for turn in range(rounds):
        gc.collect()
        first, second = (bare, tracked) if turn % 2 == 0 else (tracked, bare)
        a, b = first(), second()
        extras.append(b - a if first is bare else a - b)
    return statistics.median(extras)


def paired_extra_ns(
    bare: Callable[[], object], tracked: Callable[[], object], rounds: int, per_round: int
) -> float:
    """Return the median over rounds of (tracked - bare) CPU ns per call (:func:`paired_extra`)."""
    return paired_extra(lambda: cpu_ns(bare, per_round), lambda: cpu_ns(tracked, per_round), rounds)


def sdk_timed(make: Callable[[], Any], inside: list[int]) -> Callable[[], Any]:
    """Return ``make`` adding the CPU time of the SDK's own work to ``inside[0]``.

    That is making each stream (the ``httpx.Response`` and the ``openai.Stream`` over it)
    and parsing each of its chunks, timed where the ``openai.Stream`` reads it (its
    ``_iterator``, the generator that decodes the events). The stream handed out is the
    SDK's own, so a tracked call meters it as it would any.
    """
    clock = time.thread_time_ns

    def timed(chunks: Iterator[Any]) -> Iterator[Any]:
        while True:
            start = clock()
            try:
                chunk = next(chunks)
            except StopIteration:
                inside[0] += clock() - start
                return
            inside[0] += clock() - start
            yield chunk

    def made() -> Any:
        start = clock()
        stream = make()
        inside[0] += clock() - start
        stream._iterator = timed(stream._iterator)
        return stream

    return made


def stream_figure(keeper: Keeper, rounds: int, mode: str, lines: list[dict[str, Any]]) -> None:
    """A streamed response read to its end: toolkeeper's extra time per chunk.

    Two figures. ``stream_openai_per_chunk``: a real ``openai.Stream`` read through a
    tracked function, against the same stream read bare, counting in each only the time
    outside the SDK's own work: making the stream and parsing its chunks
    (:func:`sdk_timed`). The SDK spends about 130 us a chunk here, varying by a few
    microseconds from run to run, so the difference of the two totals cannot resolve a
    few hundred nanoseconds; leaving out what both spend inside the SDK can, and what
    toolkeeper does around the stream and between chunks (with the SDK's work evicting
    it from the processor's caches each time) is all counted. Making the stream (an
    ``httpx.Response`` and the ``openai.Stream``, some 100 us), when it was counted as
    toolkeeper's, spread the paired rounds by tens of microseconds a stream.
    ``stream_parsed_chunks_per_chunk``: the metered proxy over SDK chunk objects already
    parsed, against a bare iterator over the same list (toolkeeper's part, hot).
    """
    inside = [0]
    make = sdk_timed(openai_stream_factory(STREAM_CHUNKS), inside)
    chunks = STREAM_CHUNKS + 1  # the usage chunk too
    tracked_make = keeper.tool("bench", operation="stream")(make)

    def outside_ns(read: Callable[[], Any], calls: int) -> float:
        """Return the CPU ns per stream of reading ``read()`` to its end, less the SDK's parsing."""
        before, start = inside[0], time.thread_time_ns()
        for _ in range(calls):
            for _ in read():
                pass
        return (time.thread_time_ns() - start - (inside[0] - before)) / calls

    extra = paired_extra(
        lambda: outside_ns(make, 3), lambda: outside_ns(tracked_make, 3), rounds * 3
    ) / chunks
    keeper.flush()
    emit(lines, "stream_openai_per_chunk", extra, unit="ns per chunk", chunks=chunks,
         goal="<= 300", holds=extra <= 300, mode=mode)  # fmt: skip
    parsed = list(openai_stream_factory(STREAM_CHUNKS)())
    tracked_list = keeper.tool("bench", operation="parsed")(lambda: iter(parsed))

    def bare_parsed() -> None:
        for _ in iter(parsed):
            pass

    def tracked_parsed() -> None:
        for _ in tracked_list():
            pass

    extra = paired_extra_ns(bare_parsed, tracked_parsed, rounds * 3, 50) / chunks
    keeper.flush()
    emit(lines, "stream_parsed_chunks_per_chunk", extra, unit="ns per chunk", chunks=chunks,
         goal="<= 300", holds=extra <= 300, mode=mode)  # fmt: skip


def budget_keeper(directory: Path, ledger: str) -> Keeper:
    """Return a Keeper whose budgets are kept in ``ledger``."""
    config = f'[costs]\nledger = "{ledger}"\n\n{CONFIG}'
    return Keeper.open(ConfigFile.parse(config), store=f"sqlite:///{directory / 'budget.db'}",
                       follow_changes=False)  # fmt: skip


def budget_figures(  # noqa: PLR0917 - the run's settings
    directory: Path, redis_url: str | None, rounds: int, mode: str, lines: list[dict[str, Any]],
    plain: Keeper,
) -> None:  # fmt: skip
    """Budgeted calls: memory (CPU, against an unbudgeted call), Redis and SQLite (wall)."""
    memory = budget_keeper(directory, "memory://")
    try:
        budgeted = memory.tool("budgeted", operation="chat", estimated_cost=0.001)(lambda: COSTED)
        unbudgeted = plain.tool("bench", operation="chat")(lambda: COSTED)
        timers = {"plain": lambda n: cpu_ns(unbudgeted, n),
                  "memory": lambda n: cpu_ns(budgeted, n)}  # fmt: skip
        # Both keepers' writers finish their work between chunks: the plain keeper's is not
        # left writing (on the other core, taking the GIL) while the budgeted calls are timed.
        plain.flush()
        got = interleave(timers, rounds, lambda: (memory.flush(), plain.flush()), chunk_s=CHUNK_S)
    finally:
        memory.close()
    extra = got["memory"] - got["plain"]
    emit(lines, "budget_memory_overhead", extra, unit="ns", ns=round(got["memory"], 1),
         peer="unbudgeted_call", peer_ns=round(got["plain"], 1), goal="<= 5000",
         holds=extra <= 5000, mode=mode)  # fmt: skip
    if redis_url:
        budget_redis(directory, redis_url, max(rounds // 2, 5), mode, lines)
    sqlite = budget_keeper(directory, f"sqlite:///{directory / 'ledger.db'}")
    try:
        call = sqlite.tool("budgeted", operation="chat", estimated_cost=0.001)(lambda: COSTED)
        got = interleave(
            {"sqlite": lambda n: wall_ns(call, n)},
            max(rounds // 4, 3),
            sqlite.flush,
            chunk_s=CHUNK_S,
        )
    finally:
        sqlite.close()
    emit(lines, "budget_sqlite", got["sqlite"] / 1000, unit="us per call (wall)",
         goal="<= 300", holds=got["sqlite"] / 1000 <= 300, mode=mode)  # fmt: skip


def budget_redis(
    directory: Path, url: str, rounds: int, mode: str, lines: list[dict[str, Any]]
) -> None:
    """A budgeted call on a Redis ledger against a bare EVALSHA round trip (wall time)."""
    import redis

    client = redis.Redis.from_url(url)
    sha = client.script_load("return 1")
    key = f"bench-{uuid.uuid4().hex[:8]}"
    keeper = budget_keeper(directory, url)
    try:
        call = keeper.tool("budgeted", operation="chat", estimated_cost=0.001)(lambda: COSTED)
        timers = {"evalsha": lambda n: wall_ns(lambda: client.evalsha(sha, 1, key), n),
                  "redis": lambda n: wall_ns(call, n)}  # fmt: skip
        got = interleave(timers, rounds, keeper.flush, chunk_s=CHUNK_S)
    finally:
        keeper.close()
        for found in client.scan_iter(match="toolkeeper:budget:tool:budgeted|*", count=1000):
            client.delete(found)
        client.close()
    ratio_line(lines, "budget_redis", got["redis"], "bare_evalsha", got["evalsha"], 1.2, mode)


def main() -> None:
    """Run every figure and write them, one JSON line each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds; under a minute")
    parser.add_argument("--redis", default=os.environ.get("TOOLKEEPER_TEST_REDIS"))
    parser.add_argument("--only", choices=["sync", "async", "stream", "budget"], action="append")
    parser.add_argument("--out", type=Path, default=OUT, help=f"where to write (default {OUT})")
    args = parser.parse_args()
    rounds = 7 if args.quick else 21
    mode = "quick" if args.quick else "full"
    parts = set(args.only or ["sync", "async", "stream", "budget"])
    lines: list[dict[str, Any]] = []
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        keeper = Keeper.open(ConfigFile.parse(CONFIG), store=f"sqlite:///{directory / 'bench.db'}",
                             follow_changes=False)  # fmt: skip
        try:
            if "sync" in parts:
                sync_figures(keeper, rounds, mode, lines)
            if "async" in parts:
                async_figures(keeper, rounds, mode, lines)
            if "stream" in parts:
                stream_figure(keeper, rounds, mode, lines)
            if "budget" in parts:
                budget_figures(directory, args.redis, rounds, mode, lines, keeper)
        finally:
            keeper.close()
    context = {"load_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
               "cores": os.cpu_count(), "python": sys.version.split()[0],
               "pure_python": bool(os.environ.get("TOOLKEEPER_PURE_PYTHON"))}  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("".join(json.dumps({**line, **context}) + "\n" for line in lines))


if __name__ == "__main__":
    main()
