"""The dashboard, a tool page and the costs page in chromium: live cards, charts, screenshots."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser.conftest import screenshot
from tests.server.conftest import LiveServer
from toolkeeper.monitor.records import OperationStatus

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser


def wait_for_chart(page: Page, name: str, *, datasets: int) -> None:
    """Wait until the chart drawn on ``canvas[data-chart=name]`` holds ``datasets`` series."""
    page.wait_for_function(
        """([name, count]) => {
            const canvas = document.querySelector(`canvas[data-chart="${name}"]`);
            const chart = window.Chart && canvas && window.Chart.getChart(canvas);
            return Boolean(chart) && chart.data.datasets.length === count;
        }""",
        arg=[name, datasets],
    )


def test_a_card_updates_live_after_an_operation(
    admin_page: Page, server: LiveServer, test_output: Path
) -> None:
    """An operation recorded in the server's keeper changes its card and the table, no reload."""
    from playwright.sync_api import expect

    page = admin_page
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.locator("[data-live-state]")).to_have_attribute("data-state", "open")
    count = page.locator('[data-tool="openai"] [data-field="total_operations"]')
    before = int(count.inner_text())
    page.evaluate("window.__notReloaded = true")
    server.keeper.monitoring.record(
        "openai", "chat", OperationStatus.ERROR, 0.42, error_message="live test failure"
    )
    expect(count).to_have_text(str(before + 1), timeout=4000)
    expect(page.locator("#operations tr").first).to_contain_text("live test failure")
    assert page.evaluate("window.__notReloaded") is True
    expect(page.locator('[data-chart="throughput"]')).to_be_visible()
    wait_for_chart(page, "p95", datasets=2)
    screenshot(page, test_output, "dashboard")


def test_a_tool_page_shows_circuit_errors_and_config(
    admin_page: Page, server: LiveServer, test_output: Path
) -> None:
    """A tool's page shows its circuit breaker, recent errors and masked config with version."""
    from playwright.sync_api import expect

    page = admin_page
    page.get_by_role("link", name="openai", exact=True).first.click()
    expect(page.get_by_role("heading", name="Circuit breaker")).to_be_visible()
    expect(page.locator("#errors")).to_contain_text("upstream 503")
    expect(page.get_by_test_id("config-version")).to_have_text("0")
    expect(page.locator("table.config")).to_contain_text("****cdef")
    wait_for_chart(page, "errors", datasets=1)
    screenshot(page, test_output, "tool-openai")


def test_the_costs_page_shows_budgets_unpriced_calls_and_savings(
    admin_page: Page, test_output: Path
) -> None:
    """Costs show spend by tool, model and label, budgets, unpriced calls and routing savings."""
    from playwright.sync_api import expect

    page = admin_page
    page.get_by_role("link", name="Costs").click()
    expect(page.get_by_test_id("by-tool")).to_contain_text("openai")
    expect(page.get_by_test_id("by-model")).to_contain_text("demo-strong")
    expect(page.get_by_test_id("by-label")).to_contain_text("team=support")
    expect(page.get_by_test_id("budgets")).to_contain_text("tool:openai")
    expect(page.get_by_test_id("unpriced")).to_contain_text("mystery-model")
    expect(page.get_by_role("heading", name="Routing savings")).to_be_visible()
    expect(page.locator("main")).to_contain_text("Saved")
    screenshot(page, test_output, "costs")


def test_the_api_docs_render_offline(admin_page: Page, server: LiveServer) -> None:
    """/docs renders Swagger UI from the package, listing the API's operations."""
    from playwright.sync_api import expect

    page = admin_page
    page.get_by_role("link", name="API").click()
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("toolkeeper")
    expect(page.locator(".opblock-summary-path").first).to_be_visible()
