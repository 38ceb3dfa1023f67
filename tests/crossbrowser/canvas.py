"""The canvas through an engine page: an ImageGen shape made with the editor, its buttons clicked in the DOM.

The Chromium canvas tests (tests/browser/canvas_support.py) drive the same shape with Playwright locators; these
helpers do what they do with the two calls every driver here has (evaluate, wait)."""

from __future__ import annotations

from typing import Any

from tests.browser.canvas_support import GENERATION_MS
from tests.crossbrowser.engines import EnginePage, wait_for

GENERATION_S = GENERATION_MS / 1000

CREATE_SHAPE = """(prompt) => {
  const editor = window.turbodraft.canvas.editor();
  const before = new Set(editor.getCurrentPageShapeIds());
  editor.createShape({ type: 'ImageGen', x: 460, y: 120, props: { prompt } });
  return [...editor.getCurrentPageShapeIds()].find((id) => !before.has(id)) ?? null;
}"""

CLICK = """([id, label]) => {
  const shape = document.querySelector(`[data-image-gen-id="${id}"]`);
  const button = shape && [...shape.querySelectorAll('button')].find((b) => b.textContent.trim() === label);
  if (!button) return false;
  button.click();
  return true;
}"""

PROPS = "(id) => window.turbodraft.canvas.editor().getShape(id).props"

TEXT = """([id, testId]) => {
  const found = document.querySelector(`[data-image-gen-id="${id}"] [data-testid="${testId}"]`);
  return found ? found.textContent : null;
}"""


def canvas_ready(page: EnginePage) -> None:
    wait_for(page, "() => window.turbodraft?.canvas?.editor() != null", timeout_s=60)


def create_shape(page: EnginePage, prompt: str) -> str:
    shape: str = wait_for(page, CREATE_SHAPE, prompt)
    wait_for(page, '(id) => document.querySelector(`[data-image-gen-id="${id}"]`) !== null', shape)
    return shape


def props(page: EnginePage, shape: str) -> dict[str, Any]:
    found: dict[str, Any] = page.evaluate(PROPS, shape)
    return found


def click(page: EnginePage, shape: str, label: str) -> None:
    wait_for(page, CLICK, [shape, label], timeout_s=30)


def text(page: EnginePage, shape: str, test_id: str) -> str | None:
    found: str | None = page.evaluate(TEXT, [shape, test_id])
    return found


def download_local_model(page: EnginePage, shape: str) -> None:
    """The shape's own offer (the tiny model is below the consent threshold: no dialog)."""
    click(page, shape, "Download")
    wait_for(page, f"(id) => ({PROPS})(id).localModelStatus === 'ready'", shape, timeout_s=60)


def generate(page: EnginePage, shape: str, button: str) -> dict[str, Any]:
    """Clicks a generation button; returns the props once the shape shows a new image or an error."""
    before = props(page, shape)["assetId"]
    # Quick Preview waits for its route to be known (the button's title says where drafts run).
    wait_for(
        page,
        """(id) => [...document.querySelector(`[data-image-gen-id="${id}"]`).querySelectorAll('button')]
            .every((b) => !b.title.startsWith('Checking'))""",
        shape,
        timeout_s=30,
    )
    click(page, shape, button)
    wait_for(
        page,
        f"""([id, asset]) => {{
            const p = ({PROPS})(id);
            return p.error !== null || (p.assetId !== null && p.assetId !== asset);
        }}""",
        [shape, before],
        timeout_s=GENERATION_S,
    )
    return props(page, shape)


def image_shown(page: EnginePage, shape: str, timeout_s: float = 15.0) -> bool:
    """The shape shows a decoded image (tldraw resolves the asset, then the <img> decodes it)."""
    shown: bool = wait_for(
        page,
        """(id) => {
            const img = document.querySelector(`[data-image-gen-id="${id}"] [data-testid="image"]`);
            return !!img && img.complete && img.naturalWidth > 0;
        }""",
        shape,
        timeout_s=timeout_s,
    )
    return shown
