"""The browser model store (web/src/engine/store) in real headless Chromium against the gateway's mirror:
downloads into OPFS, resume after cuts and reloads, verification, quota, revisions, odd servers, the UI.

The gateway publishes chunk hashes (CHUNK bytes), so downloads go chunk by chunk, several requests in flight;
`chunkHashes: false` exercises the whole-file path (hash-wasm) that sources without chunk hashes take.

One page for the module (wasm profile); every test starts from an empty store (`models.clear()`). Server-side
counters (`app.state.model_transfers`) prove what was (re)sent.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from playwright.sync_api import Browser, Page

from tests.browser.conftest import PageErrors, open_page, screenshot
from tests.browser.model_store_gateway import (
    CHUNK,
    NO_ENCODER,
    SYNTHETIC,
    SYNTHETIC_SIZE,
    TINY,
    Quirky,
    rest_of,
    store_test_app,
    write_synthetic,
)
from tests.conftest import RunningServer, start_server, stop_server
from turbodraft.config import Settings
from turbodraft.gateway.model_files import ConnectionCut, TransferCounters
from turbodraft.models.tamper import flip_byte

WEIGHTS = f"{SYNTHETIC}/weights.bin"
TEST_SETTINGS: dict[str, Any] = {
    "manifestUrl": "/models/manifest.json",
    "chunkBytes": CHUNK,
    "retryDelayMs": 50,
    "maxRetries": 4,
    "storageEstimate": None,
    "chunkHashes": True,
    "parallelChunks": 3,
}


class StoreServer:
    def __init__(self, running: RunningServer, settings: Settings, quirky: Quirky, synthetic_dir: Path) -> None:
        self.running = running
        self.settings = settings
        self.quirky = quirky
        self.synthetic_dir = synthetic_dir

    @property
    def app(self) -> FastAPI:
        return self.running.app

    @property
    def transfers(self) -> TransferCounters:
        counters: TransferCounters = self.app.state.model_transfers
        return counters


@pytest.fixture(scope="module")
def store_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoreServer]:
    root = tmp_path_factory.mktemp("store")
    app, settings, quirky = store_test_app(root / "data", root / "synthetic")
    running, thread = start_server(app)
    try:
        yield StoreServer(running, settings, quirky, root / "synthetic")
    finally:
        stop_server(running, thread)


@pytest.fixture(scope="module")
def store_page(no_webgpu_browser: Browser, store_server: StoreServer) -> Iterator[tuple[Page, PageErrors]]:
    page, errors = open_page(no_webgpu_browser, store_server.running)
    ready(page)
    yield page, errors
    page.context.close()


def ready(page: Page, settings: dict[str, Any] | None = None) -> None:
    page.wait_for_function("() => window.turbodraft && window.turbodraft.models")
    page.evaluate("(s) => window.turbodraft.models.configure(s)", {**TEST_SETTINGS, **(settings or {})})


@pytest.fixture
def page(store_page: tuple[Page, PageErrors], store_server: StoreServer) -> Iterator[Page]:
    """The module's page with an empty store, default test settings and fresh server counters."""
    page, errors = store_page
    page.evaluate("() => window.turbodraft.models.clear()")
    ready(page)
    page.evaluate("() => { window.turbodraft.models.events.length = 0; }")
    store_server.app.state.model_faults = None
    store_server.transfers.reset()
    yield page
    store_server.app.state.model_faults = None
    assert errors.errors == []


def download(page: Page, variant: str) -> dict[str, Any]:
    state: dict[str, Any] = page.evaluate("(id) => window.turbodraft.models.download(id)", variant)
    return state


def inspect(page: Page) -> dict[str, list[str]]:
    found: dict[str, list[str]] = page.evaluate("() => window.turbodraft.models.inspect()")
    return found


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- download, verify, generate -------------------------------------------------------------------------------


