"""The /alerts page's configuration versions in chromium: a notifier set, used and rolled back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.alerts.conftest import Webhook
from tests.browser.conftest import VIEWPORT, console_error, failed_load, screenshot, sign_in
from tests.server.conftest import LiveServer
from tests.server.test_alerts_api import alerting
from toolkeeper.server import Role

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.browser

TOKEN = "page-hook-s3cr3t-token-8910"


@pytest.fixture(scope="module")
def config_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Serve a keeper with alert rules, a notifier of the file and firing alerts."""
    tmp_path = tmp_path_factory.mktemp("browser-alert-config")
    with alerting(f"sqlite:///{tmp_path / 'state.db'}", tmp_path) as server:
        yield server


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    """Yield a real JSON webhook on loopback."""
    hook = Webhook()
    yield hook
    hook.close()


def _open(browser: Browser, server: LiveServer, role: Role) -> tuple[Page, list[str]]:
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.extend(console_error(message)))
    page.on("response", lambda response: errors.extend(failed_load(response)))
    sign_in(page, server, role, path="/alerts")
    return page, errors


def test_an_admin_sets_a_notifier_tests_it_and_rolls_it_back_from_the_page(
    browser: Browser, config_server: LiveServer, webhook: Webhook, test_output: Path
) -> None:
    """The notifier is stored as version 1 (URL masked), delivers, and a rollback removes it."""
    from playwright.sync_api import expect

    page, errors = _open(browser, config_server, Role.ADMIN)
    stale, stale_errors = _open(browser, config_server, Role.ADMIN)  # read before the change
    try:
        versions = page.get_by_test_id("config-versions")
        expect(versions.locator('tr[data-version="0"]')).to_contain_text("(file)")
        form = page.get_by_test_id("notifier-form")
        form.get_by_label("Notifier name").fill("pager")
        form.get_by_label("Apprise URLs or env:NAME references, one a line").fill(
            webhook.url(f"/{TOKEN}")
        )
        form.get_by_label("Why").fill("page the on-call")
        form.get_by_role("button", name="Save notifier").click()
        page.wait_for_url("**/alerts?config=1*")
        expect(page.get_by_test_id("config-flash")).to_contain_text("Version 1 stored")
        row = versions.locator('tr[data-version="1"]')
        expect(row).to_contain_text("admin-test")
        expect(row).to_contain_text("page the on-call")
        expect(row).to_contain_text("notifiers.pager")
        assert TOKEN not in page.content()
        screenshot(page, test_output, "alerts-config-versions")

        tester = page.get_by_test_id("test-notification")
        tester.get_by_label("Notifier").select_option("pager")
        tester.get_by_role("button", name="Send a test notification").click()
        expect(page.get_by_test_id("flash")).to_contain_text("pager delivered")
        assert [path for path, _ in webhook.received] == [f"/{TOKEN}"]

        late = stale.get_by_test_id("notifier-form")
        late.get_by_label("Notifier name").fill("other")
        late.get_by_label("Apprise URLs or env:NAME references, one a line").fill("env:OTHER")
        late.get_by_label("Why").fill("from an old page")
        late.get_by_role("button", name="Save notifier").click()
        expect(stale.get_by_test_id("config-error")).to_contain_text("changed underneath you")
        assert config_server.keeper.alerts.config is not None
        assert config_server.keeper.alerts.config.version() == 1

        back = page.get_by_test_id("config-versions").locator('tr[data-version="0"]')
        back.get_by_label("Why roll back to version 0").fill("back to the file")
        back.get_by_role("button", name="Roll back to 0").click()
        page.wait_for_url("**/alerts?config=2*")
        expect(page.get_by_test_id("config-flash")).to_contain_text("Version 2 stored")
        assert config_server.keeper.alerts.notifier_names() == ["hook"]
        assert TOKEN not in page.content()
    finally:
        page.context.close()
        stale.context.close()
    assert errors == [], errors
    assert stale_errors == [], stale_errors


def test_a_viewer_sees_the_versions_but_no_form_and_cannot_post(
    browser: Browser, config_server: LiveServer
) -> None:
    """A viewer sees who changed alerting and why, no changes column, no form; a POST is 403."""
    from playwright.sync_api import expect

    page, errors = _open(browser, config_server, Role.VIEWER)
    try:
        expect(page.get_by_test_id("config-versions")).to_be_visible()
        expect(page.get_by_test_id("notifier-form")).to_have_count(0)
        expect(page.locator('form[action$="/alerts/config/rollback"]')).to_have_count(0)
        before = config_server.keeper.alerts.config
        assert before is not None
        version = before.version()
        response = page.request.post(
            f"{config_server.base_url}/alerts/notifiers",
            form={"version": str(version), "name": "x", "urls": "env:X", "reason": "sneaky",
                  "csrf_token": "x"},
        )  # fmt: skip
        assert response.status == 403
        assert before.version() == version
    finally:
        page.context.close()
    assert errors == [], errors
