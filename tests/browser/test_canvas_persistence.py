"""The canvas document survives a reload (shapes in IndexedDB, images as assets in the local asset store,
never as data URLs in the document), and a document of the old canvas app migrates."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from tests.browser.canvas_support import (
    CanvasGateway,
    canvas_gateway,
    collapse_side_panel,
    create_shape_with_tool,
    generate,
    image_loaded,
    open_canvas,
    shape_props,
    type_prompt,
)
from tests.browser.conftest import screenshot

#: A shape as the old canvas app saved it (ImageGen props version 0).
OLD_PROPS = {
    "w": 320,
    "h": 420,
    "prompt": "an old harbour",
    "imageUrl": "https://runpod.example/old.png",
    "isLoading": False,
    "error": None,
    "endpointId": "abc123",
}

LOAD_OLD_DOCUMENT = """(props) => {
  const editor = window.turbodraft.canvas.editor();
  const snapshot = editor.getSnapshot();
  const pageId = editor.getCurrentPageId();
  snapshot.document.schema.sequences['com.tldraw.shape.ImageGen'] = 0;
  snapshot.document.store['shape:legacy'] = {
    id: 'shape:legacy', typeName: 'shape', type: 'ImageGen', x: 900, y: 120, rotation: 0, index: 'a9',
    parentId: pageId, isLocked: false, opacity: 1, meta: {}, props,
  };
  editor.loadSnapshot(snapshot);
  return editor.getShape('shape:legacy').props;
}"""


IMAGE_SHOWN = """() => {
  const img = document.querySelector('[data-testid=image]');
  return img !== null && img.complete && img.naturalWidth > 0;
}"""


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CanvasGateway]:
    with canvas_gateway(tmp_path_factory.mktemp("canvas-data")) as running:
        yield running


@pytest.fixture
def page(no_webgpu_browser: Browser, gateway: CanvasGateway) -> Iterator[Page]:
    page, errors = open_canvas(no_webgpu_browser, gateway, doc=uuid.uuid4().hex[:12])
    collapse_side_panel(page)
    yield page
    assert errors.errors == [], errors.errors
    page.context.close()


def document_json(page: Page) -> str:
    text: str = page.evaluate("() => JSON.stringify(window.turbodraft.canvas.editor().getSnapshot().document)")
    return text


def test_a_reload_keeps_the_shape_and_its_image_without_data_urls_in_the_document(page: Page) -> None:
    shape = create_shape_with_tool(page)
    type_prompt(shape, "a kite over the dunes")
    before = generate(page, shape, "Quick Preview")
    assert before["assetId"] is not None and before["error"] is None
    document = document_json(page)
    assert "data:image" not in document
    asset: dict[str, Any] = json.loads(document)["store"][before["assetId"]]
    assert asset["props"]["src"].startswith("asset:")
    page.wait_for_timeout(500)  # tldraw writes to IndexedDB on a short throttle

    page.reload()
    page.wait_for_function("() => window.turbodraft?.canvas?.editor() !== null", timeout=60_000)
    reloaded = page.locator('[data-testid="image-gen"]').first
    reloaded.get_by_test_id("image").wait_for(timeout=30_000)
    page.wait_for_function(IMAGE_SHOWN, timeout=30_000)
    after = shape_props(page, reloaded)
    for key in ("prompt", "assetId", "source", "seed", "cost", "kind"):
        assert after[key] == before[key], key
    assert image_loaded(reloaded)
    screenshot(page, "canvas-after-reload")


def test_an_old_canvas_app_document_migrates_to_the_current_shape(page: Page) -> None:
    props: dict[str, Any] = page.evaluate(LOAD_OLD_DOCUMENT, OLD_PROPS)
    assert {k: props[k] for k in ("w", "h", "prompt", "legacyImageUrl", "source", "kind", "generationMode")} == {
        "w": 320,
        "h": 420,
        "prompt": "an old harbour",
        "legacyImageUrl": "https://runpod.example/old.png",
        "source": "runpod",
        "kind": "final",
        "generationMode": "cloud",
    }
    for gone in ("imageUrl", "isLoading", "endpointId"):
        assert gone not in props
    assert props["assetId"] is None and props["localModelStatus"] == "not-loaded"
    shape = page.locator('[data-image-gen-id="shape:legacy"]')
    assert "earlier canvas app" in shape.get_by_test_id("status").inner_text()
