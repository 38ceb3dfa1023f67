"""The test-only fault hook and byte counters of `/models/...`; how a damaged mirror looks to clients."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import RunningServer, start_server, stop_server
from turbodraft.config import Settings
from turbodraft.gateway.model_files import MANIFEST_URL, ConnectionCut, TransferCounters, mount_model_files
from turbodraft.models.lockfile import lock_path
from turbodraft.models.manifest import load_manifest
from turbodraft.models.mirror import pull
from turbodraft.models.tamper import flip_byte

UNET = random.Random(11).randbytes(400_000)
UNET_SHA = hashlib.sha256(UNET).hexdigest()
FILES = {
    "text_encoder/model.onnx": b"text-encoder" * 100,
    "unet/model.onnx": UNET,
    "vae_decoder/model.onnx": b"vae" * 300,
    "tokenizer.json": b'{"model": {}}',
}
UNET_URL = f"/models/sd-turbo-int8/{UNET_SHA}/unet/model.onnx"
UNET_KEY = "sd-turbo-int8/unet/model.onnx"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    settings = Settings(data_dir=tmp_path / "data")
    source = tmp_path / "int8-build"
    for rel, content in FILES.items():
        (source / rel).parent.mkdir(parents=True, exist_ok=True)
        (source / rel).write_bytes(content)
    pull(load_manifest().variant("sd-turbo-int8"), settings.models_dir, source_dir=source)
    return settings


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    app = FastAPI()
    mount_model_files(app, settings)
    return app


@pytest.fixture
def server(app: FastAPI) -> Iterator[RunningServer]:
    running, thread = start_server(app)
    try:
        yield running
    finally:
        stop_server(running, thread)


@pytest.fixture
def client(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


def counters(app: FastAPI) -> TransferCounters:
    found: TransferCounters = app.state.model_transfers
    return found


def fetch_until_cut(
    client: httpx.Client, url: str, headers: dict[str, str] | None = None
) -> tuple[bytes, bool]:
    """The body bytes that arrived, and whether the connection dropped before the declared length."""
    received = bytearray()
    try:
        with client.stream("GET", url, headers=headers) as response:
            for chunk in response.iter_raw():
                received += chunk
    except (httpx.RemoteProtocolError, httpx.ReadError):
        return bytes(received), True
    return bytes(received), False


def test_the_fault_hook_is_off_unless_a_test_turns_it_on(app: FastAPI, client: httpx.Client) -> None:
    assert app.state.model_faults is None

    body, cut = fetch_until_cut(client, UNET_URL)

    assert (body, cut) == (UNET, False)


def test_a_cut_drops_the_connection_after_the_given_bytes_once(app: FastAPI, client: httpx.Client) -> None:
    app.state.model_faults = ConnectionCut(after_bytes=100_000)

    first, first_cut = fetch_until_cut(client, UNET_URL)
    second, second_cut = fetch_until_cut(client, UNET_URL)

    assert first_cut and first == UNET[:100_000]
    assert not second_cut and second == UNET
    assert counters(app).cuts[UNET_KEY] == 1


def test_a_client_that_resumes_with_if_range_gets_each_byte_once(app: FastAPI, client: httpx.Client) -> None:
    app.state.model_faults = ConnectionCut(after_bytes=123_456)

    head, cut = fetch_until_cut(client, UNET_URL)
    assert cut
    rest, _ = fetch_until_cut(client, UNET_URL, {"Range": f"bytes={len(head)}-", "If-Range": f'"{UNET_SHA}"'})

    assert head + rest == UNET
    assert counters(app).bytes_sent[UNET_KEY] == len(UNET)
    assert [(t.status, t.range, t.cut) for t in counters(app).log] == [
        (200, None, True),
        (206, f"bytes={len(head)}-", False),
    ]


def test_every_k_cuts_every_kth_response(app: FastAPI, client: httpx.Client) -> None:
    app.state.model_faults = ConnectionCut(after_bytes=1000, every=2)

    outcomes = [fetch_until_cut(client, UNET_URL)[1] for _ in range(4)]

    assert outcomes == [False, True, False, True]


def test_a_cut_limited_to_one_file_spares_the_others(app: FastAPI, client: httpx.Client) -> None:
    app.state.model_faults = ConnectionCut(after_bytes=10, file="sd-turbo-int8/vae_decoder/model.onnx")

    _, unet_cut = fetch_until_cut(client, UNET_URL)
    entry = next(v for v in client.get(MANIFEST_URL).json()["variants"] if v["id"] == "sd-turbo-int8")
    vae_url = next(f["url"] for f in entry["files"] if f["path"] == "vae_decoder/model.onnx")
    _, vae_cut = fetch_until_cut(client, vae_url)

    assert (unet_cut, vae_cut) == (False, True)


def test_bytes_sent_are_counted_per_file_and_can_be_reset(app: FastAPI, client: httpx.Client) -> None:
    client.get(UNET_URL)
    client.get(UNET_URL, headers={"Range": "bytes=0-99"})
    client.head(UNET_URL)

    assert counters(app).bytes_sent[UNET_KEY] == len(UNET) + 100
    assert counters(app).responses[UNET_KEY] == 3
    counters(app).reset()
    assert counters(app).total_bytes() == 0


def test_a_flipped_byte_in_a_mirrored_file_is_served_under_the_pulled_hash(
    settings: Settings, client: httpx.Client
) -> None:
    offset = flip_byte(settings.models_dir, "sd-turbo-int8", "unet/model.onnx")

    response = client.get(UNET_URL)

    # Same URL and ETag as before the damage; only a client-side hash check can tell.
    assert response.status_code == 200
    assert response.headers["etag"] == f'"{UNET_SHA}"'
    assert hashlib.sha256(response.content).hexdigest() != UNET_SHA
    assert response.content[offset] == UNET[offset] ^ 0xFF


def test_fault_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="every"):
        ConnectionCut(after_bytes=10, every=0)
    with pytest.raises(ValueError, match="after_bytes"):
        ConnectionCut(after_bytes=-1)


def test_an_unreadable_lock_file_makes_only_that_variant_unavailable(
    settings: Settings, client: httpx.Client
) -> None:
    lock_path(settings.models_dir, "sd-turbo-int8").write_text("{not json")

    manifest = client.get(MANIFEST_URL)
    response = client.get(UNET_URL)

    assert manifest.status_code == 200
    states = {v["id"]: v["mirror"]["state"] for v in manifest.json()["variants"]}
    assert states["sd-turbo-int8"] == "damaged"
    assert response.status_code == 503
    assert "not a valid lock file" in response.json()["detail"]
