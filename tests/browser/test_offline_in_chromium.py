"""Offline use: after one complete model download, a reload with the network gone (Playwright offline, and the
gateway stopped) still starts the app from the service worker's precache, cross-origin isolated, and generates
a draft from OPFS: the sessions are rebuilt from stored files, nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser

from tests.browser.conftest import PageErrors, screenshot
from tests.browser.model_store_gateway import TINY, store_test_app
from tests.conftest import start_server, stop_server


def test_after_one_download_a_reload_offline_loads_the_app_and_generates_a_draft(
    no_webgpu_browser: Browser, tmp_path: Path
) -> None:
    app, _, _ = store_test_app(tmp_path / "data", tmp_path / "synthetic")
    running, thread = start_server(app)
    context = no_webgpu_browser.new_context()
    try:
        page = context.new_page()
        errors = PageErrors(page)
        page.goto(running.url + "/")
        # The service worker installs (precaching the shell and ORT's wasm) and claims this page.
        page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=60_000)
        page.evaluate("() => navigator.serviceWorker.ready")
        state = page.evaluate("(id) => window.turbodraft.models.download(id)", TINY)
        assert state["status"] == "ready", state["error"]

        context.set_offline(True)
        # And really gone, in case some request would slip past the emulation (the service worker's own).
        stop_server(running, thread)
        page.reload()
        page.wait_for_selector("[data-testid=capability-report][data-state=ready]")
        assert page.evaluate("() => crossOriginIsolated") is True
        result = page.evaluate(
            "() => window.turbodraft.generate({ prompt: 'offline fox', seed: 7, model: 'tiny-sd-turbo' })"
        )
        assert result["model"] == TINY
        assert result["png"].startswith("data:image/png;base64,")
        listed = {v["id"]: v for v in page.evaluate("() => window.turbodraft.models.list()")}
        assert listed[TINY]["state"]["status"] == "ready"
        screenshot(page, "offline-ready")
        assert errors.errors == []
    finally:
        context.close()
        stop_server(running, thread)