def test_the_tiny_model_downloads_verifies_and_a_draft_generates_from_opfs(
    page: Page, store_server: StoreServer
) -> None:
    state = download(page, TINY)

    assert state["status"] == "ready", state["error"]
    assert state["bytesDone"] == state["bytesTotal"] > 0
    assert all(f["status"] == "ready" for f in state["files"])
    assert len(inspect(page)["blobs"]) == len(state["files"])
    sent_by_download = store_server.transfers.total_bytes()
    assert sent_by_download == state["bytesTotal"]

    result = page.evaluate("() => window.turbodraft.generate({ prompt: 'a fox', seed: 1, model: 'tiny-sd-turbo' })")
    assert result["model"] == TINY
    assert result["png"].startswith("data:image/png;base64,")
    # The engine read OPFS: not one more model byte left the server.
    assert store_server.transfers.total_bytes() == sent_by_download


def test_state_events_carry_bytes_per_file_and_overall_rate_and_eta(page: Page) -> None:
    page.evaluate("() => window.turbodraft.models.configure({ chunkBytes: 64 * 1024 })")
    state = download(page, SYNTHETIC)
    events: list[dict[str, Any]] = page.evaluate(
        "(id) => window.turbodraft.models.events.filter((e) => e.variant === id)", SYNTHETIC
    )

    statuses = [e["status"] for e in events]
    assert statuses[0] == "downloading" and statuses[-1] == "ready"
    assert "verifying" in statuses
    progressing = [e for e in events if e["status"] == "downloading"]
    assert [e["bytesDone"] for e in progressing] == sorted(e["bytesDone"] for e in progressing)
    assert all(e["bytesTotal"] == state["bytesTotal"] for e in events)
    weights = next(f for e in progressing for f in e["files"] if f["path"] == "weights.bin" and f["done"] > 0)
    assert weights["size"] == SYNTHETIC_SIZE
    assert any(e["rate"] > 0 and e["etaSeconds"] is not None for e in progressing)
    assert state["rate"] > 0 and state["etaSeconds"] == 0


def test_list_shows_offered_and_stored_variants_and_remove_frees_the_files(page: Page) -> None:
    download(page, SYNTHETIC)
    listed = {v["id"]: v for v in page.evaluate("() => window.turbodraft.models.list()")}
    assert listed[SYNTHETIC]["state"]["status"] == "ready"
    assert listed[SYNTHETIC]["available"] is True
    assert listed[TINY]["state"]["status"] == "not-downloaded"
    assert listed["sd-turbo-fp16"]["available"] is False  # listed, but not mirrored by this gateway

    removed = page.evaluate("(id) => window.turbodraft.models.remove(id)", SYNTHETIC)
    assert removed["status"] == "not-downloaded"
    assert inspect(page) == {"blobs": [], "partial": [], "variants": []}


GENERATE = """(r) => window.turbodraft.generate(r).then(
  (result) => ({ ok: true, model: result.model }), (e) => ({ ok: false, code: e.code, message: e.message }))"""


def test_a_variant_served_without_its_optional_encoder_downloads_and_drafts(page: Page) -> None:
    listed = {v["id"]: v for v in page.evaluate("() => window.turbodraft.models.list()")}
    assert listed[NO_ENCODER]["available"] is True

    state = download(page, NO_ENCODER)
    assert state["status"] == "ready", state["error"]
    assert "vae_encoder/model.onnx" not in [f["path"] for f in state["files"]]
    draft = page.evaluate(GENERATE, {"prompt": "a fox", "seed": 1, "model": NO_ENCODER})
    assert draft == {"ok": True, "model": NO_ENCODER}
    refine = page.evaluate(
        GENERATE,
        {"prompt": "a fox", "seed": 1, "steps": 2, "model": NO_ENCODER, "initImage": [0.5] * 12288, "strength": 0.5},
    )
    assert refine["ok"] is False and refine["code"] == "unsupported-by-model"
    assert "vae_encoder" in refine["message"] and "tokenizer" not in refine["message"]


