"""Chunk hashes: taken by `models pull` in the pass that verifies each file, and recorded in the lock file."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pytest
from pydantic import ValidationError

from tests.hub_server import HubServer
from tests.test_mirror_hub import GRAPHS, REPO, TOKENIZER, TOKENIZER_REPO, hub_variant
from tests.test_mirror_local import fixture_variant, write_tree
from turbodraft.models.chunk_hashes import ChunkHasher, FileChunks, hash_file
from turbodraft.models.lockfile import LockedFile, read_lock
from turbodraft.models.mirror import pull

CHUNK = 100_000


def expected_chunks(content: bytes, size: int = CHUNK) -> list[str]:
    return [hashlib.sha256(content[i : i + size]).hexdigest() for i in range(0, len(content), size)]


def test_chunk_hashes_cover_the_file_with_a_shorter_last_chunk(tmp_path: Path) -> None:
    content = random.Random(1).randbytes(2 * CHUNK + 123)
    (tmp_path / "f").write_bytes(content)

    whole, chunks = hash_file(tmp_path / "f", CHUNK)

    assert whole == hashlib.sha256(content).hexdigest()
    assert chunks == FileChunks(size=CHUNK, sha256=expected_chunks(content))
    assert len(chunks.sha256) == 3 and chunks.covers(len(content))


def test_chunk_hashes_do_not_depend_on_how_the_bytes_were_fed() -> None:
    content = random.Random(2).randbytes(3 * CHUNK)
    whole = ChunkHasher(CHUNK)
    whole.update(content)
    pieces = ChunkHasher(CHUNK)
    for start in range(0, len(content), 7_777):
        pieces.update(content[start : start + 7_777])
    assert pieces.chunks() == whole.chunks()
    assert whole.chunks() == FileChunks(size=CHUNK, sha256=expected_chunks(content))  # exact boundary: no empty tail


def test_an_empty_file_has_no_chunks() -> None:
    hasher = ChunkHasher(CHUNK)
    hasher.update(b"")
    assert hasher.chunks() is None


def test_a_lock_entry_whose_chunks_do_not_cover_the_file_is_rejected() -> None:
    chunks = FileChunks(size=CHUNK, sha256=["0" * 64])
    with pytest.raises(ValidationError, match="do not cover"):
        LockedFile(path="a.onnx", size=CHUNK + 1, sha256="0" * 64, chunks=chunks)


def test_a_directory_pull_records_chunk_hashes_in_the_lock(tmp_path: Path) -> None:
    files = {"unet/model.onnx": random.Random(3).randbytes(250_000), "tokenizer.json": b"{}"}
    source = write_tree(tmp_path / "source", files)

    pull(fixture_variant(source), tmp_path / "models", chunk_bytes=CHUNK)

    lock = read_lock(tmp_path / "models", "test-fixture")
    assert lock is not None
    for path, content in files.items():
        locked = lock.file(path)
        assert locked is not None and locked.chunks is not None
        assert locked.chunks.sha256 == expected_chunks(content)


def test_a_hub_pull_records_chunk_hashes_of_the_verified_bytes(tmp_path: Path) -> None:
    with HubServer.running() as hub:
        hub.add_commit(REPO, GRAPHS)
        hub.add_commit(TOKENIZER_REPO, {"tokenizer.json": TOKENIZER})
        lock = pull(hub_variant(), tmp_path / "models", endpoint=hub.url, chunk_bytes=1024 * 1024)

    unet = lock.file("unet/model.onnx")
    assert unet is not None and unet.chunks is not None
    assert unet.chunks.sha256 == expected_chunks(GRAPHS["unet/model.onnx"], 1024 * 1024)
    assert len(unet.chunks.sha256) == 12
