"""Drafts in Firefox and WebKit, neither of which has WebGPU here: the engine's wasm fallback matches diffusers'
image for the tiny model, and the canvas's Quick Preview drafts where it should and says why."""

from __future__ import annotations

from typing import Any

from tests.browser.test_engine_in_chromium import CASES, THRESHOLD_DB, oracle_image, oracle_request, pixels_of
from tests.crossbrowser.canvas import canvas_ready, create_shape, download_local_model, generate, image_shown, text
from tests.crossbrowser.conftest import Engine, StoreGateway, app_ready, app_url, on, screenshot
from turbodraft.pipeline.compare import psnr

#: One txt2img case with a prompt: tokenizer, text encoder, UNet, scheduler and decoder all take part.
CASE = next(c for c in CASES if c["mode"] == "txt2img" and c["prompt"])

GENERATE = """async (request) => {
  try {
    return { ok: true, result: await window.turbodraft.generate(request) };
  } catch (e) {
    return { ok: false, message: `${e.name}: ${e.message}` };
  }
}"""


@on("firefox", "webkit")
def test_the_wasm_fallback_matches_the_oracle(engine: Engine, gateway: StoreGateway) -> None:
    page = engine.open(app_url(gateway))
    app_ready(page)

    outcome: dict[str, Any] = page.evaluate(GENERATE, oracle_request(CASE))

    assert outcome["ok"], outcome
    result = outcome["result"]
    db = psnr(pixels_of(result), oracle_image(CASE))
    print(f"{engine.name} {CASE['id']}: PSNR {db:.1f} dB, timings {result['timings']}")
    assert (result["model"], result["backend"]) == ("tiny-sd-turbo", "wasm")
    assert db >= THRESHOLD_DB
    assert page.errors() == []


@on("firefox")
def test_quick_preview_drafts_in_this_browser_on_wasm_and_says_so(engine: Engine, gateway: StoreGateway) -> None:
    page = engine.open(app_url(gateway))
    canvas_ready(page)
    shape = create_shape(page, "a tram in the rain")
    download_local_model(page, shape)

    props = generate(page, shape, "Quick Preview")

    assert props["error"] is None, props
    assert (props["source"], props["backend"]) == ("browser", "wasm")
    assert props["fallback"] == "no WebGPU: drafted in this browser on wasm"
    assert text(page, shape, "fallback") == props["fallback"]
    assert "Made in this browser (wasm)" in (text(page, shape, "status") or "")
    assert image_shown(page, shape)
    screenshot(page, "canvas-wasm-draft")
    assert page.errors() == []


@on("webkit")
def test_quick_preview_drafts_on_the_server_where_models_cannot_be_stored(
    engine: Engine, gateway: StoreGateway
) -> None:
    page = engine.open(app_url(gateway))
    canvas_ready(page)
    shape = create_shape(page, "a tram in the rain")

    props = generate(page, shape, "Quick Preview")

    assert props["error"] is None, props
    assert props["source"] == "server"
    assert props["fallback"] == "local model not downloaded: drafted on the server"
    assert text(page, shape, "fallback") == props["fallback"]
    assert "Made on the server" in (text(page, shape, "status") or "")
    assert image_shown(page, shape)
    screenshot(page, "canvas-server-draft")
    assert page.errors() == []
