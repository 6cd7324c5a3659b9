"""``toolkeeper demo`` watched in chromium for seven minutes: its story holds, its pages stay live.

The demo runs as the README runs it, with one change: an outage every 60 s
instead of every 120 s (``--outage-every``), so seven minutes see six of them.
The default timing keeps the same story for half an hour (its budgets are sized
to the rate, not to the outage period).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.browser.conftest import VIEWPORT, console_error, screenshot

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.browser

WATCH_SECONDS = 7 * 60
OUTAGE_EVERY = "60"
TOOL = "openai-strong"


@dataclass
class RunningDemo:
    """The demo process, its dashboard URL, its admin token and what it printed before it."""

    process: subprocess.Popen[str]
    url: str
    token: str
    printed: list[str] = field(default_factory=list)

    def api(self) -> httpx.Client:
        """Return an API client signed in with the demo's admin token."""
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=30
        )


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[RunningDemo]:
    """Start ``toolkeeper demo`` in ``tmp_path``, its stdout and stderr read as one terminal."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLKEEPER_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "toolkeeper", "demo", "--port", "0", "--outage-every", OUTAGE_EVERY],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    printed: list[str] = []
    while not (printed and printed[-1].startswith("tk_")):
        line = process.stdout.readline()
        assert line, f"the demo ended before printing its token: {printed}"
        printed.append(line.rstrip("\n"))
    text = "\n".join(printed)
    match = re.search(r"dashboard: (http://127\.0\.0\.1:\d+)/", text)
    assert match, text
    running = RunningDemo(process, match.group(1), printed[-1], printed[:-1])
    try:
        yield running
    finally:
        process.terminate()
        rest, _ = process.communicate(timeout=60)
        assert process.returncode == 0, rest
        # Nothing is printed below the token while the demo runs (budget notices go to its log).
        assert rest.strip() == "", rest


def state_of(page: Page) -> dict[str, str]:
    """Read, in one go, the circuit state on the tool page's card and on its breaker panel."""
    result: dict[str, str] = page.evaluate(
        """() => ({
            card: document.querySelector('[data-refresh="health"] [data-field="circuit_state"]')
                ?.textContent.trim() ?? "",
            panel: document.querySelector('[data-refresh="circuit"] [data-field="circuit_state"]')
                ?.textContent.trim() ?? "",
            budget: document.querySelector('[data-refresh="health"] .budget-figures')
                ?.textContent.trim() ?? "",
            windows: document.querySelector('[data-refresh="windows"] tbody')
                ?.textContent.replace(/\\s+/g, " ").trim() ?? "",
            breaker: document.querySelector('[data-refresh="circuit"] dl')
                ?.textContent.replace(/\\s+/g, " ").trim() ?? "",
            provider: document.querySelector(
                '[data-refresh="health"] [data-field="provider_error_rate"]'
            )?.textContent.trim() ?? "",
        })"""
    )
    return result


def sign_in(page: Page, demo: RunningDemo, path: str) -> None:
    """Sign in with the demo's printed token and land on ``path``."""
    page.goto(f"{demo.url}{path}")
    page.get_by_label("API token").fill(demo.token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/login" not in url)


@pytest.mark.timeout(WATCH_SECONDS + 240)
def test_the_demo_tells_its_story_for_seven_minutes_with_live_pages(
    demo: RunningDemo, browser: Browser, test_output: Path
) -> None:
    """The circuit opens at 3+ outages, no budget error; live parts change and agree; shots."""
    from playwright.sync_api import expect

    commands = [line for line in demo.printed if "export TOOLKEEPER_CONFIG=" in line]
    assert len(commands) == 1, demo.printed  # printed before the token, which is the last line
    assert "TOOLKEEPER_STORE=sqlite:///" in commands[0]

    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    errors: list[str] = []
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.extend(console_error(message)))
    sign_in(page, demo, f"/tools/{TOOL}")
    expect(page.locator("[data-live-state]")).to_have_attribute("data-state", "open")
    page.evaluate("window.__notReloaded = true")

    costs = context.new_page()
    costs.goto(f"{demo.url}/costs")
    costs.evaluate("window.__notReloaded = true")
    costs_total = costs.get_by_test_id("total").inner_text()

    openings = 0
    closed_since_last_opening = True
    seen: dict[str, set[str]] = {
        "budget": set(), "windows": set(), "breaker": set(), "provider": set(),
    }  # fmt: skip
    disagreements: list[dict[str, str]] = []
    deadline = time.monotonic() + WATCH_SECONDS
    while time.monotonic() < deadline:
        page.wait_for_timeout(1000)
        now = state_of(page)
        no_call_yet = now["panel"] == "" and now["card"] == "\u2013"  # no breaker yet
        if now["card"] != now["panel"] and not no_call_yet:
            disagreements.append(now)
        if now["panel"] == "open" and closed_since_last_opening:
            openings += 1  # a new outage: the circuit had closed again since the last one
            closed_since_last_opening = False
        elif now["panel"] == "closed":
            closed_since_last_opening = True
        for key, values in seen.items():
            values.add(now[key])

    assert disagreements == [], disagreements[:3]
    assert openings >= 3, f"the circuit opened at {openings} outages in 7 minutes"
    assert len(seen["budget"]) > 1, "the budget line never changed"
    assert len(seen["windows"]) > 1, "the windows table never changed"
    assert len(seen["breaker"]) > 1, "the breaker panel never changed"
    # The outages' failed attempts show as provider errors, though fallbacks served them.
    assert len(seen["provider"] - {"0.0%", "\u2013", ""}) > 0, seen["provider"]
    assert page.evaluate("window.__notReloaded") is True
    expect(costs.get_by_test_id("total")).not_to_have_text(costs_total, timeout=15000)
    assert costs.evaluate("window.__notReloaded") is True

    with demo.api() as api:
        failed = api.get("/api/v1/operations", params={"status": "error", "limit": 500}).json()
        budget_errors = [op for op in failed["items"] if op["error_code"] == "BUDGET_EXCEEDED"]
        assert budget_errors == []
        served = api.get(
            "/api/v1/operations", params={"tool": TOOL, "status": "fallback", "limit": 1}
        ).json()
        assert served["total"] > 0

    # A fallback served after a failed attempt says so in the recent failures.
    expect(page.locator("#errors")).to_contain_text("Served by openai-weak")

    for name, path in [
        ("dashboard", "/"), ("tool", f"/tools/{TOOL}"), ("costs", "/costs"),
        ("alerts", "/alerts"), ("config", "/config"), ("docs", "/docs"),
    ]:  # fmt: skip
        page.goto(f"{demo.url}{path}")
        page.wait_for_load_state("load")
        page.wait_for_timeout(1500)  # charts and live parts drawn (an event stream never idles)
        expect(page.locator("header.topbar nav")).to_be_visible()  # navigation on every page
        screenshot(page, test_output, f"demo-{name}")
    context.close()
    login = browser.new_context(viewport=VIEWPORT).new_page()  # type: ignore[arg-type]
    login.goto(f"{demo.url}/login")
    screenshot(login, test_output, "demo-login")
    login.context.close()
    assert errors == [], errors
