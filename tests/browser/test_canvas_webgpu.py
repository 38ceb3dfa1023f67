"""The canvas in Chromium with WebGPU (SwiftShader here): the ImageGen shape drafts in the browser, renders
finals on the (local, billed-as-RunPod) RunPod-compatible server, refines a draft by img2img, falls back
when the local engine fails, and keeps live drafts to at most two generations for a burst of typing."""

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
    shape_id,
    shape_props,
    type_prompt,
)
from tests.browser.conftest import PageErrors, screenshot


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CanvasGateway]:
    with canvas_gateway(tmp_path_factory.mktemp("canvas-data")) as running:
        yield running


@pytest.fixture
def canvas(webgpu_browser: Browser, gateway: CanvasGateway) -> Iterator[tuple[Page, PageErrors]]:
    page, errors = open_canvas(webgpu_browser, gateway)
    yield page, errors
    assert errors.errors == [], errors.errors
    page.context.close()


def test_draft_in_the_browser_then_refine_and_render_on_runpod(
    canvas: tuple[Page, PageErrors], gateway: CanvasGateway
) -> None:
    page, _ = canvas
    screenshot(page, "canvas-empty")
    shape = create_shape_with_tool(page)
    type_prompt(shape, "a lighthouse on a cliff at dusk")
    screenshot(page, "canvas-new-shape-model-offer")
    download_local_model(page, shape)
    rows_before = len(gateway.ledger_rows())

    draft = generate(page, shape, "Quick Preview")
    assert draft["error"] is None, draft
    assert (draft["source"], draft["kind"], draft["cost"]) == ("browser", "draft", 0)
    assert image_loaded(shape)
    status = shape.get_by_test_id("status").inner_text()
    assert "Made in this browser" in status and "free" in status, status
    page.evaluate("() => window.turbodraft.canvas.flushUsage()")
    local = gateway.ledger_rows()[rows_before:]
    assert [(r["target"], r["cost_usd"], r["billed"]) for r in local] == [("browser", 0.0, 0)]
    screenshot(page, "canvas-browser-draft")

    refined = generate(page, shape, "Refine to final")
    assert refined["error"] is None, refined
    assert (refined["source"], refined["kind"], refined["seed"]) == ("runpod", "final", draft["seed"])
    assert refined["cost"] > 0
    img2img = gateway.ledger_rows()[-1]
    assert (img2img["target"], img2img["img2img"], img2img["priority"]) == ("runpod", 1, "final")
    assert img2img["cost_usd"] > 0
    screenshot(page, "canvas-refined-final")

    final = generate(page, shape, "High Quality")
    assert final["error"] is None, final
    assert (final["source"], final["kind"]) == ("runpod", "final") and final["cost"] > 0
    assert "Made on RunPod" in shape.get_by_test_id("status").inner_text()
    costs = gateway.costs()
    assert costs["today"]["cloud_count"] >= 2 and costs["today"]["cloud_cost_usd"] > 0
    # The cost panel refreshes after each generation.
    page.wait_for_function("() => Number(document.querySelector('[data-testid=cost-today-cloud]')?.textContent) >= 2")
    assert page.get_by_test_id("cost-today-cost").inner_text() != "$0"
    screenshot(page, "canvas-final-and-costs")


def test_a_forced_device_loss_falls_back_to_the_next_target_and_says_so(
    canvas: tuple[Page, PageErrors],
) -> None:
    page, _ = canvas
    collapse_side_panel(page)
    shape = create_shape_with_tool(page)
    type_prompt(shape, "a paper boat")
    download_local_model(page, shape)
    page.evaluate("() => { window.turbodraft.testHooks.failNextLocal = 'device-lost'; }")
    props = generate(page, shape, "Quick Preview")
    assert props["error"] is None, props
    assert props["source"] in ("server", "runpod")
    assert props["fallback"].startswith("device lost: ")
    shown = shape.get_by_test_id("fallback").inner_text()
    assert shown == props["fallback"]
    screenshot(page, "canvas-device-lost-fallback")
    # The next draft is local again: a new worker (and device) replaced the lost one.
    again = generate(page, shape, "Quick Preview")
    assert (again["source"], again["fallback"]) == ("browser", None)


def test_live_drafts_start_at_most_two_generations_for_five_quick_changes(
    canvas: tuple[Page, PageErrors],
) -> None:
    page, _ = canvas
    collapse_side_panel(page)
    shape = create_shape_with_tool(page)
    download_local_model(page, shape)
    shape.get_by_role("checkbox", name="Live").check()
    field = shape.get_by_label("Prompt")
    field.click()
    for word in ["a", " red", " fox", " in", " snow"]:
        field.press_sequentially(word, delay=10)
        page.wait_for_timeout(60)  # quicker than the 250 ms debounce
    last = "a red fox in snow"
    page.wait_for_function(
        """([id, prompt]) => {
            const editor = window.turbodraft.canvas.editor();
            const p = editor.getShape(id).props;
            const idle = document.querySelector(`[data-image-gen-id="${id}"]`).dataset.busy === 'false';
            return idle && (p.error !== null || (p.assetId !== null && p.prompt === prompt));
        }""",
        arg=[shape_id(shape), last],
        timeout=120_000,
    )
    page.wait_for_timeout(600)  # nothing else may start after the burst
    started = page.evaluate("(id) => window.turbodraft.canvas.generationsStarted(id)", shape_id(shape))
    assert 1 <= started <= 2
    props = shape_props(page, shape)
    assert props["error"] is None, props
    assert props["prompt"] == last and props["source"] == "browser"
    screenshot(page, "canvas-live-draft")


def test_the_cost_panel_shows_today_and_this_month(canvas: tuple[Page, PageErrors]) -> None:
    page, _ = canvas
    panel = page.get_by_test_id("cost-panel")
    panel.wait_for()
    page.wait_for_selector('[data-testid="cost-panel"][data-state="ready"]')
    for row in ("cost-today", "cost-month"):
        assert page.get_by_test_id(f"{row}-local").inner_text().isdigit()
    assert "saved" in page.get_by_test_id("cost-saving").inner_text()
