"""A final from Firefox and WebKit: High Quality goes through the gateway to the RunPod target (with no RunPod key,
the gateway's embedded local RunPod-compatible server), the shape shows the image and says where it was made,
and the ledger records it."""

from __future__ import annotations

from tests.crossbrowser.canvas import canvas_ready, create_shape, generate, image_shown, text
from tests.crossbrowser.conftest import Engine, StoreGateway, app_url, on, screenshot


@on("firefox", "webkit")
def test_high_quality_is_rendered_through_the_gateway_and_recorded(engine: Engine, gateway: StoreGateway) -> None:
    page = engine.open(app_url(gateway))
    canvas_ready(page)
    shape = create_shape(page, "a lighthouse at dusk")
    rows_before = len(gateway.ledger_rows())

    props = generate(page, shape, "High Quality")

    assert props["error"] is None, props
    assert (props["source"], props["kind"]) == ("runpod", "final")
    assert "Made on RunPod" in (text(page, shape, "status") or "")
    assert image_shown(page, shape)
    rows = gateway.ledger_rows()[rows_before:]
    assert [(r["target"], r["priority"], r["status"]) for r in rows] == [("runpod", "final", "completed")]
    screenshot(page, "final")
    assert page.errors() == []
