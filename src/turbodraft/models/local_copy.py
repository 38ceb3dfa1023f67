"""Where a variant's files are on this machine, with the hashes clients should verify them against.

Two places qualify: the data dir's mirror (a lock file records what `models pull` verified) and, for
fixture variants that were never pulled, the repository's fixtures directory itself. The recorded hash is
the *expected* one: a mirrored file damaged after the pull is still announced with its pulled hash, so
clients detect the damage.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from turbodraft.models.chunk_hashes import FileChunks
from turbodraft.models.lockfile import LockFile, read_lock
from turbodraft.models.manifest import REPO_ROOT, AnyModel, sha256_of

#: Partial downloads and editor/OS droppings that must never be listed as model files.
_SKIPPED_SUFFIXES = (".incomplete", ".tmp")


@dataclass(frozen=True)
class LocalFile:
    path: str
    size: int
    sha256: str
    location: Path
    #: The Hub commit this file was fetched at (a file from another repo has that repo's commit).
    commit: str | None = None
    #: Chunk hashes recorded by the pull; None for fixtures and older locks (the gateway computes them).
    chunks: FileChunks | None = None


@dataclass(frozen=True)
class LocalCopy:
    variant_id: str
    kind: Literal["mirror", "fixture"]
    root: Path
    files: dict[str, LocalFile]
    #: The Hub commit a mirror was pulled at; None for directory copies and fixtures.
    commit: str | None = None

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files.values())


def variant_dir(models_dir: Path, variant_id: str) -> Path:
    return models_dir / variant_id


#: Where derived variants' public inputs are downloaded before their files are built (hidden: never served).
INPUTS_DIR = ".inputs"


def inputs_dir(models_dir: Path, variant_id: str) -> Path:
    return models_dir / INPUTS_DIR / variant_id


def fixture_root(variant: AnyModel) -> Path | None:
    """The repository directory of a fixture variant; None for variants with another source."""
    if variant.source.kind != "repo_path":
        return None
    return REPO_ROOT / variant.source.path


def directory_files(root: Path) -> list[str]:
    """Every regular file under `root` as a relative POSIX path, sorted; hidden files and partials skipped."""
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith((".", "__")))
        for name in filenames:
            if name.startswith(".") or name.endswith(_SKIPPED_SUFFIXES):
                continue
            full = Path(dirpath) / name
            if full.is_file():
                found.append(PurePosixPath(full.relative_to(root)).as_posix())
    return sorted(found)


def variant_file_paths(variant: AnyModel, root: Path) -> list[str]:
    """The manifest's file list; a fixture variant may leave it empty: "whatever the directory holds"."""
    if variant.files:
        return [f.path for f in variant.files]
    return directory_files(root)


_hash_cache: dict[tuple[str, int, int, int], str] = {}
_hash_lock = threading.Lock()


def cached_sha256(path: Path) -> str:
    """sha256 of a file, remembered while its size, mtime and inode stay (fixtures are re-served often)."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns, st.st_ino)
    with _hash_lock:
        known = _hash_cache.get(key)
    if known is not None:
        return known
    digest = sha256_of(path)
    with _hash_lock:
        _hash_cache[key] = digest
    return digest


def _from_lock(lock: LockFile, root: Path) -> LocalCopy:
    files = {
        f.path: LocalFile(f.path, f.size, f.sha256, root / f.path, f.commit, f.chunks) for f in lock.files
    }
    commit = lock.origin.commit if lock.origin.kind == "huggingface" else None
    return LocalCopy(lock.variant, "mirror", root, files, commit)


def _from_fixture(variant: AnyModel, root: Path) -> LocalCopy | None:
    files: dict[str, LocalFile] = {}
    for rel in variant_file_paths(variant, root):
        location = root / rel
        if not location.is_file():
            # A fixture with a listed file missing is not servable as a whole.
            return None
        listed = next((f for f in variant.files if f.path == rel), None)
        sha = listed.sha256 if listed is not None and listed.sha256 else cached_sha256(location)
        files[rel] = LocalFile(rel, location.stat().st_size, sha, location)
    if not files:
        return None
    return LocalCopy(variant.id, "fixture", root, files)


def locate(variant: AnyModel, models_dir: Path) -> LocalCopy | None:
    """The copy clients get: the mirror when pulled, else a fixture's repo directory, else None."""
    lock = read_lock(models_dir, variant.id)
    if lock is not None:
        return _from_lock(lock, variant_dir(models_dir, variant.id))
    root = fixture_root(variant)
    if root is not None and root.is_dir():
        return _from_fixture(variant, root)
    return None
