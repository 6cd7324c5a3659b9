"""The configuration page in chromium: errors by their field, preview, save, rollback, roles."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser.conftest import VIEWPORT, screenshot, sign_in
from tests.server.conftest import LiveServer, version_of
from toolkeeper.server import Role

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.browser


def test_an_invalid_value_is_shown_beside_its_field_and_nothing_is_saved(
    admin_page: Page, server: LiveServer
) -> None:
    """A negative timeout is refused beside its input, and the API still reports the old version."""
    from playwright.sync_api import expect

    before = version_of(server.client(Role.ADMIN), "openai")
    page = admin_page
    page.get_by_role("link", name="Configuration").click()
    page.get_by_label("timeout_seconds", exact=True).fill("-5")
    page.get_by_role("button", name="Preview changes").click()
    error = page.locator('[data-error-for="timeout_seconds"]')
    expect(error).to_contain_text("greater than 0")
    row = page.locator('[data-field-row="timeout_seconds"]')
    expect(row.locator("input")).to_have_attribute("aria-invalid", "true")
    expect(row.locator("input")).to_have_value("-5")
    expect(page.get_by_test_id("form-errors")).to_contain_text("Nothing was saved")
    assert version_of(server.client(Role.ADMIN), "openai") == before
    # The address is the configuration page's, not the POST-only preview: reloading works.
    page.wait_for_url(lambda url: "/preview" not in url and "/config?" in url)
    page.reload()
    expect(page.get_by_label("timeout_seconds", exact=True)).to_be_visible()


def test_a_valid_change_is_previewed_saved_and_rolled_back(
    admin_page: Page, server: LiveServer, test_output: Path
) -> None:
    """A new timeout goes through the diff preview into history with actor and reason, then back."""
    from playwright.sync_api import expect

    api = server.client(Role.ADMIN)
    before = version_of(api, "openai")
    page = admin_page
    page.goto(f"{server.base_url}/config?env=default&tool=openai")
    page.get_by_label("timeout_seconds", exact=True).fill("45")
    page.get_by_role("button", name="Preview changes").click()
    diff = page.locator('[data-diff-field="timeout_seconds"]')
    expect(diff).to_contain_text("30.0")
    expect(diff).to_contain_text("45.0")
    assert version_of(api, "openai") == before
    page.get_by_label("Reason for this change").fill("upstream is slow today")
    page.get_by_role("button", name=f"Save as version {before + 1}").click()
    expect(page.get_by_test_id("flash")).to_contain_text(f"version {before + 1}")
    newest = page.locator(f'tr[data-version="{before + 1}"]')
    expect(newest.get_by_test_id("actor")).to_have_text("admin-test")
    expect(newest.get_by_test_id("reason")).to_have_text("upstream is slow today")
    assert version_of(api, "openai") == before + 1
    assert api.get("/api/v1/config/openai").json()["values"]["timeout_seconds"] == 45.0
    screenshot(page, test_output, "configuration")

    target = page.locator(f'tr[data-version="{before}"]')
    target.get_by_label(f"Reason for rolling back to version {before}").fill("back to normal")
    target.get_by_role("button", name=f"Roll back to v{before}").click()
    # Asked first, with what would change; nothing is rolled back until confirmed.
    expect(page.locator('[data-diff-field="timeout_seconds"]')).to_contain_text("45.0")
    assert version_of(api, "openai") == before + 1
    screenshot(page, test_output, "configuration-rollback-confirm")
    page.get_by_role("button", name=f"Yes, roll back to version {before}").click()
    expect(page.get_by_test_id("flash")).to_contain_text(f"version {before + 2}")
    expect(page.locator(f'tr[data-version="{before + 2}"]').get_by_test_id("reason")).to_have_text(
        "back to normal"
    )
    assert api.get("/api/v1/config/openai").json()["values"]["timeout_seconds"] == 30.0

    page.get_by_label("Compare version").fill(str(before + 1))
    page.get_by_label("with version").fill(str(before))
    page.get_by_role("button", name="Compare").click()
    compared = page.locator('[data-diff-field="timeout_seconds"]')
    expect(compared.locator(".from")).to_contain_text("45.0")
    expect(compared.locator(".to")).to_contain_text("30.0")
    screenshot(page, test_output, "configuration-diff")


def test_a_viewer_is_refused_the_configuration_page(browser: Browser, server: LiveServer) -> None:
    """A viewer has no Configuration link and gets a 403 page with nothing of the form."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    try:
        page = context.new_page()
        sign_in(page, server, Role.VIEWER)
        expect(page.get_by_test_id("user-name")).to_have_text("viewer-test")
        expect(page.get_by_role("link", name="Configuration")).to_have_count(0)
        response = page.goto(f"{server.base_url}/config?tool=openai")
        assert response is not None
        assert response.status == 403
        expect(page.get_by_test_id("forbidden")).to_contain_text("for admins")
        expect(page.locator("form input[name='version']")).to_have_count(0)
        expect(page.get_by_label("timeout_seconds", exact=True)).to_have_count(0)
    finally:
        context.close()


def test_a_change_made_elsewhere_is_announced_on_the_open_form(
    admin_page: Page, server: LiveServer
) -> None:
    """While the form is open, a change through the API shows a notice within seconds."""
    from playwright.sync_api import expect

    api = server.client(Role.ADMIN)
    page = admin_page
    page.goto(f"{server.base_url}/config?tool=router")
    version = version_of(api, "router")
    notice = page.locator("[data-config-notice]")
    expect(notice).to_be_hidden()
    expect(page.locator("[data-live-state]")).to_have_attribute("data-state", "open")
    changed = api.patch(
        "/api/v1/config/router",
        content=b'{"max_retry_attempts": 4}',
        headers={"Content-Type": "application/merge-patch+json", "If-Match": f'"{version}"',
                 "X-Change-Reason": "from a script"},
    )  # fmt: skip
    assert changed.status_code == 200, changed.text
    expect(notice).to_contain_text(f"version {version + 1} by admin-test", timeout=4000)