def test_the_engine_names_a_variant_the_gateway_lacks_instead_of_a_missing_tokenizer(page: Page) -> None:
    page.evaluate("() => window.turbodraft.engine.dispose()")
    outcome = page.evaluate(GENERATE, {"prompt": "a fox", "seed": 1, "model": "sd-turbo-int8", "backend": "wasm"})
    assert outcome["ok"] is False
    assert "does not have sd-turbo-int8 yet" in outcome["message"]
    assert "turbodraft models pull sd-turbo-int8" in outcome["message"]


def chunk_ranges(size: int) -> list[str]:
    return [f"bytes={start}-{min(start + CHUNK, size) - 1}" for start in range(0, size, CHUNK)]


def weights_log(store_server: StoreServer) -> list[Any]:
    return [t for t in store_server.transfers.log if t.file == WEIGHTS]


def test_a_download_asks_for_each_chunk_once_several_at_a_time(page: Page, store_server: StoreServer) -> None:
    state = download(page, SYNTHETIC)

    assert state["status"] == "ready", state["error"]
    log = weights_log(store_server)
    assert sorted(t.range for t in log) == sorted(chunk_ranges(SYNTHETIC_SIZE))
    assert all(t.status == 206 and t.if_range is None for t in log)
    assert store_server.transfers.bytes_sent[WEIGHTS] == SYNTHETIC_SIZE


# --- resuming -------------------------------------------------------------------------------------------------


def test_a_cut_connection_fetches_only_the_rest_of_the_cut_chunk(page: Page, store_server: StoreServer) -> None:
    # 8 chunk requests and one retry: only the 5th response (mid-file, mid-chunk) is cut.
    sent = CHUNK // 2 + 1000
    store_server.app.state.model_faults = ConnectionCut(after_bytes=sent, every=5, file=WEIGHTS)

    state = download(page, SYNTHETIC)

    assert state["status"] == "ready", state["error"]
    assert store_server.transfers.cuts[WEIGHTS] == 1
    log = weights_log(store_server)
    cut = next(t for t in log if t.cut)
    start = int((cut.range or "").removeprefix("bytes=").split("-")[0])
    retries = [t for t in log if not t.cut and t.range not in chunk_ranges(SYNTHETIC_SIZE)]
    # (when the network lost every byte before the cut, the retry is the whole chunk again)
    retry = retries[0] if retries else next(t for t in log if t.range == cut.range and not t.cut)
    # The retry asks from where the bytes that reached the page end (the network may lose the last few that
    # the server sent before the cut), so no byte the page got is fetched twice.
    kept = int((retry.range or "").removeprefix("bytes=").split("-")[0]) - start
    assert 0 <= kept <= sent
    assert retry.range == rest_of(cut.range or "", kept)
    assert sorted(t.range or "" for t in log) == sorted([*chunk_ranges(SYNTHETIC_SIZE), retry.range or ""])
    assert store_server.transfers.bytes_sent[WEIGHTS] == SYNTHETIC_SIZE + sent - kept


