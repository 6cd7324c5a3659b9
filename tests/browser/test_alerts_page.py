"""The alerts page in chromium: alerts fired by real failing calls, silenced from their row."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser.conftest import VIEWPORT, console_error, failed_load, screenshot, sign_in
from tests.server.conftest import LiveServer
from tests.server.test_alerts_api import HOOK_CANARY, alerting
from toolkeeper.server import Role

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def alert_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Serve a keeper whose flaky tool failed until its circuit opened, the rules evaluated."""
    tmp_path = tmp_path_factory.mktemp("browser-alerts")
    with alerting(f"sqlite:///{tmp_path / 'state.db'}", tmp_path) as server:
        yield server


def _open(browser: Browser, server: LiveServer, role: Role) -> tuple[Page, list[str]]:
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.extend(console_error(message)))
    page.on("response", lambda response: errors.extend(failed_load(response)))
    sign_in(page, server, role, path="/alerts")
    return page, errors


@pytest.fixture
def operator_page(browser: Browser, alert_server: LiveServer) -> Iterator[Page]:
    """Give a test a fresh context signed in as an operator, on /alerts; fail on console errors."""
    page, errors = _open(browser, alert_server, Role.OPERATOR)
    yield page
    page.context.close()
    assert errors == [], errors


def test_an_operator_silences_a_firing_alert_from_its_row(
    operator_page: Page, alert_server: LiveServer, test_output: Path
) -> None:
    """A firing alert shows value against threshold; its row's form silences it as the operator."""
    from playwright.sync_api import expect

    page = operator_page
    expect(page.get_by_role("heading", name="Alerts", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="Alerts")).to_have_attribute("aria-current", "page")
    row = page.locator('tr[data-alert="flaky-errors/flaky"]')
    expect(row).to_have_attribute("data-state", "firing")
    expect(row).to_contain_text("critical")
    expect(row).to_contain_text("> 0.5")
    expect(row.locator('[data-field="silenced"]')).to_have_text("no")
    expect(page.locator('tr[data-alert="circuit-open/flaky"]')).to_have_attribute(
        "data-state", "firing"
    )
    expect(page.get_by_test_id("events")).to_contain_text("fired")
    expect(page.locator("[data-live-state]")).to_have_attribute("data-state", "open")
    screenshot(page, test_output, "alerts-firing")

    row.get_by_label("Silence flaky-errors on flaky for").select_option("2h")
    row.get_by_label("Why silence flaky-errors on flaky").fill("upstream incident, ticket 42")
    row.get_by_role("button", name="Silence").click()
    page.wait_for_url("**/alerts?silenced=*")
    expect(page.get_by_test_id("flash")).to_contain_text("created")
    silenced = page.locator('tr[data-alert="flaky-errors/flaky"]')
    expect(silenced.get_by_test_id("silenced")).to_have_text("silenced")
    expect(silenced).to_contain_text("operator-test")
    expect(silenced.get_by_role("button", name="Silence")).to_have_count(0)
    silences = page.get_by_test_id("silences")
    expect(silences).to_contain_text("upstream incident, ticket 42")
    made = alert_server.keeper.alerts.silences()
    assert [(s.rule, s.tool, s.created_by) for s in made] == [
        ("flaky-errors", "flaky", "operator-test")
    ]
    screenshot(page, test_output, "alerts-silenced")

    silences.get_by_role("button", name=f"Expire silence {made[0].id}").click()
    page.wait_for_url("**/alerts?expired=*")
    expect(page.get_by_test_id("flash")).to_contain_text("expired")
    cell = page.locator('tr[data-alert="flaky-errors/flaky"] [data-field="silenced"]')
    expect(cell).to_have_text("no")
    assert alert_server.keeper.alerts.silences() == []
    assert HOOK_CANARY not in page.content()


