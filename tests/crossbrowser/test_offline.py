"""Offline in Firefox and WebKit, with the gateway process really stopped: the app starts again from its service
worker's precache, cross-origin isolated. Where the model was stored, a draft still comes out of it; where the
engine could not store it, drafting says why it cannot work offline instead of failing vaguely."""

from __future__ import annotations

from typing import Any

from tests.crossbrowser.conftest import Engine, StoreGateway, app_ready, app_url, on, screenshot
from tests.crossbrowser.engines import EnginePage, wait_for

TINY = "tiny-sd-turbo"

GENERATE = """async () => {
  try {
    const result = await window.turbodraft.generate({ prompt: 'offline fox', seed: 7, model: 'tiny-sd-turbo' });
    return { ok: true, model: result.model, backend: result.backend, png: result.png.slice(0, 22) };
  } catch (e) {
    return { ok: false, message: `${e.name}: ${e.message}` };
  }
}"""


def controlled_by_the_service_worker(page: EnginePage) -> None:
    wait_for(page, "() => navigator.serviceWorker.controller !== null", timeout_s=60)
    page.evaluate("() => navigator.serviceWorker.ready.then(() => true)")


def reload_offline(page: EnginePage, gateway: StoreGateway) -> None:
    gateway.stop()
    page.reload()
    wait_for(page, "() => !!document.querySelector('[data-testid=capability-report][data-state=ready]')")
    assert page.evaluate("() => self.crossOriginIsolated") is True


@on("firefox")
def test_after_one_download_a_reload_offline_starts_the_app_and_drafts_from_storage(
    engine: Engine, fresh_gateway: StoreGateway
) -> None:
    page = engine.open(app_url(fresh_gateway))
    app_ready(page)
    controlled_by_the_service_worker(page)
    state = page.evaluate("(id) => window.turbodraft.models.download(id)", TINY)
    assert state["status"] == "ready", state["error"]

    reload_offline(page, fresh_gateway)
    outcome: dict[str, Any] = page.evaluate(GENERATE)

    assert outcome == {"ok": True, "model": TINY, "backend": "wasm", "png": "data:image/png;base64,"}
    listed = {v["id"]: v for v in page.evaluate("() => window.turbodraft.models.list()")}
    assert listed[TINY]["state"]["status"] == "ready"
    screenshot(page, "offline-draft")
    assert page.errors() == []


@on("webkit")
def test_a_reload_offline_starts_the_app_and_drafting_says_the_model_needs_the_gateway(
    engine: Engine, fresh_gateway: StoreGateway
) -> None:
    page = engine.open(app_url(fresh_gateway))
    app_ready(page)
    controlled_by_the_service_worker(page)

    reload_offline(page, fresh_gateway)
    outcome: dict[str, Any] = page.evaluate(GENERATE)

    assert outcome["ok"] is False
    assert "this browser cannot store models, and the gateway that has it cannot be reached" in outcome["message"]
    screenshot(page, "offline-cannot-draft")
    assert page.errors() == []
