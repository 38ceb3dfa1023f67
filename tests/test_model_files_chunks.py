"""Chunk hashes in the served manifest (`files[].chunks`), from the lock file or computed for fixtures."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from tests.conftest import start_server, stop_server
from tests.test_model_files import manifest_with_fixture
from turbodraft.config import Settings
from turbodraft.gateway.model_files import mount_model_files
from turbodraft.models.lockfile import read_lock, write_lock
from turbodraft.models.manifest import load_manifest
from turbodraft.models.mirror import pull
from turbodraft.models.tamper import flip_byte

CHUNK = 64 * 1024
UNET = random.Random(11).randbytes(200_000)


def chunk_list(content: bytes, size: int) -> list[str]:
    return [hashlib.sha256(content[i : i + size]).hexdigest() for i in range(0, len(content), size)]


def write_build(root: Path) -> Path:
    files = {"text_encoder/model.onnx": b"te" * 10, "unet/model.onnx": UNET, "vae_decoder/model.onnx": b"v"}
    for rel, content in {**files, "tokenizer.json": b"{}"}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(content)
    return root


def served_files(settings: Settings, fixture_dir: Path, variant: str, chunk_bytes: int) -> dict[str, Any]:
    app = FastAPI()
    mount_model_files(app, settings, manifest=manifest_with_fixture(fixture_dir), chunk_bytes=chunk_bytes)
    running, thread = start_server(app)
    try:
        body = httpx.get(running.url + "/models/manifest.json", timeout=30).json()
    finally:
        stop_server(running, thread)
    entry = next(v for v in body["variants"] if v["id"] == variant)
    return {f["path"]: f for f in entry["files"]}


def test_a_pulled_mirror_is_served_with_the_chunk_hashes_its_lock_recorded(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    pull(
        load_manifest().variant("sd-turbo-int8"),
        settings.models_dir,
        source_dir=write_build(tmp_path / "b"),
        chunk_bytes=CHUNK,
    )

    files = served_files(settings, write_build(tmp_path / "fixture"), "sd-turbo-int8", chunk_bytes=999_999)

    # The lock's chunk size wins over the gateway's: those hashes were taken when the file was verified.
    assert files["unet/model.onnx"]["chunks"] == {"size": CHUNK, "sha256": chunk_list(UNET, CHUNK)}
    assert files["tokenizer.json"]["chunks"] == {"size": CHUNK, "sha256": [hashlib.sha256(b"{}").hexdigest()]}


def test_a_fixture_gets_chunk_hashes_of_the_gateways_chunk_size(tmp_path: Path) -> None:
    files = served_files(Settings(data_dir=tmp_path / "data"), write_build(tmp_path / "fixture"), "test-fixture", CHUNK)

    unet = files["unet/model.onnx"]
    assert unet["chunks"] == {"size": CHUNK, "sha256": chunk_list(UNET, CHUNK)}
    assert len(unet["chunks"]["sha256"]) == -(-unet["size"] // CHUNK)


def test_a_mirror_pulled_before_chunk_hashes_existed_gets_them_computed(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    lock = pull(load_manifest().variant("sd-turbo-int8"), settings.models_dir, source_dir=write_build(tmp_path / "b"))
    write_lock(
        settings.models_dir,
        lock.model_copy(update={"files": [f.model_copy(update={"chunks": None}) for f in lock.files]}),
    )
    assert all(f.chunks is None for f in (read_lock(settings.models_dir, "sd-turbo-int8") or lock).files)

    files = served_files(settings, write_build(tmp_path / "fixture"), "sd-turbo-int8", CHUNK)

    assert files["unet/model.onnx"]["chunks"] == {"size": CHUNK, "sha256": chunk_list(UNET, CHUNK)}


def test_a_file_damaged_before_its_chunks_were_computed_is_served_without_chunks(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    lock = pull(load_manifest().variant("sd-turbo-int8"), settings.models_dir, source_dir=write_build(tmp_path / "b"))
    write_lock(
        settings.models_dir,
        lock.model_copy(update={"files": [f.model_copy(update={"chunks": None}) for f in lock.files]}),
    )
    flip_byte(settings.models_dir, "sd-turbo-int8", "unet/model.onnx")

    files = served_files(settings, write_build(tmp_path / "fixture"), "sd-turbo-int8", CHUNK)

    # Hashes of the damaged bytes would vouch for them: clients get the whole-file check instead, which fails.
    assert files["unet/model.onnx"]["chunks"] is None
    assert files["unet/model.onnx"]["sha256"] == hashlib.sha256(UNET).hexdigest()
    assert files["text_encoder/model.onnx"]["chunks"] is not None
