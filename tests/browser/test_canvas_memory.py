"""Memory: a tab hidden longer than `releaseAfterMs` gives its local model sessions back (the engine's worker
ends) and rebuilds them when shown again, and drafting keeps working in the browser afterwards."""

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
    open_canvas,
    type_prompt,
)

# Headless pages never become hidden by themselves: the page is told so, as the browser would.
SET_VISIBILITY = """(state) => {
  Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => state });
  document.dispatchEvent(new Event('visibilitychange'));
}"""


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CanvasGateway]:
    with canvas_gateway(tmp_path_factory.mktemp("canvas-data")) as running:
        yield running


@pytest.fixture
def page(no_webgpu_browser: Browser, gateway: CanvasGateway) -> Iterator[Page]:
    page, errors = open_canvas(no_webgpu_browser, gateway, query="&releaseAfterMs=300")
    collapse_side_panel(page)
    yield page
    assert errors.errors == [], errors.errors
    page.context.close()


def memory(page: Page) -> dict[str, object]:
    state: dict[str, object] = page.evaluate("() => window.turbodraft.canvas.memory()")
    return state


def workers(page: Page) -> int:
    count: int = page.evaluate("() => window.turbodraft.engine.workersStarted")
    return count


def test_a_long_hidden_tab_releases_local_sessions_and_rebuilds_them_on_return(page: Page) -> None:
    shape = create_shape_with_tool(page)
    type_prompt(shape, "a quiet street")
    download_local_model(page, shape)
    assert generate(page, shape, "Quick Preview")["source"] == "browser"
    started = workers(page)

    page.evaluate(SET_VISIBILITY, "hidden")
    page.wait_for_timeout(600)
    assert memory(page) == {"releases": 1, "rebuilds": 0, "released": True}

    page.evaluate(SET_VISIBILITY, "visible")
    assert memory(page) == {"releases": 1, "rebuilds": 1, "released": False}
    assert workers(page) == started + 1  # the warm-up started a fresh worker with the model loaded

    again = generate(page, shape, "Quick Preview")
    assert (again["source"], again["error"]) == ("browser", None)


def test_a_tab_back_before_the_time_is_up_keeps_its_sessions(page: Page) -> None:
    page.evaluate(SET_VISIBILITY, "hidden")
    page.evaluate(SET_VISIBILITY, "visible")
    page.wait_for_timeout(600)
    assert memory(page) == {"releases": 0, "rebuilds": 0, "released": False}
