"""The model panel as a new user meets it, in real Chromium, both profiles (WebGPU on SwiftShader, and none):
what it says about a model the gateway does not have, the Download that has the gateway fetch it (progress in
the page) and then stores it in the browser, pause and resume keeping the bytes, Ready and Storage used.

The gateway's pulls go to a local Hugging-Face-compatible server with the tiny stand-ins of the public repos
(tests/test_mirror_derived.py); the real recipe builds the default variant's files from them, and the browser
engine runs them against diffusers' AutoencoderTiny oracle (fixtures/oracle-taesd), txt2img and Refine.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from playwright.sync_api import Browser, Page

from tests.browser.conftest import PageErrors, open_page, screenshot
from tests.browser.model_panel_gateway import PULLED, panel_app
from tests.conftest import FIXTURES, RunningServer, start_server, stop_server
from tests.hub_server import HubServer
from tests.test_mirror_derived import SD_REPO, start_hub
from turbodraft.models.manifest import load_manifest
from turbodraft.pipeline.compare import psnr
from turbodraft.pipeline.images import load_init_image

DEFAULT = "sd-turbo-fp16-taesd"
ORACLE = FIXTURES / "oracle-taesd"
CASES: list[dict[str, Any]] = json.loads((ORACLE / "cases.json").read_text())["cases"]
THRESHOLD_DB = 40.0
PROFILES = ["webgpu", "no-webgpu"]


@pytest.fixture(params=PROFILES)
def browser(request: pytest.FixtureRequest) -> Browser:
    name = "webgpu_browser" if request.param == "webgpu" else "no_webgpu_browser"
    found: Browser = request.getfixturevalue(name)
    return found


@pytest.fixture
def hub() -> Iterator[HubServer]:
    server = start_hub("tiny-sd-turbo")
    yield server
    server.stop()


class Panel:
    def __init__(self, running: RunningServer, thread: Any) -> None:
        self.running = running
        self.thread = thread

    @property
    def url(self) -> str:
        return self.running.url


@pytest.fixture
def start_gateway(tmp_path: Path, hub: HubServer) -> Iterator[Any]:
    started: list[tuple[RunningServer, Any]] = []

    def start(**settings: Any) -> RunningServer:
        running, thread = start_server(panel_app(tmp_path / f"data{len(started)}", hub.url, **settings))
        started.append((running, thread))
        return running

    yield start
    for running, thread in started:
        stop_server(running, thread)


def open_panel(browser: Browser, gateway: RunningServer, query: str = "") -> tuple[Page, PageErrors]:
    page, errors = open_page(browser, gateway, "/" + query)
    page.wait_for_selector("[data-testid=model-downloads][data-state=ready]")
    return page, errors


def row(page: Page, variant: str) -> Any:
    return page.get_by_test_id(f"model-{variant}")


RAW_CODES = ("not-downloaded", "not-mirrored", "unknown-variant", "http-error", "network-error", "model-pulls-disabled")


def assert_no_raw_codes(page: Page) -> None:
    text = page.get_by_test_id("model-downloads").inner_text()
    for code in RAW_CODES:
        assert code not in text, code


# --- what a new user is told --------------------------------------------------------------------------------------


def test_a_new_user_is_told_what_the_default_model_is_and_that_download_fetches_it(
    browser: Browser, start_gateway: Any
) -> None:
    page, errors = open_panel(browser, start_gateway())
    default = row(page, DEFAULT)

    gateway_copy = default.get_by_test_id("gateway-copy")
    assert gateway_copy.get_attribute("data-state") == "absent"
    assert "Not on the gateway yet" in gateway_copy.inner_text()
    size = default.get_by_test_id("size").inner_text()
    assert size.startswith("about 2,") and size.endswith(" MiB"), size  # the manifest's estimate, not "0 B"
    download = default.get_by_role("button", name="Download")
    assert download.is_enabled()
    licenses = default.get_by_test_id("licenses").inner_text()
    assert "Non-Commercial" in licenses and "MIT" in licenses
    assert "Not in this browser" in default.inner_text()
    assert_no_raw_codes(page)
    screenshot(page, f"model-panel-new-user-{browser.browser_type.name}")
    assert errors.errors == []
    page.context.close()


def test_a_gateway_that_may_not_fetch_models_shows_the_exact_command(browser: Browser, start_gateway: Any) -> None:
    page, errors = open_panel(browser, start_gateway(allow_model_pulls=False))
    default = row(page, DEFAULT)

    gateway_copy = default.get_by_test_id("gateway-copy")
    gateway_copy.wait_for()
    assert gateway_copy.get_attribute("data-state") == "admin"
    assert default.get_by_test_id("pull-command").inner_text() == f"turbodraft models pull {DEFAULT}"
    assert "turned model pulls off" in gateway_copy.inner_text()
    assert default.get_by_role("button", name="Download").count() == 0
    assert_no_raw_codes(page)
    assert errors.errors == []
    page.context.close()


# --- Download through the gateway --------------------------------------------------------------------------------


def percent(locator: Any) -> float:
    return float(locator.inner_text().split(" ")[0])


def test_download_has_the_gateway_fetch_the_model_with_progress_then_stores_it_ready(
    browser: Browser, start_gateway: Any, hub: HubServer
) -> None:
    hub.rate_limit(600_000)  # ~6 MB of stand-in inputs: about 10 s through the gateway
    page, errors = open_panel(browser, start_gateway())
    used_before = page.get_by_test_id("storage-used").inner_text()
    default = row(page, DEFAULT)

    default.get_by_role("button", name="Download").click()
    dialog = default.get_by_role("dialog", name="Confirm download")
    assert "Hugging Face" in dialog.inner_text() and "about 2," in dialog.inner_text()
    dialog.get_by_role("button", name="Download about").click()
    page.wait_for_selector(f"[data-testid=model-{DEFAULT}] [data-testid=gateway-copy][data-state=pulling]")
    gateway_percent = default.get_by_test_id("gateway-percent")
    first = percent(gateway_percent)
    page.wait_for_function(
        "([sel, p]) => parseFloat(document.querySelector(sel)?.textContent ?? '0') > p",
        arg=[f"[data-testid=model-{DEFAULT}] [data-testid=gateway-percent]", first + 5],
        timeout=30_000,
    )
    assert "MB/s" in default.get_by_test_id("gateway-rate").inner_text()
    screenshot(page, f"model-panel-gateway-pull-{browser.browser_type.name}")
    hub.rate_limit(None)

    page.wait_for_selector(f"[data-testid=model-{DEFAULT}][data-status=ready]", timeout=60_000)
    assert "Ready" in default.inner_text()
    assert default.get_by_role("button", name="Remove").is_visible()
    page.wait_for_function(
        "(before) => document.querySelector('[data-testid=storage-used]').textContent !== before", arg=used_before
    )
    assert len(hub.gets_of(SD_REPO, "unet/model.onnx")) == 1
    assert_no_raw_codes(page)
    assert errors.errors == []
    page.context.close()


def test_pause_keeps_the_bytes_fetched_and_resume_goes_on_from_there(browser: Browser, start_gateway: Any) -> None:
    gateway = start_gateway()
    page, errors = open_panel(browser, gateway, "?consentAbove=1000000000")
    page.evaluate("() => window.turbodraft.models.configure({ parallelChunks: 1 })")
    gateway.app.state.body_pace = 200_000  # the tiny model's 6 MB: about 30 s
    tiny = row(page, "tiny-sd-turbo")

    tiny.get_by_role("button", name="Download").click()
    page.wait_for_function(
        "() => (window.turbodraft.models.snapshot()['tiny-sd-turbo']?.bytesDone ?? 0) > 1500000", timeout=30_000
    )
    tiny.get_by_role("button", name="Pause").click()
    page.wait_for_selector("[data-testid=model-tiny-sd-turbo][data-status=paused]")
    kept = page.evaluate("() => window.turbodraft.models.snapshot()['tiny-sd-turbo'].bytesDone")
    assert kept > 1_500_000
    assert "fetched so far are kept" in tiny.inner_text()
    gateway.app.state.body_pace = None
    gateway.app.state.model_transfers.reset()

    tiny.get_by_role("button", name="Resume").click()
    page.wait_for_selector("[data-testid=model-tiny-sd-turbo][data-status=ready]", timeout=60_000)
    total = sum(f.size or 0 for f in load_manifest().variant("tiny-sd-turbo").files)
    assert gateway.app.state.model_transfers.total_bytes() == total - kept
    assert "Ready" in tiny.inner_text()
    assert errors.errors == []
    page.context.close()


# --- the default recipe's files in the browser engine ------------------------------------------------------------


def pixels_of(result: dict[str, Any]) -> Any:
    raw = np.frombuffer(base64.b64decode(result["pixels"]), dtype="<f4")
    return raw.reshape(result["height"], result["width"], 3)


def request_for(case: dict[str, Any], backend: str) -> dict[str, Any]:
    request: dict[str, Any] = {
        "prompt": case["prompt"],
        "seed": case["seed"],
        "steps": case["steps"],
        "width": case["width"],
        "height": case["height"],
        "model": PULLED,
        "backend": backend,
        "returnPixels": True,
    }
    if case["mode"] == "img2img":
        init = load_init_image(ORACLE / case["init_image"], case["width"], case["height"])
        request["initImage"] = init.reshape(-1).tolist()
        request["strength"] = case["strength"]
    return request


def test_the_pulled_default_recipe_runs_in_the_browser_and_matches_autoencoder_tiny(
    browser: Browser, start_gateway: Any, request: pytest.FixtureRequest
) -> None:
    assert PULLED not in {v.id for v in load_manifest().variants}  # the web bundle was built without it
    gateway = start_gateway()
    page, errors = open_panel(browser, gateway)
    pulled = page.evaluate(
        """async (id) => {
          await fetch(`/v1/models/${id}/pull`, { method: 'POST' });
          for (;;) {
            const view = await (await fetch(`/v1/models/${id}/pull`)).json();
            if (view.state !== 'running') return view;
            await new Promise((r) => setTimeout(r, 100));
          }
        }""",
        PULLED,
    )
    assert pulled["state"] == "done", pulled
    stored = page.evaluate("(id) => window.turbodraft.models.download(id)", PULLED)
    assert stored["status"] == "ready", stored["error"]

    backend = "webgpu" if request.node.callspec.params["browser"] == "webgpu" else "wasm"
    cases = [next(c for c in CASES if c["mode"] == mode) for mode in ("txt2img", "img2img")]
    for case in cases:
        outcome = page.evaluate(
            """(r) => window.turbodraft.generate(r).then((result) => ({ ok: true, result }),
                 (e) => ({ ok: false, code: e.code, message: e.message }))""",
            request_for(case, backend),
        )
        assert outcome["ok"], outcome
        result = outcome["result"]
        assert (result["model"], result["backend"], result["mode"]) == (PULLED, backend, case["mode"])
        want = np.load(ORACLE / case["image"]).astype(np.float32).reshape(case["height"], case["width"], 3)
        db = psnr(pixels_of(result), want)
        print(f"{backend} {PULLED} {case['id']}: PSNR {db:.1f} dB")
        assert db >= THRESHOLD_DB
    assert errors.errors == []
    page.context.close()
