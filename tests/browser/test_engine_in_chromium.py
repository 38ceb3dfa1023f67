"""The browser engine (web/src/engine) in real headless Chromium: its Web Worker, onnxruntime-web on WebGPU
(SwiftShader here) and on wasm, against diffusers' images for the tiny fixtures (fixtures/oracle).

One page per profile for the whole module: the engine keeps its sessions warm, and SwiftShader compiles
shaders only on the first run. Model files come straight from fixtures/, mounted on the test gateway.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from playwright.sync_api import Browser, Page
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from tests.browser.conftest import PageErrors, open_page
from tests.conftest import FIXTURES, WEB_DIST, RunningServer, start_server, stop_server
from turbodraft.config import Settings
from turbodraft.gateway import create_app
from turbodraft.pipeline.compare import psnr
from turbodraft.pipeline.images import load_init_image

ORACLE = FIXTURES / "oracle"
CASES: list[dict[str, Any]] = json.loads((ORACLE / "cases.json").read_text())["cases"]
THRESHOLD_DB = 40.0

# Resolves to {ok, result} or {ok: false, name, code, message, stage}: what crossed the worker boundary.
GENERATE = """async (request) => {
  try {
    return { ok: true, result: await window.turbodraft.generate(request) };
  } catch (e) {
    return { ok: false, name: e.name, code: e.code ?? null, message: e.message, stage: e.stage ?? null };
  }
}"""


@pytest.fixture(scope="module")
def fixtures_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    app = create_app(Settings(data_dir=tmp_path_factory.mktemp("data"), web_dir=WEB_DIST))
    # Before the `/` catch-all that serves web/dist.
    app.router.routes.insert(0, Mount("/fixtures", app=StaticFiles(directory=FIXTURES)))
    running, thread = start_server(app)
    try:
        yield running
    finally:
        stop_server(running, thread)


def _engine_page(browser: Browser, gateway: RunningServer) -> tuple[Page, PageErrors]:
    page, errors = open_page(browser, gateway)
    page.wait_for_function("() => window.turbodraft && window.turbodraft.generate")
    page.evaluate("() => window.turbodraft.engine.configure({ modelBaseUrl: '/fixtures' })")
    return page, errors


@pytest.fixture(scope="module")
def webgpu_engine(webgpu_browser: Browser, fixtures_gateway: RunningServer) -> Iterator[tuple[Page, PageErrors]]:
    page, errors = _engine_page(webgpu_browser, fixtures_gateway)
    yield page, errors
    page.context.close()


@pytest.fixture(scope="module")
def wasm_engine(no_webgpu_browser: Browser, fixtures_gateway: RunningServer) -> Iterator[tuple[Page, PageErrors]]:
    page, errors = _engine_page(no_webgpu_browser, fixtures_gateway)
    yield page, errors
    page.context.close()


def generate(page: Page, **request: Any) -> dict[str, Any]:
    outcome: dict[str, Any] = page.evaluate(GENERATE, request)
    return outcome


def generated(page: Page, **request: Any) -> dict[str, Any]:
    outcome = generate(page, **request)
    assert outcome["ok"], f"generation failed: {outcome}"
    result: dict[str, Any] = outcome["result"]
    return result


def pixels_of(result: dict[str, Any]) -> npt.NDArray[np.float32]:
    raw = np.frombuffer(base64.b64decode(result["pixels"]), dtype="<f4")
    return raw.reshape(result["height"], result["width"], 3)


def oracle_request(case: dict[str, Any]) -> dict[str, Any]:
    """Seed only: the engine's PRNG must give the oracle's latents."""
    request: dict[str, Any] = {
        "prompt": case["prompt"],
        "seed": case["seed"],
        "steps": case["steps"],
        "width": case["width"],
        "height": case["height"],
        "model": "tiny-sd-turbo",
        "returnPixels": True,
    }
    if case["mode"] == "img2img":
        pixels = load_init_image(ORACLE / case["init_image"], case["width"], case["height"])
        request["initImage"] = pixels.reshape(-1).tolist()
        request["strength"] = case["strength"]
    return request


def oracle_image(case: dict[str, Any]) -> npt.NDArray[np.float32]:
    image: npt.NDArray[np.float32] = np.load(ORACLE / case["image"]).astype(np.float32)
    return image.reshape(case["height"], case["width"], 3)


CASE_IDS = [str(c["id"]) for c in CASES]


def _one_per_kind(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """SwiftShader runs a tiny UNet step in about 1.5 s: one case per (mode, steps) covers every code path."""
    seen: dict[tuple[str, int], dict[str, Any]] = {}
    for case in cases:
        seen.setdefault((case["mode"], case["steps"]), case)
    return list(seen.values())


WEBGPU_CASES = _one_per_kind(CASES)


# --- correctness against the oracle -------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_wasm_profile_matches_the_oracle(wasm_engine: tuple[Page, PageErrors], case: dict[str, Any]) -> None:
    page, errors = wasm_engine
    result = generated(page, **oracle_request(case))
    db = psnr(pixels_of(result), oracle_image(case))
    print(f"wasm {case['id']}: PSNR {db:.1f} dB, timings {result['timings']}")
    assert result["backend"] == "wasm"
    assert db >= THRESHOLD_DB
    assert errors.errors == []


@pytest.mark.parametrize("case", WEBGPU_CASES, ids=[str(c["id"]) for c in WEBGPU_CASES])
def test_webgpu_profile_matches_the_oracle(webgpu_engine: tuple[Page, PageErrors], case: dict[str, Any]) -> None:
    page, errors = webgpu_engine
    result = generated(page, **oracle_request(case), backend="webgpu")
    db = psnr(pixels_of(result), oracle_image(case))
    print(f"webgpu {case['id']}: PSNR {db:.1f} dB, timings {result['timings']}")
    assert result["backend"] == "webgpu"
    assert db >= THRESHOLD_DB
    assert errors.errors == []


TAESD_ORACLE = FIXTURES / "oracle-taesd"
TAESD_CASES: list[dict[str, Any]] = json.loads((TAESD_ORACLE / "cases.json").read_text())["cases"]


@pytest.mark.parametrize("case", TAESD_CASES, ids=[str(c["id"]) for c in TAESD_CASES])
def test_tiny_decoder_model_matches_diffusers_autoencoder_tiny_on_wasm(
    wasm_engine: tuple[Page, PageErrors], case: dict[str, Any]
) -> None:
    page, errors = wasm_engine
    result = generated(page, **{**oracle_request(case), "model": "tiny-sd-turbo-taesd"})
    want = np.load(TAESD_ORACLE / case["image"]).astype(np.float32).reshape(case["height"], case["width"], 3)
    db = psnr(pixels_of(result), want)
    print(f"wasm taesd {case['id']}: PSNR {db:.1f} dB, timings {result['timings']}")
    assert (result["model"], result["backend"], result["mode"]) == ("tiny-sd-turbo-taesd", "wasm", case["mode"])
    assert db >= THRESHOLD_DB
    assert errors.errors == []


TAESD_WEBGPU_CASES = [TAESD_CASES[1], next(c for c in TAESD_CASES if c["mode"] == "img2img")]


@pytest.mark.parametrize("case", TAESD_WEBGPU_CASES, ids=[str(c["id"]) for c in TAESD_WEBGPU_CASES])
def test_tiny_autoencoder_model_matches_diffusers_on_webgpu_drafts_and_refines(
    webgpu_engine: tuple[Page, PageErrors], case: dict[str, Any]
) -> None:
    page, errors = webgpu_engine
    result = generated(page, **{**oracle_request(case), "model": "tiny-sd-turbo-taesd"}, backend="webgpu")
    want = np.load(TAESD_ORACLE / case["image"]).astype(np.float32).reshape(case["height"], case["width"], 3)
    db = psnr(pixels_of(result), want)
    print(f"webgpu taesd {case['id']}: PSNR {db:.1f} dB, timings {result['timings']}")
    assert result["backend"] == "webgpu"
    assert db >= THRESHOLD_DB
    assert errors.errors == []


# --- backend choice -----------------------------------------------------------------------------------------


def test_fp16_model_on_swiftshader_runs_the_fp32_fallback_and_says_why(
    webgpu_engine: tuple[Page, PageErrors],
) -> None:
    page, _ = webgpu_engine
    result = generated(page, prompt="a fox", seed=1, model="tiny-sd-turbo-fp16")
    assert result["model"] == "tiny-sd-turbo"
    assert result["backend"] in ("webgpu", "wasm")
    assert "shader-f16" in result["reason"]
    assert "tiny-sd-turbo-fp16 refused" in result["reason"]


def test_forcing_fp16_on_webgpu_without_shader_f16_is_a_typed_error(
    webgpu_engine: tuple[Page, PageErrors],
) -> None:
    page, _ = webgpu_engine
    outcome = generate(page, prompt="a fox", seed=1, model="tiny-sd-turbo-fp16", backend="webgpu-f16")
    assert outcome["ok"] is False
    assert (outcome["name"], outcome["code"]) == ("EngineError", "backend-unavailable")
    assert "shader-f16" in outcome["message"]


def test_webgpu_device_gets_the_adapters_real_limits(webgpu_engine: tuple[Page, PageErrors]) -> None:
    page, _ = webgpu_engine
    generated(page, prompt="limits", seed=1, model="tiny-sd-turbo", backend="webgpu")
    stats = page.evaluate("() => window.turbodraft.engine.stats()")
    limits = stats["limits"]
    assert limits["maxStorageBufferBindingSize"]["device"] == limits["maxStorageBufferBindingSize"]["adapter"]
    assert limits["maxBufferSize"]["device"] == limits["maxBufferSize"]["adapter"] > 256 * 2**20


# --- warm sessions, results, progress -----------------------------------------------------------------------


def test_a_second_generation_creates_no_sessions(wasm_engine: tuple[Page, PageErrors]) -> None:
    page, _ = wasm_engine
    first = generated(page, prompt="warm", seed=10, model="tiny-sd-turbo")
    second = generated(page, prompt="warm again", seed=11, model="tiny-sd-turbo")
    assert second["sessionsCreated"] == first["sessionsCreated"] > 0
    assert "load" not in second["timings"]


def test_result_carries_a_png_of_the_asked_size_and_timings_per_stage(
    wasm_engine: tuple[Page, PageErrors],
) -> None:
    page, _ = wasm_engine
    result = generated(page, prompt="a png", seed=3, width=128, height=64, model="tiny-sd-turbo")
    prefix = "data:image/png;base64,"
    assert result["png"].startswith(prefix)
    png = base64.b64decode(result["png"][len(prefix) :])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert (int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")) == (128, 64)
    assert {"tokenize", "text_encoder", "unet", "vae_decoder", "png", "total"} <= set(result["timings"])
    assert [p["stage"] for p in result["progress"]] == [
        "load",
        "tokenize",
        "text_encoder",
        "unet",
        "vae_decoder",
        "png",
    ]


# --- bad input: typed errors through the worker -------------------------------------------------------------


def test_empty_prompt_is_allowed(wasm_engine: tuple[Page, PageErrors]) -> None:
    page, _ = wasm_engine
    result = generated(page, prompt="", seed=5, model="tiny-sd-turbo")
    assert result["promptTokens"] == 0


def test_very_long_prompt_is_truncated_and_says_so(wasm_engine: tuple[Page, PageErrors]) -> None:
    page, _ = wasm_engine
    result = generated(page, prompt="a very long prompt " * 40, seed=5, model="tiny-sd-turbo")
    assert result["truncated"] is True
    assert result["promptTokens"] > 75


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"width": 60}, "invalid-size"),
        ({"height": 1024}, "invalid-size"),
        ({"steps": 0}, "invalid-steps"),
        ({"steps": 5}, "invalid-steps"),
        ({"seed": 1.5}, "invalid-seed"),
        ({"seed": -1}, "invalid-seed"),
        ({"strength": 0.5}, "invalid-strength"),
        ({"model": "no-such-model"}, "unknown-model"),
    ],
    ids=[
        "width-60",
        "height-1024",
        "steps-0",
        "steps-5",
        "seed-1.5",
        "seed-negative",
        "strength-no-image",
        "unknown-model",
    ],
)
def test_bad_input_is_a_typed_error_through_the_worker(
    wasm_engine: tuple[Page, PageErrors], change: dict[str, Any], code: str
) -> None:
    page, errors = wasm_engine
    request = {"prompt": "bad", "seed": 1, "model": "tiny-sd-turbo", **change}
    outcome = generate(page, **request)
    assert outcome["ok"] is False
    assert (outcome["name"], outcome["code"]) == ("EngineError", code)
    assert outcome["message"]
    assert errors.errors == []


def test_strength_outside_the_unit_interval_is_a_typed_error(wasm_engine: tuple[Page, PageErrors]) -> None:
    page, _ = wasm_engine
    image = [0.5] * (64 * 64 * 3)  # the model's default size
    for strength in (0, 1.5):
        outcome = generate(page, prompt="x", seed=1, model="tiny-sd-turbo", initImage=image, strength=strength)
        assert (outcome["ok"], outcome["code"]) == (False, "invalid-strength"), outcome


# --- cancel, supersede, dispose -----------------------------------------------------------------------------


def test_a_newer_request_supersedes_the_in_flight_one(wasm_engine: tuple[Page, PageErrors]) -> None:
    page, _ = wasm_engine
    outcomes = page.evaluate(
        """async () => {
          const settle = (p) =>
            p.then((r) => ({ ok: true, seed: r.seed }), (e) => ({ ok: false, code: e.code }));
          const model = 'tiny-sd-turbo';
          const first = window.turbodraft.generate({ prompt: 'first', seed: 1, model, steps: 4 });
          const second = window.turbodraft.generate({ prompt: 'second', seed: 2, model });
          return Promise.all([settle(first), settle(second)]);
        }"""
    )
    assert outcomes == [{"ok": False, "code": "superseded"}, {"ok": True, "seed": 2}]


def test_cancel_stops_the_in_flight_generation(wasm_engine: tuple[Page, PageErrors]) -> None:
    page, _ = wasm_engine
    outcome = page.evaluate(
        """async () => {
          const request = { prompt: 'cancel me', seed: 1, model: 'tiny-sd-turbo', steps: 4 };
          const run = window.turbodraft.generate(request);
          await window.turbodraft.engine.cancel();
          return run.then(() => ({ ok: true }), (e) => ({ ok: false, name: e.name, code: e.code }));
        }"""
    )
    assert outcome == {"ok": False, "name": "EngineError", "code": "cancelled"}


def test_device_loss_is_an_error_with_a_reason_and_a_new_worker_recovers(
    webgpu_engine: tuple[Page, PageErrors],
) -> None:
    page, _ = webgpu_engine
    generated(page, prompt="before", seed=1, model="tiny-sd-turbo", backend="webgpu")
    assert page.evaluate("() => window.turbodraft.engine.simulateDeviceLoss()") is True
    lost = generate(page, prompt="after", seed=1, model="tiny-sd-turbo", backend="webgpu")
    assert (lost["ok"], lost["code"]) == (False, "device-lost")
    assert "device was lost" in lost["message"]
    workers = page.evaluate("() => window.turbodraft.engine.workersStarted")
    recovered = generated(page, prompt="after", seed=1, model="tiny-sd-turbo", backend="wasm")
    assert recovered["backend"] == "wasm"
    assert page.evaluate("() => window.turbodraft.engine.workersStarted") == workers + 1


def test_dispose_frees_the_sessions_and_the_next_request_loads_again(
    wasm_engine: tuple[Page, PageErrors],
) -> None:
    page, _ = wasm_engine
    generated(page, prompt="x", seed=1, model="tiny-sd-turbo")
    page.evaluate("() => window.turbodraft.engine.dispose()")
    result = generated(page, prompt="x", seed=1, model="tiny-sd-turbo")
    assert "load" in result["timings"]
    assert result["sessionsCreated"] == 3
