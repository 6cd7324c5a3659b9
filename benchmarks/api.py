"""Measure the REST API on loopback: latency and throughput, over a store of many operations.

Builds an SQLite store holding ``--operations`` operations (10 million by
default; 1 million with ``--quick``) spread over the last 24 hours across ten
tools, written by the monitor's own store writer (raw rows and rollups), then
starts ``toolkeeper serve`` on it in a separate process and drives it with
concurrent clients. Each endpoint is compared with a peer measured the same way
in the same run: a bare endpoint of the same server (``/healthz``), which does
no work, so the ratio is the price of the work itself.

The dashboard's summary (``/api/v1/tools``) is served from rollups restored at
start-up, never from a scan of the operations table: its latency does not grow
with the store.

The load generator is ``wrk`` (Debian: ``apt-get install -y wrk``), one thread
holding the clients' connections, so it takes little of the CPU the server
shares with it; without it, Python threads (httpx) drive the server, which
measures the generator as much as the server. ``load_generator`` in the
results says which ran.

Run: ``.venv/bin/python benchmarks/api.py [--quick]``. Results go to
``benchmarks/results/api.json``; the last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx

OUT = Path(__file__).parent / "results" / "api.json"
TOOLS = [f"tool-{i}" for i in range(10)]
OPERATIONS = ("chat", "embed", "route")
STATUSES = ["success"] * 95 + ["error"] * 3 + ["fallback"] * 2
CONFIG = "".join(f'[tools.{name}]\napi_endpoint = "https://example.com"\n' for name in TOOLS)


def build_store(database: Path, operations: int) -> str:
    """Write ``operations`` operations over the last day with the store writer; return the URI."""
    from toolkeeper.monitor.aggregates import Aggregates
    from toolkeeper.monitor.persist import StoreWriter
    from toolkeeper.monitor.rollups import RollupDeltas
    from toolkeeper.store import open_store

    uri = f"sqlite:///{database}"
    store = open_store(uri)
    writer = StoreWriter(store, now=time.time, retention_days=lambda _: 30)
    aggregates, deltas = Aggregates(), RollupDeltas()
    rng = random.Random(7)
    now = time.time()
    start = now - 86400
    batch = 20_000
    step = 86400 / operations
    for first in range(0, operations, batch):
        rows = []
        for seq in range(first, min(first + batch, operations)):
            status = STATUSES[seq % len(STATUSES)]
            rows.append((
                seq, start + seq * step, TOOLS[seq % len(TOOLS)], OPERATIONS[seq % 3], status,
                rng.lognormvariate(-1.5, 0.6), 0.0004, 300, 40, None,
                "upstream 500" if status == "error" else None, None, "gpt-4o-mini",
            ))  # fmt: skip
        aggregates.fold(rows, deltas)  # as the pipeline's drain does before the writer
        writer.write(rows, deltas.take(), 0)
    store.close()
    return uri


def operations_in(database: Path) -> int:
    """Return how many operations a store already built holds (read-only)."""
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        count: int = db.execute("SELECT count(*) FROM operations").fetchone()[0]
    return count


def serve(directory: Path, uri: str) -> tuple[subprocess.Popen[str], str, str]:
    """Start ``toolkeeper serve`` on the store; return the process, its URL and an admin token."""
    (directory / "toolkeeper.toml").write_text(CONFIG)
    env = {**os.environ, "TOOLKEEPER_CONFIG": str(directory / "toolkeeper.toml"),
           "TOOLKEEPER_STORE": uri}  # fmt: skip
    command = [sys.executable, "-m", "toolkeeper"]
    created = subprocess.run([*command, "tokens", "create", "--role", "admin"], env=env,
                             capture_output=True, text=True, check=True)  # fmt: skip
    token = created.stdout.split()[-1]
    port = 18765 + os.getpid() % 1000
    process = subprocess.Popen([*command, "serve", "--port", str(port), "--log-level", "warning"],
                               env=env, stderr=subprocess.PIPE, text=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return process, url, token
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("the server did not become ready")


#: The Lua script that makes wrk send the token: a file readable by this user only, so the
#: token is never on a command line (which every user of the machine can read).
_WRK_SCRIPT = 'wrk.headers["Authorization"] = "Bearer {token}"\n'
_WRK_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_WRK_PERCENTILE = re.compile(r"^\s*(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.MULTILINE)


def load_generator() -> str:
    """Return the load generator this run uses: wrk if installed, else Python threads (slower)."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return "python-httpx-threads"
    version = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False).stdout
    return version.split(" [")[0].strip() or "wrk"


