"""The simulated application end to end: four tools, an outage, its circuit, fallbacks and costs."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from toolkeeper import FakeClock, Keeper, UnknownToolError
from toolkeeper.config.files import ConfigFile
from toolkeeper.demo import (
    DEMO_KEY_ENV,
    PRICES_PER_MILLION_TOKENS,
    Demo,
    FakeProvider,
    WorkloadStats,
    add_cost,
    cost_usd,
    demo_config,
    run_demo,
    start_workload,
    template_dir,
)
from toolkeeper.demo.traffic import draw_request
from toolkeeper.integrations.templates import TemplateFolder, UndefinedVariableError

from .conftest import FAST_PROFILES, KEY

TOOLS = {"prompts", "router", "openai-strong", "openai-weak"}


def records(keeper: Keeper) -> list[dict[str, Any]]:
    """Return every operation the keeper recorded, oldest first."""
    return keeper.monitoring.export_metrics()


def run(keeper: Keeper, requests: int) -> WorkloadStats:
    """Run the workload for ``requests`` requests, as fast as the provider answers."""
    return asyncio.run(run_demo(keeper, users=4, rate=500.0, max_requests=requests, seed=11))


def test_a_short_run_goes_through_an_outage_with_fallbacks_an_open_circuit_and_recovery(
    keeper: Keeper,
    provider: FakeProvider,
    provider_clock: FakeClock,
    keeper_clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Healthy; then an outage opens the strong circuit and the weak model serves; then back."""
    caplog.set_level(logging.DEBUG)
    healthy = run(keeper, 40)
    assert {r["wrapper_name"] for r in records(keeper)} == TOOLS
    assert healthy.routed_strong > 0
    assert healthy.routed_weak > 0
    assert healthy.fallbacks == 0
    assert keeper.runtimes.circuit_state("openai-strong") == "closed"

    provider_clock.advance(25)  # into the strong model's outage
    assert provider.phase("gpt-4o") == "outage"
    during = run(keeper, 60)
    assert keeper.runtimes.circuit_state("openai-strong") == "open"
    assert during.fallbacks == during.routed_strong > 0
    strong = [r for r in records(keeper) if r["wrapper_name"] == "openai-strong"]
    fallbacks = [r for r in strong if r["status"] == "fallback"]
    assert {r["fallback_name"] for r in fallbacks} == {"openai-weak"}
    assert {r["fallback_reason"] for r in fallbacks} == {"primary_failed", "circuit_open"}
    assert "HTTP_503" in {r["error_code"] for r in fallbacks}

    provider_clock.advance(30)  # the outage is over
    keeper_clock.advance(8)  # circuit_open_seconds: the circuit may probe again
    after = run(keeper, 40)
    assert keeper.runtimes.circuit_state("openai-strong") == "closed"
    assert after.fallbacks < after.routed_strong

    calls = [r for r in records(keeper) if r["wrapper_name"] in ("openai-strong", "openai-weak")]
    served = [r for r in calls if r["status"] == "success"]
    assert all(r["cost_estimate"] > 0 for r in served)
    assert {r["labels"]["model"] for r in served} == {"gpt-4o", "gpt-4o-mini"}
    total = healthy.cost_usd + during.cost_usd + after.cost_usd
    assert sum(r["cost_estimate"] for r in served) == pytest.approx(total)
    assert KEY not in caplog.text
    assert KEY not in json.dumps(records(keeper), default=str)


def test_the_routers_decision_is_recorded_as_labels_and_metrics(keeper: Keeper) -> None:
    """Each route operation carries the router, the tier, both models, score and threshold."""
    run(keeper, 20)
    routed = [r for r in records(keeper) if r["wrapper_name"] == "router"]
    assert routed
    for record in routed:
        labels, metrics = record["labels"], record["custom_metrics"]
        assert labels["router"] == "heuristic"
        assert labels["route"] == ("strong" if metrics["route_score"] >= 0.3 else "weak")
        assert (labels["strong_model"], labels["weak_model"]) == ("gpt-4o", "gpt-4o-mini")
        assert (
            labels["routed_model"] == {"strong": "gpt-4o", "weak": "gpt-4o-mini"}[labels["route"]]
        )
        assert metrics["route_threshold"] == 0.3


