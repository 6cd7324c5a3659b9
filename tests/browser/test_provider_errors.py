"""Provider errors behind served fallbacks, live in chromium: card, tool page, windows, failures."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser.conftest import VIEWPORT, console_error, screenshot, sign_in
from tests.server.conftest import LiveServer, serving
from toolkeeper._secrets import generate_key
from toolkeeper.keeper import Keeper
from toolkeeper.monitor.records import OperationStatus
from toolkeeper.server import Role, ServerSettings, TokenRegistry, create_app

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.browser

TOOL = "llm"
#: No retries, so each call is one attempt; fewer failures than the circuit's minimum calls.
CONFIG = f"[tools.{TOOL}]\nmax_retry_attempts = 0\n"
#: Playwright waits this long (ms) for a live change: generous, the machine may be loaded.
LIVE = 20_000


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Serve a keeper whose one tool has a fallback, on an SQLite file."""
    tmp_path = tmp_path_factory.mktemp("provider-errors")
    path = tmp_path / "toolkeeper.toml"
    path.write_text(CONFIG)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TOOLKEEPER_SECRET_KEY", generate_key())
        for variable in ("TOOLKEEPER_ENV", "TOOLKEEPER_CONFIG", "TOOLKEEPER_STORE"):
            patch.delenv(variable, raising=False)
        keeper = Keeper.open(path, store=f"sqlite:///{tmp_path / 'state.db'}")
        try:
            app = create_app(keeper, settings=ServerSettings(events_interval_seconds=0.5))
            registry = TokenRegistry(keeper.store)
            tokens = {role: registry.create(role, name=f"{role.value}-test")[1] for role in Role}
            with serving(app) as base_url:
                yield LiveServer(base_url=base_url, keeper=keeper, app=app, tokens=tokens)
        finally:
            keeper.close()


def chat_calls(keeper: Keeper) -> tuple[Callable[[], str], dict[str, bool]]:
    """Return the wrapped chat call and the switch that takes its provider down."""
    provider = {"up": True}

    @keeper.tool(TOOL, operation="chat", fallback=lambda: "served locally")
    def chat() -> str:
        if not provider["up"]:
            raise ConnectionError("upstream down")
        return "served by the provider"

    return chat, provider


#: The card's figures compared between the dashboard and the tool page.
FIGURES = ("total_operations", "provider_error_rate", "error_rate", "fallback_rate", "health_score")


def figure(page: Page, scope: str, field: str) -> str:
    """Return the text of ``[data-field=field]`` inside ``scope``, trimmed."""
    return page.locator(f"{scope} [data-field={field}]").inner_text().strip()


def test_provider_errors_change_live_while_failed_calls_stay_zero(
    browser: Browser, live: LiveServer, test_output: Path
) -> None:
    """Fallbacks after failed attempts raise provider errors on card and tool page, no reload."""
    from playwright.sync_api import expect

    chat, provider = chat_calls(live.keeper)
    for _ in range(4):
        assert chat() == "served by the provider"
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.extend(console_error(message)))
    sign_in(page, live, Role.VIEWER)
    card = f'[data-tool="{TOOL}"]'
    expect(page.locator(f"{card} [data-field=total_operations]")).to_have_text("4", timeout=LIVE)
    assert figure(page, card, "provider_error_rate") == "0.0%"
    expect(page.locator("[data-live-state]")).to_have_attribute("data-state", "open")
    page.evaluate("window.__notReloaded = true")

    provider["up"] = False
    for _ in range(4):
        assert chat() == "served locally"
    expect(page.locator(f"{card} [data-field=provider_error_rate]")).to_have_text(
        "50.0%", timeout=LIVE
    )
    assert figure(page, card, "error_rate") == "0.0%"  # every caller was served
    assert figure(page, card, "fallback_rate") == "50.0%"
    expect(page.locator("#operations tr").first).to_contain_text("ConnectionError: upstream down")
    assert page.evaluate("window.__notReloaded") is True
    screenshot(page, test_output, "dashboard-provider-errors")

    shown = {name: figure(page, card, name) for name in FIGURES}
    page.goto(f"{live.base_url}/tools/{TOOL}")
    expect(page.locator("[data-live-state]")).to_have_attribute("data-state", "open")
    health = '[data-refresh="health"]'
    # No call since: the tool page's card shows what the dashboard's card showed.
    assert {name: figure(page, health, name) for name in FIGURES} == shown
    page.evaluate("window.__notReloaded = true")
    assert chat() == "served locally"
    window = '[data-refresh="windows"] [data-window="5m"]'
    expect(page.locator(f"{health} [data-field=provider_error_rate]")).to_have_text(
        "55.6%", timeout=LIVE
    )  # 5 failed attempts in 9 calls
    expect(page.locator(f"{window} [data-field=provider_error_rate]")).to_have_text("55.6%")
    assert figure(page, health, "error_rate") == figure(page, window, "error_rate") == "0.0%"
    failures = page.locator("#errors tr")
    expect(failures).to_have_count(5)
    expect(failures.first).to_contain_text("Provider error, fallback served")
    expect(failures.first).to_contain_text("ConnectionError: upstream down")
    expect(page.locator("#errors")).not_to_contain_text("Failed call")
    assert page.evaluate("window.__notReloaded") is True
    screenshot(page, test_output, "tool-provider-errors")
    context.close()
    assert errors == [], errors


def test_a_new_tools_charts_draw_nothing_before_its_first_operation(
    browser: Browser, live: LiveServer
) -> None:
    """The hour before a tool's first operation is drawn as no data, never as zeros."""
    from playwright.sync_api import expect

    for _ in range(3):
        live.keeper.monitoring.record("fresh", "chat", OperationStatus.SUCCESS, 0.05)
    live.keeper.flush()
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    page = context.new_page()
    sign_in(page, live, Role.VIEWER, path="/tools/fresh")
    expect(page.get_by_role("heading", name="Rolling windows")).to_be_visible()
    page.wait_for_function(
        """() => {
            const canvas = document.querySelector('[data-chart="throughput"]');
            const chart = window.Chart?.getChart(canvas);
            return Boolean(chart) && chart.data.datasets.length === 1
                && chart.data.datasets[0].data.some((value) => value !== null);
        }""",
        timeout=LIVE,
    )
    points: list[float | None] = page.evaluate(
        """() => window.Chart.getChart(document.querySelector('[data-chart="throughput"]'))
            .data.datasets[0].data"""
    )
    first = next(index for index, value in enumerate(points) if value is not None)
    assert first > 0  # an hour of buckets, the tool's first operation in one of the last
    assert points[:first] == [None] * first  # before it: no data, not zeros
    drawn = [value for value in points[first:] if value is not None]
    assert len(drawn) == len(points) - first  # from it on, every bucket is drawn
    assert max(drawn) > 0
    context.close()
