"""The model store in Firefox and WebKit: where the engine can keep files, a download lands in its Origin Private
File System with progress and resumes after a reload; where it cannot, the download stops before any byte is
fetched and the model panel says why, in the words of the capability report."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.model_store_gateway import CHUNK, SYNTHETIC, SYNTHETIC_SIZE, rest_of
from tests.crossbrowser.conftest import Engine, StoreGateway, app_ready, app_url, on, screenshot
from tests.crossbrowser.engines import EnginePage, wait_for
from turbodraft.gateway.model_files import ConnectionCut

WEIGHTS = f"{SYNTHETIC}/weights.bin"
CONFIG_BYTES = len(b'{"layers": 2}')


@pytest.fixture
def store(gateway: StoreGateway) -> Iterator[StoreGateway]:
    """The module's gateway with fresh counters and no faults."""
    gateway.app.state.model_faults = None
    gateway.transfers.reset()
    yield gateway
    gateway.app.state.model_faults = None


def download(page: EnginePage, variant: str) -> dict[str, Any]:
    state: dict[str, Any] = page.evaluate("(id) => window.turbodraft.models.download(id)", variant)
    return state


def chunk_ranges(size: int) -> list[str]:
    return [f"bytes={start}-{min(start + CHUNK, size) - 1}" for start in range(0, size, CHUNK)]


@on("firefox")
def test_a_download_lands_in_the_origin_private_file_system_with_progress(engine: Engine, store: StoreGateway) -> None:
    page = engine.open(app_url(store))
    app_ready(page)
    page.evaluate("() => window.turbodraft.models.configure({ chunkBytes: 64 * 1024 })")

    state = download(page, SYNTHETIC)

    assert state["status"] == "ready", state["error"]
    assert state["bytesDone"] == state["bytesTotal"] == SYNTHETIC_SIZE + CONFIG_BYTES
    stored = page.evaluate("() => window.turbodraft.models.inspect()")
    assert len(stored["blobs"]) == 2 and stored["partial"] == [] and stored["variants"] == [f"{SYNTHETIC}.json"]
    assert store.transfers.total_bytes() == state["bytesTotal"]
    events = page.evaluate("(id) => window.turbodraft.models.events.filter((e) => e.variant === id)", SYNTHETIC)
    progressing = [e["bytesDone"] for e in events if e["status"] == "downloading"]
    assert len(progressing) > 2 and progressing == sorted(progressing)
    assert events[-1]["status"] == "ready"
    # The model panel shows it stored.
    wait_for(page, "(id) => document.querySelector(`[data-testid=model-${id}]`)?.dataset.status === 'ready'", SYNTHETIC)
    screenshot(page, "model-stored")
    assert page.errors() == []


@on("firefox")
def test_a_reload_mid_download_resumes_instead_of_restarting(engine: Engine, store: StoreGateway) -> None:
    page = engine.open(app_url(store))
    app_ready(page)
    # One request at a time: three chunks arrive whole, the fourth is cut halfway; a long backoff keeps the
    # download waiting for the reload.
    store.app.state.model_faults = ConnectionCut(after_bytes=CHUNK // 2, every=4, file=WEIGHTS)
    page.evaluate("() => window.turbodraft.models.configure({ retryDelayMs: 60000, parallelChunks: 1 })")
    page.evaluate("(id) => { void window.turbodraft.models.download(id); }", SYNTHETIC)
    wait_for(
        page,
        """(id) => (window.turbodraft.models.snapshot()[id]?.files ?? [])
            .some((f) => f.path === 'weights.bin' && f.status === 'retrying')""",
        SYNTHETIC,
    )

    page.reload()
    app_ready(page)
    store.app.state.model_faults = None
    paused = page.evaluate("(id) => window.turbodraft.models.state(id)", SYNTHETIC)
    assert paused["status"] == "paused"
    # Of the fourth chunk, what arrived before its cut is kept (less what the network lost in transit).
    kept = paused["bytesDone"] - 3 * CHUNK - CONFIG_BYTES
    assert 0 <= kept <= CHUNK // 2
    state = download(page, SYNTHETIC)

    assert state["status"] == "ready", state["error"]
    log = [t for t in store.transfers.log if t.file == WEIGHTS]
    ranges = chunk_ranges(SYNTHETIC_SIZE)
    assert sorted(str(t.range) for t in log[4:]) == sorted([rest_of(ranges[3], kept), *ranges[4:]])
    assert store.transfers.bytes_sent[WEIGHTS] == SYNTHETIC_SIZE + CHUNK // 2 - kept
    assert page.errors() == []


CANNOT_STORE = {
    "webkit": (
        "Models cannot be stored in this browser: it has no Origin Private File System "
        "(navigator.storage.getDirectory is missing). Local drafts read the model from the gateway each time instead, "
        "so they need it reachable."
    ),
    "webkit-storage": (
        "Models cannot be stored in this browser: it refused its Origin Private File System, as private browsing "
        "does (UnknownError: "
    ),
}


@on("webkit", "webkit-storage")
def test_where_models_cannot_be_stored_a_download_stops_before_fetching_and_the_panel_says_why(
    engine: Engine, store: StoreGateway
) -> None:
    page = engine.open(app_url(store))
    app_ready(page)

    state = download(page, SYNTHETIC)

    assert state["status"] == "error"
    assert state["error"]["code"] == "storage-unavailable"
    assert state["error"]["message"].startswith(CANNOT_STORE[engine.name])
    assert store.transfers.total_bytes() == 0
    shown = wait_for(page, "() => document.querySelector('[data-testid=model-downloads] [role=alert]')?.textContent")
    assert shown.startswith(CANNOT_STORE[engine.name])
    screenshot(page, "model-panel-cannot-store")
    assert page.errors() == []