def test_each_model_call_runs_inside_its_route_and_routing_savings_are_priced(
    keeper: Keeper,
) -> None:
    """The model call's parent is its route; the costs report prices what routing saved."""
    stats = run(keeper, 30)
    ops = records(keeper)
    routes = {r["operation_id"]: r for r in ops if r["wrapper_name"] == "router"}
    calls = [r for r in ops if r["wrapper_name"] in ("openai-strong", "openai-weak")]
    assert calls
    assert all(call["parent_id"] in routes for call in calls)
    report = keeper.costs.report(since=timedelta(hours=1)).to_dict()
    routing = report["routing"]
    assert routing["requests"] == stats.answered
    assert routing["priced_requests"] == stats.answered  # the demo config prices both models
    assert routing["strong_requests"] == stats.routed_strong
    assert routing["weak_requests"] == stats.routed_weak
    assert stats.routed_weak > 0
    assert Decimal(routing["savings"]) > 0  # the weak model's requests cost less than the strong
    by_route = keeper.costs.report(since=timedelta(hours=1), by="label", label="route").to_dict()
    spent = {group["key"]: Decimal(group["cost"]) for group in by_route["groups"] if group["cost"]}
    assert spent.keys() == {"route=strong", "route=weak"}  # the calls inherit their route's label
    assert sum(spent.values()) == pytest.approx(Decimal(str(stats.cost_usd)), rel=Decimal("1e-6"))
    # What routing actually spent is what the calls recorded (fallbacks' cheaper model included).
    actual = Decimal(routing["actual_cost"])
    assert actual == pytest.approx(sum(spent.values()), rel=Decimal("1e-6"))


def test_model_calls_record_their_tokens_model_and_cost(keeper: Keeper) -> None:
    """The wrapped model calls record usage and the demo's price of it; routing costs nothing."""
    stats = run(keeper, 20)
    calls = [r for r in records(keeper) if r["wrapper_name"] in ("openai-strong", "openai-weak")]
    assert calls
    for record in calls:
        tokens = (record["input_tokens"], record["output_tokens"])
        assert min(tokens) > 0
        assert record["cost_estimate"] == pytest.approx(
            cost_usd(record["labels"]["model"], *tokens)
        )
    assert {r["labels"]["model"] for r in calls} == {"gpt-4o", "gpt-4o-mini"}
    assert sum(r["cost_estimate"] for r in calls) == pytest.approx(stats.cost_usd)
    routed = [r for r in records(keeper) if r["wrapper_name"] == "router"]
    assert {r["cost_estimate"] for r in routed} == {0.0}


def test_a_duration_bounded_run_in_the_background_stops_by_itself(keeper: Keeper) -> None:
    """start_workload runs on its own thread and loop; wait() returns once the duration is over."""
    workload = start_workload(keeper, users=2, rate=40.0, duration=1.0, seed=3)
    assert workload.wait(timeout=10)
    assert not workload.running
    stats = workload.stop()
    # About 40 requests in the second; a busy machine may start late, never run longer.
    assert 1 <= stats.requests <= 60
    assert stats.answered + stats.failed == stats.requests


def test_stop_ends_a_running_workload_promptly(keeper: Keeper) -> None:
    """stop() interrupts the users' pauses, joins the thread and returns the stats."""
    workload = start_workload(keeper, users=3, rate=1.0, seed=3)
    stats = workload.stop(timeout=5)
    assert not workload.running
    assert stats is workload.stats
    workload.stop()  # idempotent


