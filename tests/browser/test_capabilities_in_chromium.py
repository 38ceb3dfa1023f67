"""The capability report in real Chromium, in both profiles."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page

from tests.browser.conftest import PageErrors, screenshot


def report_of(page: Page) -> dict[str, Any]:
    page.wait_for_selector('[data-testid="capability-report"][data-state="ready"]', timeout=60_000)
    report: dict[str, Any] = page.evaluate("() => window.turbodraft.capabilities()")
    return report


def test_page_is_cross_origin_isolated(webgpu_page: tuple[Page, PageErrors]) -> None:
    page, _ = webgpu_page
    assert page.evaluate("() => self.crossOriginIsolated") is True


def test_webgpu_profile_reports_swiftshader_as_a_software_fallback_adapter(
    webgpu_page: tuple[Page, PageErrors],
) -> None:
    page, errors = webgpu_page
    report = report_of(page)
    screenshot(page, "capabilities-webgpu")
    assert report["hasWebGPU"] is True
    assert report["adapter"]["architecture"] == "swiftshader"
    assert report["adapter"]["isFallbackAdapter"] is True
    assert report["isSoftwareAdapter"] is True
    assert report["shaderF16"] is False
    assert report["deviceCreated"] is True
    assert report["crossOriginIsolated"] is True
    assert errors.errors == []


def test_no_webgpu_profile_reports_no_webgpu_with_a_reason(no_webgpu_page: tuple[Page, PageErrors]) -> None:
    page, errors = no_webgpu_page
    report = report_of(page)
    screenshot(page, "capabilities-no-webgpu")
    assert report["hasWebGPU"] is False
    assert isinstance(report["reason"], str) and report["reason"]
    assert errors.errors == []


def test_the_page_shows_the_report(webgpu_page: tuple[Page, PageErrors]) -> None:
    page, _ = webgpu_page
    report_of(page)
    text = page.inner_text('[data-testid="capability-report"]')
    assert "swiftshader" in text.lower()


def test_webgpu_profile_lacks_nothing_the_app_uses(webgpu_page: tuple[Page, PageErrors]) -> None:
    page, _ = webgpu_page
    report = report_of(page)
    assert (report["wasmThreads"], report["opfs"], report["serviceWorker"]) == (True, True, True)
    assert report["limitations"] == []
    assert page.locator('[data-testid="limitations"]').count() == 0


def test_no_webgpu_profile_says_drafts_run_on_wasm(no_webgpu_page: tuple[Page, PageErrors]) -> None:
    page, _ = no_webgpu_page
    report = report_of(page)
    assert [item["feature"] for item in report["limitations"]] == ["webgpu"]
    shown = page.inner_text('[data-testid="limitations"]')
    assert shown == "No WebGPU here: local drafts run on wasm, on the CPU, and are slower."
