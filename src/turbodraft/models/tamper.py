"""Test helper: damage a mirrored file on disk so tests can check that clients notice.

Only files of a mirror in a data dir can be touched, never the repository's fixtures: the mirror's lock
file keeps announcing the pulled hash, so the damage shows up as a hash mismatch in `verify` and in browsers.
"""

from __future__ import annotations

from pathlib import Path

from turbodraft.models.local_copy import variant_dir
from turbodraft.models.lockfile import read_lock


def flip_byte(models_dir: Path, variant_id: str, path: str, offset: int | None = None) -> int:
    """XOR one byte of a mirrored file with 0xFF (the middle one by default) and return its offset.

    Size and mtime-independent checks (sha256) catch it; size checks do not, which is the point.
    """
    lock = read_lock(models_dir, variant_id)
    if lock is None or lock.file(path) is None:
        raise FileNotFoundError(f"{variant_id}/{path} is not a mirrored file under {models_dir}")
    target = variant_dir(models_dir, variant_id) / path
    size = target.stat().st_size
    if size == 0:
        raise ValueError(f"{target} is empty; there is no byte to flip")
    at = size // 2 if offset is None else offset
    if not 0 <= at < size:
        raise ValueError(f"offset {at} outside {target} ({size} bytes)")
    with target.open("r+b") as fh:
        fh.seek(at)
        original = fh.read(1)
        fh.seek(at)
        fh.write(bytes([original[0] ^ 0xFF]))
    return at