def test_a_workload_that_cannot_start_raises_in_the_caller_on_stop(
    base_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A configuration without the demo's tools fails the workload, and stop() re-raises it."""
    monkeypatch.setenv(DEMO_KEY_ENV, KEY)
    text = f'[tools.openai-strong]\napi_endpoint = "{base_url}"\n'
    with Keeper.open(ConfigFile.parse(text), store="memory://", follow_changes=False) as keeper:
        workload = start_workload(keeper, seed=1)
        assert workload.wait(timeout=10)
        with pytest.raises(UnknownToolError, match="openai-weak"):
            workload.stop()


def test_the_demo_starts_its_provider_and_writes_its_configuration(tmp_path: Path) -> None:
    """Demo.start puts a made-up key in the environment it is given and serves the provider."""
    environ: dict[str, str] = {}
    with Demo.start(environ=environ, profiles=FAST_PROFILES, seed=1) as demo:
        assert environ[DEMO_KEY_ENV].startswith("tk-demo-")
        written = demo.config_file(tmp_path / "demo" / "toolkeeper.toml")
        assert set(written.tools) == TOOLS
        assert written.tools["openai-strong"]["api_endpoint"] == demo.base_url
        assert written.tools["openai-strong"]["api_key"] == f"env:{DEMO_KEY_ENV}"
        assert environ[DEMO_KEY_ENV] not in (tmp_path / "demo" / "toolkeeper.toml").read_text()
        assert demo.base_url.startswith("http://127.0.0.1:")
        assert any("outage 20-50 s" in line for line in demo.describe())
    assert not demo.server._thread.is_alive()


def test_the_demo_runs_its_workload_and_stops_it_with_the_provider(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A whole demo: provider, keeper on its configuration, workload; stop() ends both."""
    monkeypatch.setenv(DEMO_KEY_ENV, KEY)
    with Demo.start(profiles=FAST_PROFILES, seed=2) as demo:
        keeper = Keeper.open(demo.config_file(), store="memory://", follow_changes=False)
        workload = demo.start_workload(keeper, users=2, rate=200.0, seed=2)
        with pytest.raises(RuntimeError, match="already running"):
            demo.start_workload(keeper)
    assert not workload.running
    assert {r["wrapper_name"] for r in records(keeper)} <= TOOLS
    keeper.close()


def test_the_demo_templates_render_every_request_the_users_make() -> None:
    """Every drawn request renders, except the few that forget a variable, by design."""
    import random

    folder, rng = TemplateFolder(template_dir()), random.Random(4)
    forgotten = 0
    for _ in range(500):
        request = draw_request(rng, users=8)
        try:
            folder.get(request.template).render(request.variables)
        except UndefinedVariableError:
            forgotten += 1
    assert 0 < forgotten < 20


def test_costs_come_from_one_price_table() -> None:
    """Costs are per million tokens, input and output priced apart; unpriced models are named."""
    assert cost_usd("gpt-4o", 1_000_000, 0) == pytest.approx(2.5)
    assert cost_usd("gpt-4o-mini", 1000, 1000) == pytest.approx(0.00075)
    completion = {"model": "gpt-4o", "usage": {"prompt_tokens": 100, "completion_tokens": 10}}
    assert add_cost(completion)["usage"]["cost"] == pytest.approx(0.00035)
    with pytest.raises(KeyError, match="gpt-5"):
        cost_usd("gpt-5", 1, 1)


def test_routing_in_the_demo_sends_a_real_share_to_each_model() -> None:
    """With the demo's threshold, between a quarter and three quarters of requests go strong."""
    import random

    from toolkeeper.integrations.routing import Router

    router = Router(threshold=0.3, strong_model="s", weak_model="w")
    folder, rng = TemplateFolder(template_dir()), random.Random(9)
    tiers: Counter[str] = Counter()
    for _ in range(400):
        request = draw_request(rng, users=8)
        template = folder.get(request.template)
        prompt = template.render(request.variables, strictness="lenient")
        tiers[router.route(prompt.task).model] += 1
    assert 100 <= tiers["s"] <= 300


def test_the_demo_never_spends_beyond_its_budgets(
    base_url: str, keeper_clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With budgets of a few cents, a long run never spends beyond a blocking budget's limit."""
    from toolkeeper.demo.config import demo_config

    monkeypatch.setenv(DEMO_KEY_ENV, KEY)
    keeper = Keeper.open(
        ConfigFile.parse(demo_config(base_url, strong_budget="0.02", weak_budget="0.004")),
        store="memory://", follow_changes=False, clock=keeper_clock,
    )  # fmt: skip
    try:
        run(keeper, 400)
        blocking = [s for s in keeper.costs.status() if s.budget.blocking]
        assert blocking  # the strong model's budget refuses or falls back; a warn one may pass
        for status in blocking:
            assert status.spent <= status.budget.limit, status.budget.scope
        assert max(s.spent for s in blocking) > 0
        assert keeper.costs.overshoots() == {}
    finally:
        keeper.close()


def test_the_demo_config_prices_its_models_as_the_workload_does() -> None:
    """[prices] carries the workload's own prices, so routing is priced without genai-prices."""
    prices = ConfigFile.parse(demo_config("http://127.0.0.1:9/v1")).costs.prices
    declared = {p.model: (p.input_per_mtok, p.output_per_mtok) for p in prices}
    assert declared == {
        model: (Decimal(str(per_input)), Decimal(str(per_output)))
        for model, (per_input, per_output) in PRICES_PER_MILLION_TOKENS.items()
    }
