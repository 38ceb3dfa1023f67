"""The capability report in Firefox and WebKit: it agrees with what the engine really does, lists what the engine
lacks in words for the user, shows them on the page, and matches the support table in docs/browsers.md."""

from __future__ import annotations

import json
from typing import Any

from tests.browser.conftest import ARTIFACTS
from tests.crossbrowser.conftest import Engine, StoreGateway, app_url, on, screenshot
from tests.crossbrowser.engines import EnginePage, wait_for

# Asks the engine itself, without the app's detection code.
PROBE = """async () => {
  let webgpu = false;
  try { webgpu = !!navigator.gpu && (await navigator.gpu.requestAdapter()) !== null; } catch { webgpu = false; }
  let wasmThreads = false;
  try {
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
    wasmThreads = self.crossOriginIsolated === true && memory.buffer instanceof SharedArrayBuffer;
  } catch { wasmThreads = false; }
  let opfs = false;
  try { opfs = !!(navigator.storage && navigator.storage.getDirectory && await navigator.storage.getDirectory()); }
  catch { opfs = false; }
  return { webgpu, crossOriginIsolated: self.crossOriginIsolated === true, wasmThreads, opfs,
           serviceWorker: 'serviceWorker' in navigator };
}"""

SHOWN = """() => [...document.querySelectorAll('[data-testid="limitations"] li')]
    .map((li) => [li.dataset.feature, li.textContent])"""


#: What Debian's builds do here (docs/browsers.md has the same table; change both together).
def _support(webgpu: bool, wasm_threads: bool, opfs: bool) -> dict[str, bool]:
    return {
        "webgpu": webgpu,
        "crossOriginIsolated": True,
        "wasmThreads": wasm_threads,
        "opfs": opfs,
        "serviceWorker": True,
    }


SUPPORT: dict[str, dict[str, bool]] = {
    "firefox": _support(webgpu=False, wasm_threads=True, opfs=True),
    "webkit": _support(webgpu=False, wasm_threads=False, opfs=False),
    "webkit-storage": _support(webgpu=False, wasm_threads=False, opfs=False),
}


def report_of(page: EnginePage) -> dict[str, Any]:
    wait_for(page, "() => !!document.querySelector('[data-testid=capability-report][data-state=ready]')")
    report: dict[str, Any] = page.evaluate("() => window.turbodraft.capabilities()")
    return report


@on("firefox", "webkit", "webkit-storage")
def test_the_report_agrees_with_the_engine_and_lists_what_it_lacks(engine: Engine, gateway: StoreGateway) -> None:
    page = engine.open(app_url(gateway))
    report = report_of(page)
    real = page.evaluate(PROBE)
    screenshot(page, "capabilities")

    assert report["hasWebGPU"] is real["webgpu"]
    assert report["crossOriginIsolated"] is real["crossOriginIsolated"]
    assert report["wasmThreads"] is real["wasmThreads"]
    assert report["opfs"] is real["opfs"]
    assert report["serviceWorker"] is real["serviceWorker"]
    lacking = {"webgpu": "webgpu", "wasmThreads": "wasm-threads", "opfs": "opfs", "serviceWorker": "service-worker"}
    assert [item["feature"] for item in report["limitations"]] == [f for k, f in lacking.items() if not real[k]]
    assert page.evaluate(SHOWN) == [[item["feature"], item["message"]] for item in report["limitations"]]
    assert page.errors() == []


@on("firefox", "webkit", "webkit-storage")
def test_the_engine_offers_what_the_support_table_says(engine: Engine, gateway: StoreGateway) -> None:
    page = engine.open(app_url(gateway))
    report = report_of(page)
    measured = page.evaluate(PROBE)
    ARTIFACTS.mkdir(exist_ok=True)
    record = {"engine": engine.name, "version": engine.version(page), **measured, "report": report}
    (ARTIFACTS / f"crossbrowser-support-{engine.name}.json").write_text(json.dumps(record, indent=2))

    assert measured == SUPPORT[engine.name], f"{record['version']} differs from docs/browsers.md: update both"


@on("webkit")
def test_each_missing_feature_says_what_the_user_gets_instead(engine: Engine, gateway: StoreGateway) -> None:
    page = engine.open(app_url(gateway))
    messages = {item["feature"]: item["message"] for item in report_of(page)["limitations"]}

    assert messages == {
        "webgpu": "No WebGPU here: local drafts run on wasm, on the CPU, and are slower.",
        "wasm-threads": (
            "No wasm threads (SharedArrayBuffer is missing, though the page is cross-origin isolated): "
            "local drafts on wasm use one CPU core."
        ),
        "opfs": (
            "Models cannot be stored in this browser: it has no Origin Private File System "
            "(navigator.storage.getDirectory is missing). Local drafts read the model from the gateway each time "
            "instead, so they need it reachable."
        ),
    }
