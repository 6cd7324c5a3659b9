"""The pages' script shows money exactly as format_money does on the server."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

import pytest

from tests.server.conftest import LiveServer
from toolkeeper import format_money

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser

AMOUNTS = ["0", "0.305191", "0.05486385", "0.000104733", "0.25", "0.2", "0.2507", "1.08",
           "1234.5", "-2.5", "0.000000001", "0.00001", "987654.321"]  # fmt: skip


def test_the_script_formats_money_as_the_server_does(admin_page: Page, server: LiveServer) -> None:
    """format.js's usd() gives format_money's text for the same amounts, sent as JSON strings."""
    shown = admin_page.evaluate(
        """async ([base, amounts]) => {
            const format = await import(`${base}/static/js/format.js`);
            return amounts.map((amount) => format.usd(amount));
        }""",
        [server.base_url, AMOUNTS],
    )
    assert shown == [format_money(Decimal(amount)) for amount in AMOUNTS]
