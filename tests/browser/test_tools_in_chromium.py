"""The canvas tools' browser engine (web/src/engine/tools) in real headless Chromium: the engine's worker,
onnxruntime-web on wasm (no-WebGPU profile) and on WebGPU (SwiftShader), against the PyTorch references of
the tiny fixtures (fixtures/tools); a device lost mid-run; offline from the browser's model store.

SwiftShader is slow: the WebGPU profile runs one small case per tool.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from playwright.sync_api import Browser, Page
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from tests.browser.conftest import PageErrors, open_page, screenshot
from tests.conftest import FIXTURES, WEB_DIST, RunningServer, start_server, stop_server
from tests.tools_support import CASES, input_pixels, reference
from turbodraft.config import Settings
from turbodraft.gateway import create_app
from turbodraft.pipeline.compare import psnr

THRESHOLD_DB = 40.0
RUN = """async (request) => {
  try {
    return { ok: true, result: await window.turbodraft.tools.run(request) };
  } catch (e) {
    return { ok: false, name: e.name, code: e.code ?? null, message: e.message };
  }
}"""
WEBGPU_CASES = [
    c
    for c in CASES
    if c["id"]
    in {
        "upscale-tiny-realesr-general-x4v3-rgba",
        "matte-tiny-u2netp-subject",
        "style-tiny-fast-neural-style-photo-s50",
    }
]


@pytest.fixture(scope="module")
def fixtures_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    app = create_app(Settings(data_dir=tmp_path_factory.mktemp("data"), web_dir=WEB_DIST))
    app.router.routes.insert(0, Mount("/fixtures", app=StaticFiles(directory=FIXTURES)))
    running, thread = start_server(app)
    try:
        yield running
    finally:
        stop_server(running, thread)


def _tools_page(browser: Browser, gateway: RunningServer) -> tuple[Page, PageErrors]:
    page, errors = open_page(browser, gateway)
    page.wait_for_function("() => window.turbodraft && window.turbodraft.tools")
    page.evaluate("() => window.turbodraft.engine.configure({ modelBaseUrl: '/fixtures' })")
    return page, errors


@pytest.fixture(scope="module")
def wasm_page(no_webgpu_browser: Browser, fixtures_gateway: RunningServer) -> Iterator[tuple[Page, PageErrors]]:
    page, errors = _tools_page(no_webgpu_browser, fixtures_gateway)
    yield page, errors
    page.context.close()


@pytest.fixture(scope="module")
def webgpu_page(webgpu_browser: Browser, fixtures_gateway: RunningServer) -> Iterator[tuple[Page, PageErrors]]:
    page, errors = _tools_page(webgpu_browser, fixtures_gateway)
    yield page, errors
    page.context.close()


def raw(pixels: npt.NDArray[np.uint8]) -> dict[str, Any]:
    """8-bit pixels as the canvas hands them: RGBA (gray as equal channels, opaque where there is no alpha)."""
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[:, :, None], 3, axis=2)
    if pixels.shape[2] == 3:
        pixels = np.concatenate([pixels, np.full((*pixels.shape[:2], 1), 255, np.uint8)], axis=2)
    h, w = pixels.shape[:2]
    return {"width": w, "height": h, "rgba": base64.b64encode(np.ascontiguousarray(pixels).tobytes()).decode()}


def request_for(case: dict[str, Any], **extra: Any) -> dict[str, Any]:
    request = {
        "tool": case["tool"],
        "model": case["model"],
        "image": raw(input_pixels(case["input"])),
        "returnPixels": True,
        **extra,
    }
    if "strength" in case["options"]:
        request["strength"] = case["options"]["strength"]
    return request


def run(page: Page, request: dict[str, Any]) -> dict[str, Any]:
    outcome: dict[str, Any] = page.evaluate(RUN, request)
    return outcome


def ran(page: Page, request: dict[str, Any]) -> dict[str, Any]:
    outcome = run(page, request)
    assert outcome["ok"], f"tool run failed: {outcome}"
    result: dict[str, Any] = outcome["result"]
    return result


def pixels_of(result: dict[str, Any]) -> npt.NDArray[np.float32]:
    return np.frombuffer(base64.b64decode(result["pixels"]), "<f4").reshape(result["height"], result["width"], 4)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_wasm_profile_matches_pytorch(wasm_page: tuple[Page, PageErrors], case: dict[str, Any]) -> None:
    page, errors = wasm_page
    result = ran(page, request_for(case))
    db = psnr(pixels_of(result), reference(case))
    print(f"wasm {case['id']}: {db:.1f} dB, {result['timings']}")
    assert result["backend"] == "wasm"
    assert result["png"].startswith("data:image/png;base64,")
    assert db >= THRESHOLD_DB
    assert errors.errors == []


@pytest.mark.parametrize("case", WEBGPU_CASES, ids=[c["id"] for c in WEBGPU_CASES])
def test_webgpu_profile_matches_pytorch(webgpu_page: tuple[Page, PageErrors], case: dict[str, Any]) -> None:
    page, errors = webgpu_page
    result = ran(page, request_for(case, backend="webgpu"))
    db = psnr(pixels_of(result), reference(case))
    print(f"webgpu {case['id']}: {db:.1f} dB, {result['timings']}")
    assert result["backend"] == "webgpu"
    assert db >= THRESHOLD_DB
    assert errors.errors == []


def test_on_swiftshader_the_tools_pick_wasm_and_say_why(webgpu_page: tuple[Page, PageErrors]) -> None:
    page, _ = webgpu_page
    case = next(c for c in CASES if c["id"] == "style-tiny-fast-neural-style-photo-s100")
    result = ran(page, request_for(case))
    assert result["backend"] == "wasm"
    assert "software rasteriser" in result["reason"]


def test_a_device_lost_mid_run_reruns_on_wasm_and_returns_the_whole_image(
    webgpu_page: tuple[Page, PageErrors],
) -> None:
    page, _ = webgpu_page
    case = next(c for c in CASES if c["id"] == "upscale-tiny-realesr-general-x4v3-rgba")
    ran(page, request_for(case, backend="webgpu"))  # a WebGPU session exists and is warm
    workers = page.evaluate("() => window.turbodraft.engine.workersStarted")
    # The device is destroyed from the page as the second of six tiles starts, as a driver reset would.
    outcome = page.evaluate(
        """async (request) => {
          const tools = window.turbodraft.tools;
          let pulled = false;
          const image = { width: request.image.width, height: request.image.height,
                          data: Uint8Array.from(atob(request.image.rgba), (c) => c.charCodeAt(0)) };
          const result = await window.turbodraft.engine.runTool({ ...request, image }, { onProgress: (p) => {
            if (p.stage === 'tile' && p.tile === 2 && !pulled) { pulled = true; void tools.simulateDeviceLoss(); }
          } });
          return { backend: result.backend, reason: result.reason, width: result.width, height: result.height,
                   pixels: Array.from(result.pixels), stats: await tools.stats(),
                   workers: window.turbodraft.engine.workersStarted };
        }""",
        request_for(case, backend="webgpu"),
    )
    assert outcome["backend"] == "wasm"
    assert "lost" in outcome["reason"] and "ran again on wasm" in outcome["reason"]
    assert outcome["workers"] == workers + 1
    got = np.asarray(outcome["pixels"], np.float32).reshape(outcome["height"], outcome["width"], 4)
    assert psnr(got, reference(case)) >= THRESHOLD_DB
    assert outcome["stats"]["sessions"] == ["tiny-realesr-general-x4v3/wasm"]


def test_after_the_loss_the_new_worker_has_webgpu_again(webgpu_page: tuple[Page, PageErrors]) -> None:
    page, _ = webgpu_page
    case = next(c for c in CASES if c["id"] == "upscale-tiny-realesr-general-x4v3-gray")
    result = ran(page, request_for(case, backend="webgpu"))
    assert result["backend"] == "webgpu"
    assert psnr(pixels_of(result), reference(case)) >= THRESHOLD_DB


def test_bad_input_is_refused_with_a_clear_message(wasm_page: tuple[Page, PageErrors]) -> None:
    page, _ = wasm_page
    big = raw(np.zeros((10, 600, 3), np.uint8))
    outcome = run(page, {"tool": "matte", "model": "tiny-u2netp", "image": big})
    assert (outcome["ok"], outcome["code"], outcome["name"]) == (False, "image-too-large", "EngineError")
    assert "600x10 image is over tiny-u2netp's limit of 512 px" in outcome["message"]
    outcome = run(
        page,
        {"tool": "style", "model": "tiny-fast-neural-style", "image": raw(input_pixels("photo.png")), "strength": 3},
    )
    assert (outcome["ok"], outcome["code"]) == (False, "invalid-option")


def test_after_download_a_tool_runs_offline_from_the_store(no_webgpu_browser: Browser, tmp_path: Path) -> None:
    running, thread = start_server(create_app(Settings(data_dir=tmp_path / "data", web_dir=WEB_DIST)))
    context = no_webgpu_browser.new_context()
    try:
        page = context.new_page()
        errors = PageErrors(page)
        page.goto(running.url + "/")
        page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=60_000)
        case = next(c for c in CASES if c["id"] == "matte-tiny-isnet-general-use-subject")
        missing = run(page, {"tool": "matte", "model": "isnet-general-use", "image": raw(input_pixels("subject.png"))})
        assert (missing["ok"], missing["code"]) == (False, "model-not-downloaded")
        assert "turbodraft models pull isnet-general-use" in missing["message"]
        state = page.evaluate("(id) => window.turbodraft.models.download(id)", case["model"])
        assert state["status"] == "ready", state
        page.evaluate("() => window.turbodraft.engine.dispose()")  # the next run starts a fresh worker

        context.set_offline(True)
        stop_server(running, thread)
        result = ran(page, request_for(case))
        assert psnr(pixels_of(result), reference(case)) >= THRESHOLD_DB
        assert result["license"] == "MIT"
        screenshot(page, "tools-offline")
        assert errors.errors == []
    finally:
        context.close()
        stop_server(running, thread)


def test_sketch_to_image_at_low_strength_matches_diffusers_in_chromium(wasm_page: tuple[Page, PageErrors]) -> None:
    """The engine side of sketch-to-image: img2img from a sketch's init image (turbodraft.tools.sketch, the
    twin of engine/tools/sketch.ts), one UNet step at t=249, as diffusers computes it."""
    from tests.test_tools_sketch import CASES as SKETCHES
    from tests.test_tools_sketch import SKETCH, sketch_pixels
    from turbodraft.tools.sketch import sketch_init_image

    page, _ = wasm_page
    case = SKETCHES[0]
    init = sketch_init_image(sketch_pixels(case), case["width"], case["height"])
    result = page.evaluate(
        "(r) => window.turbodraft.generate(r)",
        {
            "prompt": case["prompt"],
            "seed": case["seed"],
            "steps": case["steps"],
            "width": case["width"],
            "height": case["height"],
            "model": case["model"],
            "initImage": init.reshape(-1).tolist(),
            "strength": case["strength"],
            "returnPixels": True,
        },
    )
    assert result["timesteps"] == [int(t) for t in case["unet_timesteps"]]
    got = np.frombuffer(base64.b64decode(result["pixels"]), "<f4").reshape(case["height"], case["width"], 3)
    assert psnr(got, np.load(SKETCH / case["image"])) >= THRESHOLD_DB