def test_a_silence_without_a_reason_is_refused_on_the_page(
    operator_page: Page, alert_server: LiveServer
) -> None:
    """The general silence form refuses a bad duration with a message naming it; nothing is made."""
    from playwright.sync_api import expect

    page = operator_page
    form = page.get_by_test_id("new-silence")
    form.get_by_label("For").fill("soon")
    form.get_by_label("Why").fill("testing")
    form.get_by_role("button", name="Add silence").click()
    expect(page.get_by_test_id("silence-errors")).to_contain_text("'soon' is not a duration")
    expect(form.get_by_label("Why")).to_have_value("testing")
    assert alert_server.keeper.alerts.silences() == []


def test_a_viewer_sees_the_alerts_but_no_form(browser: Browser, alert_server: LiveServer) -> None:
    """A viewer sees firing alerts and silences, and no form to change them."""
    from playwright.sync_api import expect

    page, errors = _open(browser, alert_server, Role.VIEWER)
    try:
        expect(page.locator('tr[data-alert="flaky-errors/flaky"]')).to_have_attribute(
            "data-state", "firing"
        )
        expect(page.get_by_test_id("silence-form")).to_have_count(0)
        expect(page.get_by_test_id("new-silence")).to_have_count(0)
        expect(page.locator('main form[action$="/expire"]')).to_have_count(0)
        response = page.request.post(
            f"{alert_server.base_url}/alerts/silence",
            form={"duration": "1h", "comment": "sneaky", "csrf_token": "x"},
        )
        assert response.status == 403
        assert alert_server.keeper.alerts.silences() == []
    finally:
        page.context.close()
    assert errors == [], errors


def test_an_operator_acknowledges_an_alert_and_the_filters_and_history_show_it(
    operator_page: Page, test_output: Path
) -> None:
    """Acknowledged from its row, it moves to the acknowledged filter; History says who and why."""
    from playwright.sync_api import expect

    page = operator_page
    row = page.locator('tr[data-alert="circuit-open/flaky"]')
    expect(row.locator('[data-field="acknowledged"]')).to_have_text("no")
    row.get_by_label("Why acknowledge circuit-open on flaky").fill("failing over to the backup")
    row.get_by_role("button", name="Acknowledge").click()
    page.wait_for_url("**/alerts?acknowledged=*")
    expect(page.get_by_test_id("flash")).to_contain_text("circuit-open/flaky acknowledged")
    acked = page.locator('tr[data-alert="circuit-open/flaky"]')
    expect(acked).to_have_attribute("data-kind", "acknowledged")
    expect(acked.locator('[data-field="acknowledged"]')).to_have_text(
        "operator-test: failing over to the backup"
    )
    expect(acked.get_by_role("button", name="Acknowledge")).to_have_count(0)
    expect(page.get_by_test_id("events")).to_contain_text("by operator-test: failing over")
    page.get_by_test_id("alert-filters").get_by_role("link", name="acknowledged (1)").click()
    expect(page.locator("tr[data-alert]")).to_have_count(1)
    expect(page.locator('tr[data-alert="circuit-open/flaky"]')).to_be_visible()
    screenshot(page, test_output, "alerts-acknowledged")
    page.locator('[data-filter="firing"]').click()
    expect(page.locator('[data-filter="firing"]')).to_have_attribute("aria-current", "true")
    expect(page.locator('tr[data-alert="circuit-open/flaky"]')).to_have_count(0)
    page.get_by_label("Rule or tool contains").fill("nothing-matches")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_test_id("alerts")).to_contain_text("matching “nothing-matches”")
    expect(page.locator("tr[data-alert]")).to_have_count(0)


def test_an_alert_without_an_escalation_offers_no_escalate_button(operator_page: Page) -> None:
    """Escalate shows only where the alert's route names an escalation chain."""
    from playwright.sync_api import expect

    row = operator_page.locator('tr[data-alert="circuit-open/flaky"]')
    expect(row).to_be_visible()
    expect(row.get_by_role("button", name="Escalate")).to_have_count(0)
