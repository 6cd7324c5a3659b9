"""Fixtures: Debian's chromium driven by Playwright, and a live server with costs and budgets.

No browser is ever downloaded: Playwright drives ``/usr/bin/chromium`` through
``executable_path``. Without chromium or Playwright the tests fail under CI and
are skipped elsewhere, with the reason.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.server.conftest import LiveServer, serving
from toolkeeper._secrets import generate_key
from toolkeeper.keeper import Keeper
from toolkeeper.server import Role, ServerSettings, TokenRegistry, create_app

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page, Response


CANARY = "sk-browser-canary-0123456789abcdef"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
VIEWPORT = {"width": 1280, "height": 800}

CONFIG = """\
[prices."demo-strong"]
input_per_mtok = "5.00"
output_per_mtok = "15.00"

[prices."demo-weak"]
input_per_mtok = "0.15"
output_per_mtok = "0.60"

[tools.openai]
api_endpoint = "https://api.example.com/v1"
api_key = "env:TK_BROWSER_CANARY"
timeout_seconds = 30
max_retry_attempts = 0
daily_budget = "0.50"
monthly_budget = "10"

[tools.router]
api_endpoint = "http://127.0.0.1:9/v1"

[environments.production.tools.openai]
timeout_seconds = 10
"""


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"browser tests cannot run under CI: {reason}")
    pytest.skip(reason)


def chromium_path() -> str:
    """Return Debian's chromium, failing under CI and skipping elsewhere when it is absent."""
    found = shutil.which("chromium") or (
        "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
    )
    if found is None:
        _unavailable("Debian's chromium is not installed (apt-get install chromium)")
    assert found is not None
    return found


def run_costly_workload(keeper: Keeper) -> None:
    """Record priced chats, routed calls, an unpriced model and failures, through the wrapper."""
    for index in range(12):
        with keeper.operation("router", "route", labels={"team": "search"}) as op:
            strong = index % 3 == 0
            op.route(router="mf", chosen_model="demo-strong" if strong else "demo-weak",
                     strong_model="demo-strong", weak_model="demo-weak", threshold=0.5,
                     score=0.7 if strong else 0.2)  # fmt: skip
            op.usage(model="demo-strong" if strong else "demo-weak", input_tokens=600,
                     output_tokens=200)  # fmt: skip
    for index in range(10):
        with (
            contextlib.suppress(RuntimeError),
            keeper.operation("openai", "chat", labels={"team": "support"}) as op,
        ):
            op.usage(model="demo-strong", input_tokens=3000, output_tokens=900)
            if index % 4 == 3:
                raise RuntimeError(f"upstream 503 for request {index}")
    with keeper.operation("openai", "chat") as op:
        op.usage(model="mystery-model", input_tokens=100, output_tokens=10)
    keeper.flush()


@pytest.fixture(scope="package")  # not session: its event loop must stop before other tests
def browser() -> Iterator[Browser]:
    """Launch Debian's chromium headless once for the browser tests."""
    executable = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (pip install -e '.[test]')")
        raise
    playwright = sync_playwright().start()
    launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
    try:
        yield launched
    finally:
        launched.close()
        playwright.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Serve a keeper with priced models, budgets and recorded spend on an SQLite file."""
    tmp_path = tmp_path_factory.mktemp("browser")
    path = tmp_path / "toolkeeper.toml"
    path.write_text(CONFIG)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TK_BROWSER_CANARY", CANARY)
        patch.setenv("TOOLKEEPER_SECRET_KEY", generate_key())
        for variable in ("TOOLKEEPER_ENV", "TOOLKEEPER_CONFIG", "TOOLKEEPER_STORE"):
            patch.delenv(variable, raising=False)
        keeper = Keeper.open(path, store=f"sqlite:///{tmp_path / 'state.db'}")
        try:
            app = create_app(keeper, settings=ServerSettings(events_interval_seconds=0.5))
            registry = TokenRegistry(keeper.store)
            tokens = {role: registry.create(role, name=f"{role.value}-test")[1] for role in Role}
            with serving(app) as base_url:
                run_costly_workload(keeper)
                yield LiveServer(base_url=base_url, keeper=keeper, app=app, tokens=tokens)
        finally:
            keeper.close()


def sign_in(page: Page, server: LiveServer, role: Role, *, path: str = "/") -> None:
    """Open ``path``, get sent to the sign-in form, and sign in with the role's token."""
    page.goto(server.base_url + path)
    assert "/login" in page.url
    page.get_by_label("API token").fill(server.tokens[role])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/login" not in url)


def console_error(message: ConsoleMessage) -> list[str]:
    """Return a console error (a script error or a CSP violation), but not a page's own status."""
    if message.type != "error" or message.text.startswith("Failed to load resource"):
        return []
    return [message.text]


def failed_load(response: Response) -> list[str]:
    """Return a script, style, image or fetch that failed; pages may answer 4xx on purpose."""
    if response.status < 400 or response.request.resource_type == "document":
        return []
    return [f"{response.status} {response.url}"]


@pytest.fixture
def admin_page(browser: Browser, server: LiveServer) -> Iterator[Page]:
    """Give a test a fresh context signed in as an admin, at 1280 by 800; fail on console errors."""
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.extend(console_error(message)))
    page.on("response", lambda response: errors.extend(failed_load(response)))
    sign_in(page, server, Role.ADMIN)
    yield page
    context.close()
    assert errors == [], errors  # script errors, refused loads and CSP violations alike


def screenshot(page: Page, output: Path, name: str, **options: Any) -> Path:
    """Save a full-page screenshot under ``<output>/screenshots/`` and return its path."""
    folder = output / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True, **options)
    return path