def test_a_reload_mid_download_resumes_instead_of_restarting(page: Page, store_server: StoreServer) -> None:
    # One request at a time: three chunks arrive whole, the fourth is cut halfway; a long backoff keeps the
    # download waiting for the reload.
    store_server.app.state.model_faults = ConnectionCut(after_bytes=CHUNK // 2, every=4, file=WEIGHTS)
    ready(page, {"retryDelayMs": 60_000, "parallelChunks": 1})
    page.evaluate("(id) => { void window.turbodraft.models.download(id); }", SYNTHETIC)
    page.wait_for_function(
        """(id) => (window.turbodraft.models.snapshot()[id]?.files ?? [])
            .some((f) => f.path === 'weights.bin' && f.status === 'retrying')""",
        arg=SYNTHETIC,
    )
    assert store_server.transfers.cuts[WEIGHTS] == 1

    page.reload()
    ready(page)
    store_server.app.state.model_faults = None
    paused = page.evaluate("(id) => window.turbodraft.models.state(id)", SYNTHETIC)
    assert paused["status"] == "paused"
    # config.json came first, whole; then three chunks and what of the fourth reached the page before the cut.
    kept = paused["bytesDone"] - 3 * CHUNK - len(b'{"layers": 2}')
    assert 0 <= kept <= CHUNK // 2
    state = download(page, SYNTHETIC)

    assert state["status"] == "ready", state["error"]
    after_reload = weights_log(store_server)[4:]
    ranges = chunk_ranges(SYNTHETIC_SIZE)
    assert sorted(t.range for t in after_reload) == sorted([rest_of(ranges[3], kept), *ranges[4:]])
    assert store_server.transfers.bytes_sent[WEIGHTS] == SYNTHETIC_SIZE + CHUNK // 2 - kept


def test_pause_keeps_every_byte_fetched_and_resume_fetches_the_rest(page: Page, store_server: StoreServer) -> None:
    # The fourth chunk is cut and waits out a long backoff, so the download is still running when paused.
    store_server.app.state.model_faults = ConnectionCut(after_bytes=CHUNK // 2, every=4, file=WEIGHTS)
    ready(page, {"retryDelayMs": 60_000, "parallelChunks": 1})
    page.evaluate("(id) => { void window.turbodraft.models.download(id); }", SYNTHETIC)
    page.wait_for_function(
        """(id) => (window.turbodraft.models.snapshot()[id]?.files ?? [])
            .some((f) => f.path === 'weights.bin' && f.status === 'retrying')""",
        arg=SYNTHETIC,
    )
    paused = page.evaluate("(id) => window.turbodraft.models.pause(id)", SYNTHETIC)
    assert paused["status"] == "paused"
    kept = paused["bytesDone"] - 3 * CHUNK - len(b'{"layers": 2}')  # of the fourth chunk, before its cut
    assert 0 <= kept <= CHUNK // 2
    store_server.app.state.model_faults = None
    state = download(page, SYNTHETIC)
    assert state["status"] == "ready"
    assert store_server.transfers.bytes_sent[WEIGHTS] == SYNTHETIC_SIZE + CHUNK // 2 - kept


SEEN = """(id) => {
  window.__seen = [];
  window.turbodraft.models.on((s) => {
    if (s.variant !== id) return;
    window.__seen.push({ at: performance.now(), status: s.status, done: s.bytesDone, rate: s.rate });
  });
}"""


def test_on_a_slow_link_progress_moves_every_second_and_pause_keeps_what_arrived(
    page: Page, store_server: StoreServer
) -> None:
    # 40 KB/s: one 128 KiB chunk takes over 3 s, so progress counted in verified chunks would sit at 0 that long.
    config = len(b'{"layers": 2}')
    store_server.app.state.body_pace = 40_000
    try:
        ready(page, {"parallelChunks": 1})
        page.evaluate(SEEN, SYNTHETIC)
        page.evaluate("(id) => { void window.turbodraft.models.download(id); }", SYNTHETIC)
        page.wait_for_function(
            "(n) => window.__seen.some((e) => e.done >= n)", arg=config + int(0.75 * CHUNK), timeout=20_000
        )
        seen: list[dict[str, Any]] = page.evaluate("() => window.__seen")
        paused = page.evaluate("(id) => window.turbodraft.models.pause(id)", SYNTHETIC)
    finally:
        store_server.app.state.body_pace = None

    moving = [e for e in seen if e["status"] == "downloading"]
    assert all(e["done"] < config + CHUNK for e in moving)  # still inside the first chunk of weights.bin
    gaps = [b["at"] - a["at"] for a, b in itertools.pairwise(moving)]
    assert max(gaps) <= 1100, gaps
    assert len({e["done"] for e in moving}) >= 4  # the figure moves, not jumps
    assert any(e["rate"] > 0 for e in moving)
    assert paused["status"] == "paused"
    assert paused["bytesDone"] >= max(e["done"] for e in moving)  # what arrived is kept
    kept = paused["bytesDone"] - config
    store_server.transfers.reset()

    state = download(page, SYNTHETIC)
    assert state["status"] == "ready", state["error"]
    # ... and never fetched again: the resume asks for the rest of that chunk, then the other chunks.
    ranges = chunk_ranges(SYNTHETIC_SIZE)
    assert sorted(t.range for t in weights_log(store_server)) == sorted([rest_of(ranges[0], kept), *ranges[1:]])
    assert store_server.transfers.bytes_sent[WEIGHTS] == SYNTHETIC_SIZE - kept


def test_cancel_drops_the_partial_files(page: Page, store_server: StoreServer) -> None:
    store_server.app.state.model_faults = ConnectionCut(after_bytes=2 * CHUNK, file=WEIGHTS)
    ready(page, {"retryDelayMs": 60_000})
    page.evaluate("(id) => { void window.turbodraft.models.download(id); }", SYNTHETIC)
    page.wait_for_function("(id) => (window.turbodraft.models.snapshot()[id]?.bytesDone ?? 0) > 0", arg=SYNTHETIC)
    cancelled = page.evaluate("(id) => window.turbodraft.models.cancel(id)", SYNTHETIC)
    assert cancelled["status"] == "not-downloaded"
    assert inspect(page)["partial"] == []


# --- verification ---------------------------------------------------------------------------------------------

DAMAGED = "vae_decoder/model.onnx"

PART_BYTES = """async ([name, start, end]) => {
  const root = await navigator.storage.getDirectory();
  const partial = await (await root.getDirectoryHandle('turbodraft-models')).getDirectoryHandle('partial');
  const file = await (await partial.getFileHandle(name)).getFile();
  return Array.from(new Uint8Array(await file.slice(start, end).arrayBuffer()));
}"""


def test_a_flipped_byte_fails_its_chunk_only_that_chunk_is_fetched_again_and_it_is_never_written(
    page: Page, store_server: StoreServer
) -> None:
    damaged_file = store_server.settings.models_dir / TINY / DAMAGED
    original = damaged_file.read_bytes()
    offset = flip_byte(store_server.settings.models_dir, TINY, DAMAGED)
    bad = offset // CHUNK
    try:
        state = download(page, TINY)
        key = f"{TINY}/{DAMAGED}"
        assert state["status"] == "error"
        assert state["error"]["code"] == "integrity-mismatch"
        assert state["error"]["path"] == DAMAGED
        assert f"chunk {bad} (bytes {bad * CHUNK}-{(bad + 1) * CHUNK - 1}) sha256 mismatch" in state["error"]["message"]
        assert state["integrityFailures"] == 2
        # The bad chunk was asked for again after the first mismatch (and only it), then given up.
        ranges = [t.range or "" for t in store_server.transfers.log if t.file == key]
        assert sorted(ranges) == sorted([*chunk_ranges(len(original)), f"bytes={bad * CHUNK}-{(bad + 1) * CHUNK - 1}"])
        assert store_server.transfers.bytes_sent[key] == len(original) + CHUNK
        stored = inspect(page)
        assert stored["variants"] == []
        sha = sha256(original)
        assert sha not in stored["blobs"]
        # The verified chunks are kept for a resume; the corrupt one never reached the disk.
        assert sorted(stored["partial"]) == [f"{sha}.json", f"{sha}.part"]
        written = page.evaluate(PART_BYTES, [f"{sha}.part", 0, len(original)])
        assert bytes(written[bad * CHUNK : (bad + 1) * CHUNK]) == bytes(CHUNK)
        assert bytes(written[: bad * CHUNK]) == original[: bad * CHUNK]

        # The engine refuses it too: not stored, and the mirror's bytes fail their hash check.
        page.evaluate("() => window.turbodraft.engine.dispose()")  # no warm sessions from earlier tests
        outcome = page.evaluate(
            """() => window.turbodraft.generate({ prompt: 'x', seed: 1, model: 'tiny-sd-turbo' })
                .then(() => ({ ok: true }), (e) => ({ ok: false, code: e.code, message: e.message }))"""
        )
        assert outcome["ok"] is False
        assert "sha256 mismatch" in outcome["message"]
    finally:
        flip_byte(store_server.settings.models_dir, TINY, DAMAGED, offset)  # flips it back
    store_server.transfers.reset()
    assert download(page, TINY)["status"] == "ready"
    assert store_server.transfers.bytes_sent[f"{TINY}/{DAMAGED}"] == CHUNK  # the resume fetched the missing chunk


def test_without_chunk_hashes_a_flipped_byte_fails_the_whole_file_check_and_the_copy_is_deleted(
    page: Page, store_server: StoreServer
) -> None:
    # The path a browser takes when its source has no chunk hashes (the Hub): one stream, one sha256.
    ready(page, {"chunkHashes": False})
    offset = flip_byte(store_server.settings.models_dir, TINY, DAMAGED)
    try:
        state = download(page, TINY)
        key = f"{TINY}/{DAMAGED}"
        assert state["status"] == "error"
        assert state["error"]["code"] == "integrity-mismatch"
        assert state["error"]["path"] == DAMAGED
        assert "sha256 mismatch: the manifest says" in state["error"]["message"]
        assert state["integrityFailures"] == 2
        # Fetched again after the first mismatch (both copies whole), then given up.
        size = (store_server.settings.models_dir / TINY / DAMAGED).stat().st_size
        assert store_server.transfers.bytes_sent[key] == 2 * size
        stored = inspect(page)
        assert stored["variants"] == []
        assert stored["partial"] == []  # the corrupt copy was deleted, not kept
    finally:
        flip_byte(store_server.settings.models_dir, TINY, DAMAGED, offset)
    assert download(page, TINY)["status"] == "ready"


# --- storage --------------------------------------------------------------------------------------------------


def test_too_little_quota_is_a_clear_error_before_any_byte_is_written(page: Page, store_server: StoreServer) -> None:
    ready(page, {"storageEstimate": {"quota": 600_000, "usage": 100_000}})
    state = download(page, SYNTHETIC)

    assert state["status"] == "error"
    assert state["error"]["code"] == "quota-exceeded"
    needed = SYNTHETIC_SIZE + len(b'{"layers": 2}')
    assert f"needs {needed} bytes" in state["error"]["message"]
    assert "only 500000 bytes" in state["error"]["message"]
    assert store_server.transfers.total_bytes() == 0
    assert inspect(page) == {"blobs": [], "partial": [], "variants": []}


def test_persistent_storage_is_requested_and_its_answer_reported(page: Page) -> None:
    download(page, SYNTHETIC)
    assert page.evaluate("() => window.turbodraft.models.persisted()") in (True, False)


def test_a_new_manifest_revision_downloads_only_the_changed_files(page: Page, store_server: StoreServer) -> None:
    first = download(page, SYNTHETIC)
    old_weights = next(f["sha256"] for f in first["files"] if f["path"] == "weights.bin")
    try:
        (store_server.synthetic_dir / "config.json").write_bytes(b'{"layers": 3}')
        listed = {v["id"]: v for v in page.evaluate("() => window.turbodraft.models.list()")}
        assert listed[SYNTHETIC]["state"]["updateAvailable"] is True
        store_server.transfers.reset()

        second = download(page, SYNTHETIC)

        assert second["status"] == "ready" and second["updateAvailable"] is False
        assert dict(store_server.transfers.bytes_sent) == {f"{SYNTHETIC}/config.json": len(b'{"layers": 3}')}
        blobs = inspect(page)["blobs"]
        assert sorted(blobs) == sorted([old_weights, sha256(b'{"layers": 3}')])  # the old config is gone
    finally:
        write_synthetic(store_server.synthetic_dir)


# --- servers that do Range wrong ------------------------------------------------------------------------------


def test_a_server_that_ignores_range_restarts_the_file_and_still_verifies(
    page: Page, store_server: StoreServer
) -> None:
    ready(page, {"manifestUrl": "/quirky/manifest.json"})
    store_server.quirky.requests.clear()
    state = download(page, "no-range")
    assert state["status"] == "ready", state["error"]
    assert state["bytesDone"] == SYNTHETIC_SIZE
    # The first answer was the whole file: taken as it is, not asked for again chunk by chunk.
    assert [r[2] for r in store_server.quirky.requests] == [200]


def test_a_server_that_ignores_range_is_downloaded_whole_even_with_chunk_hashes(
    page: Page, store_server: StoreServer
) -> None:
    ready(page, {"manifestUrl": "/quirky/manifest.json"})
    store_server.quirky.requests.clear()
    state = download(page, "no-range-chunked")
    assert state["status"] == "ready", state["error"]
    assert state["bytesDone"] == SYNTHETIC_SIZE
    # The chunk requests in flight got whole files (dropped); then one whole-file download, checked as a whole.
    assert [r[2] for r in store_server.quirky.requests] == [200] * len(store_server.quirky.requests)
    assert 2 <= len(store_server.quirky.requests) <= 1 + TEST_SETTINGS["parallelChunks"]


def test_a_416_answer_restarts_the_file_from_zero(page: Page, store_server: StoreServer) -> None:
    ready(page, {"manifestUrl": "/quirky/manifest.json"})
    store_server.quirky.requests.clear()
    store_server.quirky.refused_once = False
    state = download(page, "range-416")
    assert state["status"] == "ready", state["error"]
    statuses = [(r[1], r[2]) for r in store_server.quirky.requests]
    refused = statuses.index(next(s for s in statuses if s[1] == 416))
    assert statuses[refused + 1][0] == f"bytes=0-{CHUNK - 1}"


# --- the progress UI ------------------------------------------------------------------------------------------


def test_the_progress_ui_asks_consent_then_shows_the_download_ready(
    store_page: tuple[Page, PageErrors], store_server: StoreServer
) -> None:
    page, _ = store_page
    page.evaluate("() => window.turbodraft.models.clear()")
    page.goto(store_server.running.url + "/?consentAbove=1")
    ready(page)
    row = page.get_by_test_id(f"model-{SYNTHETIC}")
    row.get_by_role("button", name="Download").click()
    dialog = row.get_by_role("dialog", name="Confirm download")
    assert "976.6 KiB" in dialog.inner_text()
    assert row.get_attribute("data-status") == "not-downloaded"  # nothing starts before consent
    dialog.get_by_role("button", name="Download 976.6 KiB").click()
    page.wait_for_selector(f"[data-testid=model-{SYNTHETIC}][data-status=ready]")
    assert "Ready" in row.inner_text()
    assert "Storage:" in row.get_by_test_id("persisted").inner_text()
    screenshot(page, "model-store-ready")
    row.get_by_role("button", name="Remove").click()
    page.wait_for_selector(f"[data-testid=model-{SYNTHETIC}][data-status=not-downloaded]")


def test_the_progress_ui_shows_an_error_in_words(
    store_page: tuple[Page, PageErrors], store_server: StoreServer
) -> None:
    page, _ = store_page
    page.evaluate("() => window.turbodraft.models.clear()")
    page.goto(store_server.running.url + "/")
    ready(page, {"storageEstimate": {"quota": 1000, "usage": 0}})
    row = page.get_by_test_id(f"model-{SYNTHETIC}")
    row.get_by_role("button", name="Download").click()
    alert = row.get_by_role("alert")
    alert.wait_for()
    assert "not enough storage" in alert.inner_text()
    screenshot(page, "model-store-quota-error")
    json.dumps(page.evaluate("() => window.turbodraft.models.snapshot()"))
