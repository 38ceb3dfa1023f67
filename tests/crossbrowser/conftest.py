"""Fixtures of the cross-browser suite: Firefox ESR and WebKitGTK (engines.py), and the gateway they talk to.

`@on("firefox", "webkit")` runs a test once per engine (`engine` is indirect): the browser starts once per run
(Firefox) or per page (WebKit), only when a test asks for it. The gateway is the one the Chromium model-store
tests use (tests/browser/model_store_gateway.py): the tiny model mirrored with test-sized chunks, a synthetic
variant for download tests, and, with no RunPod key, finals on the embedded local RunPod-compatible server.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest
from fastapi import FastAPI

from tests.browser.canvas_support import CanvasGateway
from tests.browser.conftest import ARTIFACTS
from tests.browser.model_store_gateway import CHUNK, store_test_app
from tests.conftest import start_server, stop_server
from tests.crossbrowser.engines import (
    FIREFOX,
    MINIBROWSER,
    WEBKIT_DRIVER,
    WEBKIT_STORAGE_FEATURES,
    XVFB,
    EnginePage,
    FirefoxBridge,
    FirefoxPage,
    WebKitPage,
    WebKitProfile,
    virtual_display,
    wait_for,
)
from turbodraft.gateway.model_files import TransferCounters

WEBKIT_PROFILES = {
    "webkit": WebKitProfile("webkit", ()),
    "webkit-storage": WebKitProfile("webkit-storage", (WEBKIT_STORAGE_FEATURES,)),
}
ALL_ENGINES = ("firefox", "webkit")

#: What the store's tests configure: small chunks, quick retries, chunk hashes (as the Chromium store tests).
STORE_SETTINGS: dict[str, Any] = {
    "manifestUrl": "/models/manifest.json",
    "chunkBytes": CHUNK,
    "retryDelayMs": 50,
    "maxRetries": 4,
    "storageEstimate": None,
    "chunkHashes": True,
    "parallelChunks": 3,
}


def on(*engines: str) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("engine", engines, indirect=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.crossbrowser)


@pytest.fixture(scope="package")
def driver_log() -> Iterator[IO[str]]:
    ARTIFACTS.mkdir(exist_ok=True)
    with (ARTIFACTS / "crossbrowser-drivers.log").open("w") as log:
        yield log


@pytest.fixture(scope="package")
def firefox_bridge(driver_log: IO[str]) -> Iterator[FirefoxBridge]:
    if not Path(FIREFOX).exists():
        pytest.fail("Firefox ESR is missing: `make test` installs it with apt-get install firefox-esr")
    bridge = FirefoxBridge(driver_log)
    try:
        yield bridge
    finally:
        bridge.close()


@pytest.fixture(scope="package")
def display() -> Iterator[str]:
    for path, package in ((WEBKIT_DRIVER, "webkit2gtk-driver"), (MINIBROWSER, "webkit2gtk-driver"), (XVFB, "xvfb")):
        if not Path(path).exists():
            pytest.fail(f"{path} is missing: `make test` installs it with apt-get install {package}")
    with virtual_display() as name:
        yield name


@dataclass
class Engine:
    name: str
    opener: Callable[[str], EnginePage]
    version: Callable[[EnginePage], str]
    opened: list[EnginePage] = field(default_factory=list)

    def open(self, url: str) -> EnginePage:
        page = self.opener(url)
        self.opened.append(page)
        return page


@pytest.fixture
def engine(request: pytest.FixtureRequest, driver_log: IO[str]) -> Iterator[Engine]:
    name: str = request.param
    if name == "firefox":
        bridge: FirefoxBridge = request.getfixturevalue("firefox_bridge")
        found = Engine(name, lambda url: FirefoxPage(bridge, url), lambda _: bridge.version)
    else:
        screen: str = request.getfixturevalue("display")
        profile = WEBKIT_PROFILES[name]
        found = Engine(
            name,
            lambda url: WebKitPage(profile, screen, url, driver_log),
            lambda page: page.version if isinstance(page, WebKitPage) else "?",
        )
    try:
        yield found
    finally:
        for page in found.opened:
            try:
                page.close()
            except Exception as error:  # a page the test already closed, or a browser that died: report, go on
                print(f"{name}: closing a page failed: {error}")


def app_url(gateway: CanvasGateway, query: str = "") -> str:
    """The app with the tiny model as the local one and its own canvas document."""
    return f"{gateway.url}/?model=tiny-sd-turbo&doc={uuid.uuid4().hex[:12]}{query}"


def screenshot(page: EnginePage, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"crossbrowser-{page.engine}-{name}.png"
    page.screenshot(path)
    return path


@dataclass
class StoreGateway(CanvasGateway):
    """The gateway with its model mirror's counters (`app.state.model_transfers`) and fault hook."""

    thread: Any = None

    @property
    def app(self) -> FastAPI:
        return self.running.app

    @property
    def transfers(self) -> TransferCounters:
        counters: TransferCounters = self.app.state.model_transfers
        return counters

    def stop(self) -> None:
        stop_server(self.running, self.thread)


@contextmanager
def running_gateway(root: Path) -> Iterator[StoreGateway]:
    app, _, _ = store_test_app(root / "data", root / "synthetic")
    running, thread = start_server(app)
    try:
        yield StoreGateway(running, root / "data", thread)
    finally:
        stop_server(running, thread)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoreGateway]:
    with running_gateway(tmp_path_factory.mktemp("crossbrowser")) as found:
        yield found


@pytest.fixture
def fresh_gateway(tmp_path: Path) -> Iterator[StoreGateway]:
    """A gateway of the test's own, which the test may stop (offline tests)."""
    with running_gateway(tmp_path) as found:
        yield found


def app_ready(page: EnginePage) -> None:
    """Waits for `window.turbodraft`, and gives the model store the test settings."""
    wait_for(page, "() => !!(window.turbodraft && window.turbodraft.models)")
    page.evaluate("(s) => window.turbodraft.models.configure(s)", STORE_SETTINGS)
