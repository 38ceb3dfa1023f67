"""The canvas's browser tests share this: a gateway whose `runpod` target is a local RunPod-compatible
server configured as if it were RunPod proper (a key and an endpoint, so its images are billed and show a
cost), both on loopback with the tiny model; and helpers that drive the ImageGen shape like a user."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser, Locator, Page

from tests.browser.conftest import PageErrors
from tests.conftest import WEB_DIST, RunningServer, start_server, stop_server
from turbodraft.config import Settings
from turbodraft.gateway import create_app
from turbodraft.providers.runpod_local import LocalRunPod, LocalRunPodConfig, running_in_thread
from turbodraft.providers.sd_turbo_handler import make_handler
from turbodraft.providers.server_target import SdTurboRunner

TINY = "tiny-sd-turbo"
RUNPOD_KEY = "canvas-test-key"
#: SwiftShader and single-threaded wasm are slow on 2 cores; a tiny generation still ends well within this.
GENERATION_MS = 120_000


@dataclass
class CanvasGateway:
    running: RunningServer
    data_dir: Path

    @property
    def url(self) -> str:
        return self.running.url

    def costs(self) -> dict[str, Any]:
        response = httpx.get(f"{self.url}/v1/costs?days=1&scope=all", timeout=30)
        response.raise_for_status()
        summary: dict[str, Any] = response.json()
        return summary

    def ledger_rows(self) -> list[dict[str, Any]]:
        """Every ledger row, oldest first (read straight from the SQLite file, as an auditor would)."""
        with sqlite3.connect(self.data_dir / "ledger.sqlite") as db:
            db.row_factory = sqlite3.Row
            rows = db.execute(
                "SELECT generation_id, target, backend, priority, img2img, status, billed, cost_usd "
                "FROM generations ORDER BY created_at"
            ).fetchall()
        return [dict(row) for row in rows]


@contextmanager
def canvas_gateway(data_dir: Path) -> Iterator[CanvasGateway]:
    runner = SdTurboRunner(TINY, data_dir / "models")
    local = LocalRunPod(LocalRunPodConfig(api_key=RUNPOD_KEY), make_handler(runner))
    with running_in_thread(local) as base_url:
        settings = Settings(
            data_dir=data_dir,
            web_dir=WEB_DIST,
            server_model=TINY,
            runpod_api_key=RUNPOD_KEY,
            runpod_endpoint_id="local",
            runpod_base_url=base_url,
            rate_limit_per_minute=0,
        )
        running, thread = start_server(create_app(settings))
        try:
            yield CanvasGateway(running, data_dir)
        finally:
            stop_server(running, thread)


def open_canvas(
    browser: Browser, gateway: CanvasGateway, doc: str | None = None, query: str = ""
) -> tuple[Page, PageErrors]:
    """A fresh browser context on the canvas with the tiny model as the local model and its own document."""
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    errors = PageErrors(page)
    page.goto(f"{gateway.url}/?model={TINY}&doc={doc or uuid.uuid4().hex[:12]}{query}")
    page.wait_for_function("() => window.turbodraft?.canvas?.editor() !== null", timeout=60_000)
    return page, errors


def collapse_side_panel(page: Page) -> None:
    button = page.get_by_role("button", name="This browser & models")
    if button.get_attribute("aria-expanded") == "true":
        button.click()


def create_shape_with_tool(page: Page, x: int = 640, y: int = 330) -> Locator:
    """Picks the Image generator tool from the toolbar and clicks on the canvas, as a user would."""
    before = page.locator('[data-testid="image-gen"]').count()
    page.get_by_test_id("tools.ImageGen").click()
    page.mouse.click(x, y)
    page.wait_for_function(
        f"() => document.querySelectorAll('[data-testid=\"image-gen\"]').length > {before}", timeout=10_000
    )
    return page.locator('[data-testid="image-gen"]').nth(before)


def shape_id(shape: Locator) -> str:
    value = shape.get_attribute("data-image-gen-id")
    assert value is not None
    return value


def shape_props(page: Page, shape: Locator) -> dict[str, Any]:
    props: dict[str, Any] = page.evaluate(
        "(id) => window.turbodraft.canvas.editor().getShape(id).props", shape_id(shape)
    )
    return props


def type_prompt(shape: Locator, text: str) -> None:
    field = shape.get_by_label("Prompt")
    field.click()
    field.fill(text)


def download_local_model(page: Page, shape: Locator) -> None:
    """Downloads the tiny model from the shape's own offer (below the consent threshold: no dialog)."""
    shape.get_by_role("button", name="Download").click()
    page.wait_for_function(
        "(id) => window.turbodraft.canvas.editor().getShape(id).props.localModelStatus === 'ready'",
        arg=shape_id(shape),
        timeout=60_000,
    )


def generate(page: Page, shape: Locator, button: str, timeout: int = GENERATION_MS) -> dict[str, Any]:
    """Clicks a generation button and waits until the shape shows a new image or an error."""
    before = shape_props(page, shape)
    shape.get_by_role("button", name=button).click()
    page.wait_for_function(
        """([id, asset]) => {
            const p = window.turbodraft.canvas.editor().getShape(id).props;
            return p.error !== null || (p.assetId !== null && p.assetId !== asset);
        }""",
        arg=[shape_id(shape), before["assetId"]],
        timeout=timeout,
    )
    return shape_props(page, shape)


def image_loaded(shape: Locator, timeout_ms: int = 15_000) -> bool:
    """The shape shows a decoded image, waiting for it: tldraw resolves the asset and the <img> decodes it after
    the generation itself has finished."""
    image = shape.get_by_test_id("image")
    image.wait_for(state="attached", timeout=timeout_ms)
    loaded: bool = image.evaluate(
        """(img, timeoutMs) => new Promise((resolve) => {
            const done = () => img.complete && img.naturalWidth > 0;
            if (done()) return resolve(true);
            const started = performance.now();
            const poll = () => (done() ? resolve(true)
                : performance.now() - started > timeoutMs ? resolve(false) : setTimeout(poll, 50));
            poll();
        })""",
        timeout_ms,
    )
    return loaded
