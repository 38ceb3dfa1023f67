"""Real Chromium (Debian's) through Playwright, in two profiles: with WebGPU (SwiftShader here) and without."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, sync_playwright

from tests.conftest import REPO, RunningServer
from turbodraft.chromium import CHROMIUM, NO_WEBGPU_ARGS, WEBGPU_ARGS

ARTIFACTS = REPO / "test-artifacts"

PROFILES: dict[str, list[str]] = {
    "webgpu": list(WEBGPU_ARGS),
    "no-webgpu": list(NO_WEBGPU_ARGS),
}


# Package scope, not session: Playwright's sync API keeps an event loop running in the main thread while it
# lives, and pytest-asyncio cannot run the async tests collected after tests/browser until it has stopped.
@pytest.fixture(scope="package")
def playwright_instance() -> Iterator[Playwright]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: `make test` installs it with apt-get install chromium")
    with sync_playwright() as p:
        yield p


def _launch(p: Playwright, profile: str) -> Browser:
    return p.chromium.launch(executable_path=CHROMIUM, headless=True, args=PROFILES[profile])


@pytest.fixture(scope="package")
def webgpu_browser(playwright_instance: Playwright) -> Iterator[Browser]:
    browser = _launch(playwright_instance, "webgpu")
    yield browser
    browser.close()


@pytest.fixture(scope="package")
def no_webgpu_browser(playwright_instance: Playwright) -> Iterator[Browser]:
    browser = _launch(playwright_instance, "no-webgpu")
    yield browser
    browser.close()


class PageErrors:
    """Uncaught page errors fail a test; console errors alone do not (ORT-web logs warnings through them)."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        self.console: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("console", self._on_console)

    def _on_console(self, msg: ConsoleMessage) -> None:
        self.console.append(f"{msg.type}: {msg.text}")


def open_page(browser: Browser, gateway: RunningServer, path: str = "/") -> tuple[Page, PageErrors]:
    context = browser.new_context()
    page = context.new_page()
    errors = PageErrors(page)
    page.goto(gateway.url + path)
    return page, errors


@pytest.fixture
def webgpu_page(webgpu_browser: Browser, gateway: RunningServer) -> Iterator[tuple[Page, PageErrors]]:
    page, errors = open_page(webgpu_browser, gateway)
    yield page, errors
    page.context.close()


@pytest.fixture
def no_webgpu_page(no_webgpu_browser: Browser, gateway: RunningServer) -> Iterator[tuple[Page, PageErrors]]:
    page, errors = open_page(no_webgpu_browser, gateway)
    yield page, errors
    page.context.close()


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
