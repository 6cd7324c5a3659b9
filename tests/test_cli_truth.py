"""Under load, the CLI and serve report exactly what the application counted, on both backends."""

from __future__ import annotations

import json
import threading
import time
from decimal import Decimal
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.test_cli import run
from toolkeeper import Keeper
from toolkeeper.config.files import ConfigFile
from toolkeeper.server.metrics import prometheus_text

CONFIG = "[tools.llm]\nmax_retry_attempts = 0\ntimeout_sync_calls = false\n"
COST = 2.0**-14  # a binary fraction: a float sum of millions of them is exact
RESULT = {"model": "gpt-x", "usage": {"prompt_tokens": 12, "completion_tokens": 3, "cost": COST}}


def hammer(keeper: Keeper, threads: int, seconds: float) -> int:
    """Call a wrapped no-op from ``threads`` threads for ``seconds``; return the calls made."""

    @keeper.tool("llm", operation="chat")
    def chat() -> dict[str, object]:
        return RESULT

    counts = [0] * threads
    deadline = time.monotonic() + seconds

    def work(index: int) -> None:
        made = 0
        while time.monotonic() < deadline:
            for _ in range(1000):
                chat()
            made += 1000
        counts[index] = made

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(counts)


def fleet_sample(text: bytes, name: str) -> float:
    """Return the sum of one metric's samples in an exposition."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(text.decode())
        for sample in family.samples
        if sample.name == name
    )


def test_costs_and_health_equal_what_the_application_counted(
    store_uri: str, tmp_path: Path
) -> None:
    """4 threads x 6 s of priced no-ops: costs, health and serve's fleet agree with the app."""
    (tmp_path / "toolkeeper.toml").write_text(CONFIG)
    config = ConfigFile.parse(CONFIG)
    app = Keeper.open(config, store=store_uri, follow_changes=False)
    calls = hammer(app, threads=4, seconds=6)
    app.close()
    dropped = app.monitoring.dropped_events
    assert dropped > 0  # the writer fell behind: raw rows were shed, numbers must not be

    env = {"TOOLKEEPER_STORE": store_uri}
    costs = run(["costs", "--json", "--since", "1h"], tmp_path, **env)
    assert costs.returncode == 0, costs.stderr
    report = json.loads(costs.stdout)
    assert report["calls"] == calls
    assert Decimal(report["total"]) == (calls * Decimal(COST)).quantize(Decimal("1e-9"))
    health = run(["health", "--json"], tmp_path, **env)
    assert health.returncode == 0, health.stderr
    assert json.loads(health.stdout)["system"]["total_operations"] == calls

    server = Keeper.open(config, store=store_uri, follow_changes=False)
    try:
        server.reload_history()
        text = prometheus_text(server.monitoring, fleet=True)
        assert fleet_sample(text, "toolkeeper_operations_total") == calls
        assert fleet_sample(text, "toolkeeper_dropped_events_total") == dropped
        assert server.monitoring.get_system_health()["dropped_events"] == dropped
    finally:
        server.close()
