"""`/models/...` on a real uvicorn server: the served manifest, Range / If-Range / ETag, caching, refusals."""

from __future__ import annotations

import hashlib
import http.client
import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import RunningServer, start_server, stop_server
from turbodraft.config import Settings
from turbodraft.gateway.model_files import IMMUTABLE, MANIFEST_URL, mount_model_files
from turbodraft.models.manifest import REPO_ROOT, Manifest, RepoPathSource, load_manifest
from turbodraft.models.mirror import pull

UNET = random.Random(7).randbytes(300_000)
FILES = {
    "text_encoder/model.onnx": b"text-encoder" * 100,
    "unet/model.onnx": UNET,
    "vae_decoder/model.onnx": b"vae" * 300,
    "tokenizer.json": b'{"model": {}}',
}
UNET_SHA = hashlib.sha256(UNET).hexdigest()


def write_tree(root: Path) -> Path:
    for rel, content in FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(content)
    return root


def manifest_with_fixture(fixture_dir: Path) -> Manifest:
    """The package manifest plus one fixture variant living in `fixture_dir` (never pulled)."""
    manifest = load_manifest()
    fixture = manifest.variant("tiny-sd-turbo").model_copy(
        update={
            "id": "test-fixture",
            "source": RepoPathSource(kind="repo_path", path=os.path.relpath(fixture_dir, REPO_ROOT)),
            "files": [],
        }
    )
    return manifest.model_copy(update={"variants": [*manifest.variants, fixture]})


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One gateway for the whole module: these tests only read."""
    tmp_path = tmp_path_factory.mktemp("model-files")
    settings = Settings(data_dir=tmp_path / "data")
    source = write_tree(tmp_path / "int8-build")
    pull(load_manifest().variant("sd-turbo-int8"), settings.models_dir, source_dir=source)
    app = FastAPI()
    mount_model_files(app, settings, manifest=manifest_with_fixture(write_tree(tmp_path / "fixture")))
    running, thread = start_server(app)
    try:
        yield running
    finally:
        stop_server(running, thread)


@pytest.fixture(scope="module")
def client(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


UNET_URL = f"/models/sd-turbo-int8/{UNET_SHA}/unet/model.onnx"


def raw_get(server: RunningServer, path: str) -> tuple[int, bytes]:
    """GET with the path sent byte for byte (httpx would normalise `..` segments away)."""
    parts = urlsplit(server.url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def variant_entry(client: httpx.Client, variant_id: str) -> dict[str, Any]:
    body = client.get(MANIFEST_URL).json()
    return next(v for v in body["variants"] if v["id"] == variant_id)


# --- the served manifest ---------------------------------------------------------------------------------


def test_the_manifest_gives_each_mirrored_file_its_size_sha256_and_url(client: httpx.Client) -> None:
    entry = variant_entry(client, "sd-turbo-int8")

    assert entry["mirror"]["state"] == "mirrored"
    unet = next(f for f in entry["files"] if f["path"] == "unet/model.onnx")
    assert (unet["size"], unet["sha256"], unet["url"]) == (len(UNET), UNET_SHA, UNET_URL)
    assert client.get(unet["url"]).content == UNET


def test_the_manifest_lists_an_unpulled_fixture_served_from_the_repository(client: httpx.Client) -> None:
    entry = variant_entry(client, "test-fixture")

    assert entry["mirror"]["state"] == "fixture"
    assert sorted(f["path"] for f in entry["files"]) == sorted(FILES)
    for f in entry["files"]:
        assert client.get(f["url"]).content == FILES[f["path"]]


def test_the_repository_tiny_model_is_served_without_a_pull(client: httpx.Client) -> None:
    entry = variant_entry(client, "tiny-sd-turbo")

    assert entry["mirror"]["state"] == "fixture"
    unet = next(f for f in entry["files"] if f["path"] == "unet/model.onnx")
    body = client.get(unet["url"]).content
    assert body == (REPO_ROOT / "fixtures/tiny-sd-turbo/unet/model.onnx").read_bytes()
    assert hashlib.sha256(body).hexdigest() == unet["sha256"]


def test_the_manifest_marks_absent_variants_without_urls_but_with_hub_urls(client: httpx.Client) -> None:
    entry = variant_entry(client, "sd-turbo-fp16")

    assert entry["mirror"]["state"] == "absent"
    assert all(f["url"] is None for f in entry["files"])
    urls = {f["path"]: f["hub_url"] for f in entry["files"]}
    assert urls["unet/model.onnx"].endswith("/schmuell/sd-turbo-ort-web/resolve/main/unet/model.onnx")
    assert "/Xenova/clip-vit-base-patch16/resolve/" in urls["tokenizer.json"]


def test_the_manifest_keeps_the_shared_constants(client: httpx.Client) -> None:
    body = client.get(MANIFEST_URL).json()

    assert body["families"]["sd-turbo"]["scheduler"]["timestep_spacing"] == "trailing"


def test_the_manifest_revalidates_with_its_etag(client: httpx.Client) -> None:
    first = client.get(MANIFEST_URL)
    assert first.headers["cache-control"] == "no-cache"

    again = client.get(MANIFEST_URL, headers={"If-None-Match": first.headers["etag"]})

    assert again.status_code == 304


# --- files -------------------------------------------------------------------------------------------------


def test_a_full_get_returns_the_file_with_its_sha256_as_strong_etag(client: httpx.Client) -> None:
    response = client.get(UNET_URL)

    assert response.status_code == 200
    assert response.content == UNET
    assert response.headers["etag"] == f'"{UNET_SHA}"'
    assert response.headers["content-length"] == str(len(UNET))
    assert response.headers["accept-ranges"] == "bytes"


def test_files_are_cached_as_immutable_for_a_year(client: httpx.Client) -> None:
    cache_control = client.get(UNET_URL).headers["cache-control"]

    assert cache_control == IMMUTABLE
    assert "immutable" in cache_control and "max-age=31536000" in cache_control


def test_head_gives_the_headers_without_the_body(client: httpx.Client) -> None:
    response = client.head(UNET_URL)

    assert response.status_code == 200
    assert response.headers["content-length"] == str(len(UNET))
    assert response.content == b""


def test_a_range_get_returns_206_with_content_range(client: httpx.Client) -> None:
    response = client.get(UNET_URL, headers={"Range": "bytes=1000-1999"})

    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes 1000-1999/{len(UNET)}"
    assert response.content == UNET[1000:2000]


def test_an_open_ended_range_returns_the_rest_of_the_file(client: httpx.Client) -> None:
    response = client.get(UNET_URL, headers={"Range": "bytes=250000-"})

    assert response.status_code == 206
    assert response.content == UNET[250000:]


def test_if_range_with_the_current_etag_honours_the_range(client: httpx.Client) -> None:
    response = client.get(UNET_URL, headers={"Range": "bytes=10-19", "If-Range": f'"{UNET_SHA}"'})

    assert response.status_code == 206
    assert response.content == UNET[10:20]


def test_if_range_with_a_stale_etag_returns_the_whole_file(client: httpx.Client) -> None:
    response = client.get(UNET_URL, headers={"Range": "bytes=10-19", "If-Range": '"' + "0" * 64 + '"'})

    assert response.status_code == 200
    assert response.content == UNET


def test_an_unsatisfiable_range_is_416_with_the_size(client: httpx.Client) -> None:
    response = client.get(UNET_URL, headers={"Range": f"bytes={len(UNET)}-"})

    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{len(UNET)}"


def test_if_none_match_with_the_etag_is_304(client: httpx.Client) -> None:
    response = client.get(UNET_URL, headers={"If-None-Match": f'"{UNET_SHA}"'})

    assert response.status_code == 304
    assert response.content == b""


# --- refusals ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        f"/models/sd-turbo-int8/{UNET_SHA}/../../sd-turbo-int8.lock.json",
        f"/models/sd-turbo-int8/{UNET_SHA}/..%2F..%2Fsd-turbo-int8.lock.json",
        f"/models/sd-turbo-int8/{UNET_SHA}/unet/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    ],
)
def test_path_traversal_is_refused(server: RunningServer, path: str) -> None:
    status, body = raw_get(server, path)

    assert status in (400, 404)
    assert b"root:" not in body and b"sha256" not in body


def test_an_unknown_variant_is_a_404_json_message(client: httpx.Client) -> None:
    response = client.get(f"/models/sd-turbo-fp64/{UNET_SHA}/unet/model.onnx")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert "unknown model 'sd-turbo-fp64'" in response.json()["detail"]


def test_a_variant_not_mirrored_here_is_a_404_that_says_how_to_pull_it(client: httpx.Client) -> None:
    response = client.get(f"/models/sd-turbo-fp16/{UNET_SHA}/unet/model.onnx")

    assert response.status_code == 404
    assert "turbodraft models pull sd-turbo-fp16" in response.json()["detail"]


def test_an_unknown_file_is_a_404(client: httpx.Client) -> None:
    response = client.get(f"/models/sd-turbo-int8/{UNET_SHA}/unet/weights.bin")

    assert response.status_code == 404
    assert "no file 'unet/weights.bin'" in response.json()["detail"]


def test_a_stale_content_hash_is_a_404_pointing_at_the_current_url(client: httpx.Client) -> None:
    response = client.get(f"/models/sd-turbo-int8/{'0' * 64}/unet/model.onnx")

    assert response.status_code == 404
    assert UNET_URL in response.json()["detail"]
