"""The costs page in chromium shows budget overshoots as the ledger counts them, kept fresh."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser.conftest import screenshot
from tests.server.conftest import LiveServer
from toolkeeper._units import format_money

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser

TOOL = "overshooting-tool"  # a tool of this test only: other tests' calls cannot change its row


def test_an_overshoot_appears_on_the_open_costs_page_without_a_reload(
    admin_page: Page, server: LiveServer, test_output: Path
) -> None:
    """Overshoots counted in the ledger while the page is open appear in its table, no reload."""
    from playwright.sync_api import expect

    page = admin_page
    page.get_by_role("link", name="Costs").click()
    expect(page.get_by_test_id("budgets")).to_be_visible()
    page.evaluate("window.__notReloaded = true")
    costs = server.keeper.costs
    costs.count_overshoot(TOOL, Decimal("0.0042"), Decimal("0.001"))
    costs.count_overshoot(TOOL, Decimal("0.0100"), Decimal("0.002"))
    row = page.get_by_test_id("overshoots").locator("tr", has_text=TOOL)
    # The page asks for its report again every few seconds; a loaded machine may be slow.
    expect(row).to_be_visible(timeout=60_000)
    cells = row.locator("td")
    expect(cells).to_have_text(["2", format_money("0.0142"), format_money("0.01")])
    assert page.evaluate("window.__notReloaded") is True
    screenshot(page, test_output, "costs-overshoots")