def parse_wrk(output: str) -> dict[str, float]:
    """Return p50, p99 (ms) and requests per second from ``wrk --latency``'s report.

    Any failed request (a socket error, a timeout, a non-2xx answer) fails the
    measurement: a figure over failures would flatter the server.
    """
    failures = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                       output)  # fmt: skip
    if failures is not None or (errors is not None and any(int(n) for n in errors.groups())):
        raise RuntimeError(f"wrk saw failed requests:\n{output}")
    percentiles = {
        int(match[0]): float(match[1]) * _WRK_UNITS[match[2]]
        for match in _WRK_PERCENTILE.findall(output)
    }
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    sent = re.search(r"^\s*(\d+) requests in ", output, re.MULTILINE)
    if rate is None or sent is None or set(percentiles) != {50, 99}:
        raise RuntimeError(f"wrk's report could not be read:\n{output}")
    return {
        "p50_ms": round(percentiles[50], 2),
        "p99_ms": round(percentiles[99], 2),
        "requests_per_s": round(float(rate[1]), 1),
        "requests": float(sent[1]),
    }


def drive_wrk(url: str, script: Path, path: str, clients: int, seconds: float) -> dict[str, float]:
    """Hold ``clients`` connections sending GETs for ``seconds`` with wrk; return its figures.

    One wrk thread: it sends tens of thousands of requests a second, so it takes
    little of the CPU the server shares with it.
    """
    wrk = shutil.which("wrk")
    assert wrk is not None
    command = [wrk, "--threads", "1", "--connections", str(clients), "--duration",
               f"{seconds:g}s", "--timeout", "30s", "--latency", "--script", str(script),
               url + path]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return parse_wrk(done.stdout)


def drive(url: str, token: str, path: str, clients: int, requests: int) -> dict[str, float]:
    """Send ``requests`` GETs per client from ``clients`` threads; return latency and throughput.

    The fallback when wrk is not installed: the threads share the server's CPU
    and the interpreter's lock, so they measure less than the server can do.
    """
    latencies: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(clients + 1)

    def client() -> None:
        mine = []
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as http:
            http.get(path).raise_for_status()  # warm the connection
            barrier.wait()
            for _ in range(requests):
                begin = time.perf_counter()
                http.get(path).raise_for_status()
                mine.append(time.perf_counter() - begin)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    begin = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - begin
    latencies.sort()
    return {
        "requests": float(len(latencies)),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
        "requests_per_s": round(len(latencies) / elapsed, 1),
    }


def live_pages(url: str, token: str, pages: int, seconds: float) -> dict[str, Any]:
    """Hold ``pages`` event streams for ``seconds``; return how late each tick reached the last.

    Ticks carry their number as the SSE ``id``, the same on every connection: a
    tick's spread is the time between the first and the last page receiving it.
    """
    import asyncio

    received: dict[str, list[float]] = {}
    connected = 0

    async def page(client: httpx.AsyncClient, stop: asyncio.Event) -> None:
        nonlocal connected
        async with client.stream("GET", "/api/v1/events") as stream:
            stream.raise_for_status()
            connected += 1
            event = tick = None
            async for line in stream.aiter_lines():
                if line.startswith("event:"):
                    event = line.partition(":")[2].strip()
                elif line.startswith("id:"):
                    tick = line.partition(":")[2].strip()
                elif line == "":
                    if event == "tick" and tick is not None:
                        received.setdefault(tick, []).append(time.perf_counter())
                    event = tick = None
                if stop.is_set():
                    return

    async def run() -> None:
        stop = asyncio.Event()
        limits = httpx.Limits(max_connections=pages + 10, max_keepalive_connections=pages + 10)
        async with httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, limits=limits,
            timeout=httpx.Timeout(60, connect=60, pool=60),
        ) as client:  # fmt: skip
            tasks = [asyncio.create_task(page(client, stop)) for _ in range(pages)]
            while connected < pages:
                await asyncio.sleep(0.05)
            received.clear()  # count ticks only once every page is connected
            await asyncio.sleep(seconds)
            stop.set()
            snapshot = {tick: list(times) for tick, times in received.items()}
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        received.clear()
        received.update(snapshot)

    asyncio.run(run())
    complete = sorted(int(tick) for tick, times in received.items() if len(times) == pages)
    inner = complete[1:-1] or complete  # the first and last may have been cut by the window
    spreads = sorted(max(received[str(t)]) - min(received[str(t)]) for t in inner)
    return {
        "sse_pages": pages,
        "sse_ticks": len(inner),
        "sse_ticks_every_page_got": len(complete),
        "sse_spread_p50_ms": round(statistics.median(spreads) * 1000, 1) if spreads else None,
        "sse_spread_max_ms": round(max(spreads) * 1000, 1) if spreads else None,
        "sse_every_tick_within_1s": bool(spreads) and max(spreads) <= 1.0,
    }


