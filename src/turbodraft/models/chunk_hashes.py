"""Per-chunk sha256 of model files, so a browser can verify each Range response the moment it arrives.

A file of `n` bytes is cut into `ceil(n / size)` chunks of `size` bytes (the last one shorter); the list is
published in the served manifest beside the whole-file sha256. Chunk hashes are only ever derived in the same
read pass that produced a whole-file sha256 which was then checked (against the manifest, the Hub or the lock
file), so a verified chunk list implies the verified file: every chunk matching means the whole file matches.

Browsers check chunks with WebCrypto (native, off the JS thread, and parallel across requests); a single
streaming sha256 in wasm is several times slower than loopback delivery (docs/models.md, "Benchmark").
"""

from __future__ import annotations

import hashlib
import re
import threading
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: Bytes per chunk: one Range request each. Big enough that per-request costs vanish, small enough that a
#: broken connection or a bad chunk costs little to fetch again, and a few fit in memory at once.
DEFAULT_CHUNK_BYTES = 8 * 1024 * 1024
_READ = 1 << 20
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class FileChunks(BaseModel):
    """`sha256[i]` is the hash of bytes `[i * size, min((i + 1) * size, file size))`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    size: int = Field(gt=0)
    sha256: list[str]

    @field_validator("sha256")
    @classmethod
    def _hex(cls, value: list[str]) -> list[str]:
        if not all(_SHA256.match(h) for h in value):
            raise ValueError("every chunk sha256 must be 64 lowercase hex digits")
        return value

    def covers(self, file_size: int) -> bool:
        """Whether this list describes a file of `file_size` bytes (one hash per chunk, none missing)."""
        return len(self.sha256) == -(-file_size // self.size)


class ChunkHasher:
    """The whole-file sha256 and the per-chunk ones, from one pass over the bytes."""

    def __init__(self, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> None:
        if chunk_bytes <= 0:
            raise ValueError("chunk_bytes must be > 0")
        self.chunk_bytes = chunk_bytes
        self._whole = hashlib.sha256()
        self._chunk = hashlib.sha256()
        self._in_chunk = 0
        self._done: list[str] = []

    def update(self, data: bytes) -> None:
        self._whole.update(data)
        view = memoryview(data)
        while view:
            take = min(len(view), self.chunk_bytes - self._in_chunk)
            self._chunk.update(view[:take])
            self._in_chunk += take
            view = view[take:]
            if self._in_chunk == self.chunk_bytes:
                self._done.append(self._chunk.hexdigest())
                self._chunk = hashlib.sha256()
                self._in_chunk = 0

    def hexdigest(self) -> str:
        return self._whole.hexdigest()

    def chunks(self) -> FileChunks | None:
        """The chunk list; None for an empty file (nothing to fetch: the whole-file hash says it all)."""
        hashes = [*self._done, self._chunk.hexdigest()] if self._in_chunk else list(self._done)
        return FileChunks(size=self.chunk_bytes, sha256=hashes) if hashes else None


def hash_file(path: Path, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> tuple[str, FileChunks | None]:
    hasher = ChunkHasher(chunk_bytes)
    with path.open("rb") as fh:
        while block := fh.read(_READ):
            hasher.update(block)
    return hasher.hexdigest(), hasher.chunks()


_cache: dict[tuple[str, int, int, int, int, str], FileChunks | None] = {}
_cache_lock = threading.Lock()


def cached_chunks(path: Path, expected_sha256: str, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> FileChunks | None:
    """Chunk hashes of a file whose lock or manifest has none (a fixture, or a mirror pulled before chunk
    hashes existed), computed once per file version and chunk size.

    None when the bytes on disk no longer hash to `expected_sha256` (damaged after the pull): chunk hashes
    of damaged bytes would vouch for them, so such a file is announced without any and clients check it
    as a whole against `expected_sha256`, which fails.
    """
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns, st.st_ino, chunk_bytes, expected_sha256)
    with _cache_lock:
        if key in _cache:
            return _cache[key]
    whole, chunks = hash_file(path, chunk_bytes)
    found = chunks if whole == expected_sha256 else None
    with _cache_lock:
        _cache[key] = found
    return found
