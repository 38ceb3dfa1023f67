"""The canvas in Chromium without WebGPU: Quick Preview goes where the policy says (the server while the
local model is missing, wasm in the browser once it is there), and the shape says which and why."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from tests.browser.canvas_support import (
    CanvasGateway,
    canvas_gateway,
    collapse_side_panel,
    create_shape_with_tool,
    download_local_model,
    generate,
    image_loaded,
    open_canvas,
    type_prompt,
)
from tests.browser.conftest import PageErrors, screenshot


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CanvasGateway]:
    with canvas_gateway(tmp_path_factory.mktemp("canvas-data")) as running:
        yield running


@pytest.fixture
def canvas(no_webgpu_browser: Browser, gateway: CanvasGateway) -> Iterator[tuple[Page, PageErrors]]:
    page, errors = open_canvas(no_webgpu_browser, gateway)
    collapse_side_panel(page)
    yield page, errors
    assert errors.errors == [], errors.errors
    page.context.close()


def test_without_the_local_model_quick_preview_drafts_on_the_server_and_says_why(
    canvas: tuple[Page, PageErrors],
) -> None:
    page, _ = canvas
    shape = create_shape_with_tool(page)
    type_prompt(shape, "a tram in the rain")
    quick = shape.get_by_role("button", name="Quick Preview")
    page.wait_for_function("(el) => !el.title.startsWith('Checking')", arg=quick.element_handle(), timeout=30_000)
    assert "server" in (quick.get_attribute("title") or "")
    props = generate(page, shape, "Quick Preview")
    assert props["error"] is None, props
    assert props["source"] == "server"
    assert props["fallback"] == "local model not downloaded: drafted on the server"
    assert shape.get_by_test_id("fallback").inner_text() == props["fallback"]
    assert "Made on the server" in shape.get_by_test_id("status").inner_text()
    assert image_loaded(shape)
    screenshot(page, "canvas-no-webgpu-server-draft")


def test_with_the_local_model_quick_preview_runs_on_wasm_and_says_so(canvas: tuple[Page, PageErrors]) -> None:
    page, _ = canvas
    shape = create_shape_with_tool(page)
    type_prompt(shape, "a tram in the rain")
    download_local_model(page, shape)
    props = generate(page, shape, "Quick Preview")
    assert props["error"] is None, props
    assert (props["source"], props["backend"]) == ("browser", "wasm")
    assert props["fallback"] == "no WebGPU: drafted in this browser on wasm"
    assert "Made in this browser (wasm)" in shape.get_by_test_id("status").inner_text()
    screenshot(page, "canvas-no-webgpu-wasm-draft")