ENDPOINTS = {
    "bare": "/healthz",
    "summary": "/api/v1/tools",
    "system_health": "/api/v1/health",
    "tool": "/api/v1/tools/tool-3",
    "operations": "/api/v1/operations?limit=50",
}


def cpu_seconds(pid: int) -> float:
    """Return the user + system CPU time a process has used (Linux's /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def settle(pid: int, *, limit_s: float = 10.0) -> None:
    """Wait until the server is idle: under 5% of a core over 0.2 s (at most ``limit_s``).

    wrk stops sending at the end of a run, but the server still answers what it
    has already received: eight `/api/v1/operations` requests in flight are half a
    second of CPU, which would otherwise be billed to the run that follows.
    """
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        before = cpu_seconds(pid)
        time.sleep(0.2)
        if cpu_seconds(pid) - before < 0.01:
            return


def measure(
    url: str,
    token: str,
    script: Path,
    generator: str,
    *,
    server_pid: int,
    only: list[str] | None,
    quick: bool,
) -> dict[str, Any]:
    """Drive each endpoint from 1, 8 and 128 clients; return medians of rounds and ratios to bare.

    128 clients: the dashboard's summary and its peer only. Rounds are
    interleaved: each round drives every (endpoint, clients) pair once, so the
    figures compared with each other (8 against 128 clients, an endpoint against
    bare) share the machine's moments instead of each taking its own stretch of
    a shared, noisy machine. Each run starts on an idle server (:func:`settle`).
    ``server_cpu_us`` is the server process's CPU time per request: what the
    machine's load changes least.
    """
    rounds, requests, seconds = (3, 100, 3.0) if quick else (5, 300, 5.0)
    endpoints = {name: path for name, path in ENDPOINTS.items() if only is None or name in only}
    pairs = [
        (name, clients)
        for clients in (1, 8, 128)
        for name in endpoints
        if clients < 128 or name in ("bare", "summary")
    ]
    runs: dict[tuple[str, int], list[dict[str, float]]] = {pair: [] for pair in pairs}
    for _ in range(rounds):
        for name, clients in pairs:
            per_client = max(requests * 8 // clients, 10) if clients > 8 else requests
            settle(server_pid)
            before = cpu_seconds(server_pid)
            run = (
                drive_wrk(url, script, endpoints[name], clients, seconds)
                if generator.startswith("wrk")
                else drive(url, token, endpoints[name], clients, per_client)
            )
            used = cpu_seconds(server_pid) - before
            run["server_cpu_us"] = round(used / run.pop("requests") * 1e6, 1)
            runs[name, clients].append(run)
    results: dict[str, Any] = {}
    for (name, clients), measured in runs.items():
        for key in ("p50_ms", "p99_ms", "requests_per_s", "server_cpu_us"):
            results[f"{name}_{clients}c_{key}"] = statistics.median(run[key] for run in measured)
    results["rounds"] = {  # each round's figures, in the order they ran, beside the medians
        f"{name}_{clients}c": [
            {key: run[key] for key in ("requests_per_s", "p99_ms", "server_cpu_us")}
            for run in measured
        ]
        for (name, clients), measured in runs.items()
    }
    for name, clients in pairs:
        if name != "bare" and ("bare", clients) in runs:
            results[f"{name}_{clients}c_over_bare_p50"] = round(
                results[f"{name}_{clients}c_p50_ms"] / results[f"bare_{clients}c_p50_ms"], 2
            )
    return results


def targets(results: dict[str, Any]) -> dict[str, Any]:
    """Judge the figures against issue 14's targets, and give the summary's ratios to the peer.

    8 clients: >= 1,000 req/s with p99 <= 50 ms; no collapse at 128 (throughput
    >= the 8-client figure, p99 <= 1 s).
    """
    return {
        "summary_p50_ms": results["summary_1c_p50_ms"],
        "summary_p99_ms": results["summary_1c_p99_ms"],
        "summary_8c_target_met": (
            results["summary_8c_requests_per_s"] >= 1000 and results["summary_8c_p99_ms"] <= 50
        ),
        "summary_128c_no_collapse": (
            results["summary_128c_requests_per_s"] >= results["summary_8c_requests_per_s"]
            and results["summary_128c_p99_ms"] <= 1000
        ),
        "summary_8c_over_bare_requests_per_s": round(
            results["summary_8c_requests_per_s"] / results["bare_8c_requests_per_s"], 2
        ),
        "summary_128c_over_bare_requests_per_s": round(
            results["summary_128c_requests_per_s"] / results["bare_128c_requests_per_s"], 2
        ),
    }


def main() -> None:
    """Build the store, serve it, measure every endpoint against the bare peer, write results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 million operations, fewer requests")
    parser.add_argument("--operations", type=int, default=None)
    parser.add_argument(
        "--store",
        type=Path,
        default=None,
        help="an SQLite file to keep the store in: built there if absent, reused if present",
    )
    parser.add_argument("--build-only", action="store_true", help="build the store, then stop")
    parser.add_argument(
        "--only",
        type=lambda text: [name.strip() for name in text.split(",")],
        default=None,
        help=f"measure only these endpoints (of {', '.join(ENDPOINTS)}), no live pages",
    )
    parser.add_argument("--out", type=Path, default=OUT, help=f"where to write (default {OUT})")
    args = parser.parse_args()
    operations = args.operations or (1_000_000 if args.quick else 10_000_000)
    generator = load_generator()
    results: dict[str, Any] = {
        "operations_in_store": operations,
        "load_generator": generator,
        "load_average_1m_start": round(os.getloadavg()[0], 2),
    }
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        begin = time.perf_counter()
        database = args.store or directory / "state.db"
        if database.exists():
            uri = f"sqlite:///{database}"
            results["operations_in_store"] = operations_in(database)
        else:
            building = database.with_name(database.name + ".building")
            build_store(building, operations)  # closed: its WAL is checkpointed into the file
            building.rename(database)  # only a finished store is ever reused
            uri = f"sqlite:///{database}"
            results["store_build_s"] = round(time.perf_counter() - begin, 1)
        results["store_mb"] = round(
            sum(p.stat().st_size for p in database.parent.glob(database.name + "*")) / 1e6, 1
        )
        if args.build_only:
            print(json.dumps(results))
            return
        begin = time.perf_counter()
        process, url, token = serve(directory, uri)
        results["server_ready_s"] = round(time.perf_counter() - begin, 1)
        script = directory / "token.lua"
        script.touch(mode=0o600)
        script.write_text(_WRK_SCRIPT.format(token=token))
        try:
            results.update(
                measure(url, token, script, generator, server_pid=process.pid, only=args.only,
                        quick=args.quick)
            )  # fmt: skip
            if args.only is None:
                settle(process.pid)
                results.update(live_pages(url, token, pages=200, seconds=15 if args.quick else 30))
        finally:
            process.terminate()
            process.wait(timeout=30)
    if args.only is None:
        results.update(targets(results))
    results["load_average_1m"] = round(os.getloadavg()[0], 2)
    results["mode"] = "quick" if args.quick else "full"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
