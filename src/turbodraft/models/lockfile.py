"""The lock file of one mirrored variant: what `turbodraft models pull` fetched, from where, with what hash.

The manifest may leave a file's size and sha256 open (the real models are too big to hash in CI); the lock
file records what a pull actually verified, so later `verify` runs and the gateway's ETags have a fixed
reference, plus per-chunk sha256s taken in the same pass (what browsers verify Range responses with). It is
written last, atomically, so its presence means "every listed file was fetched and
verified".
"""

from __future__ import annotations

import os
import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from turbodraft.models.chunk_hashes import FileChunks

LOCK_SUFFIX = ".lock.json"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class LockFileError(ValueError):
    """A lock file exists but cannot be read as one."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BuiltFrom(_Frozen):
    """Where a derived variant's file came from: the public input (at a commit, with its sha256) and how it was
    made of it; `tool` names the recipe and library versions a rebuild must match (empty for `copy`)."""

    op: str
    repo: str
    path: str
    commit: str
    sha256: str
    tool: str = ""


class LockedFile(_Frozen):
    path: str
    size: int = Field(ge=0)
    sha256: str
    #: Hub repository and commit the bytes came from; None for files copied from a directory.
    repo: str | None = None
    commit: str | None = None
    #: Chunk hashes from the pass that verified `sha256`; None in locks written before they existed.
    chunks: FileChunks | None = None
    #: Derived variants: the input and the build this file was made by.
    built_from: BuiltFrom | None = None

    @field_validator("path")
    @classmethod
    def _inside(cls, value: str) -> str:
        # The gateway serves exactly these paths: a hand-edited lock must not reach outside the mirror.
        parts = value.split("/")
        if value.startswith("/") or "\\" in value or any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"{value!r} is not a relative path inside the mirror")
        return value

    @field_validator("sha256")
    @classmethod
    def _hex(cls, value: str) -> str:
        if not _SHA256.match(value):
            raise ValueError("sha256 must be 64 lowercase hex digits")
        return value

    @model_validator(mode="after")
    def _chunks_cover_the_file(self) -> LockedFile:
        if self.chunks is not None and not self.chunks.covers(self.size):
            raise ValueError(f"{self.path}: the chunk hashes do not cover its {self.size} bytes")
        return self


class HubOrigin(_Frozen):
    kind: Literal["huggingface"] = "huggingface"
    endpoint: str
    repo: str
    #: As the manifest names it (often a branch)...
    revision: str
    #: ...and the commit it resolved to, which every file of the variant was fetched at.
    commit: str


class DirectoryOrigin(_Frozen):
    kind: Literal["directory"] = "directory"
    path: str


class InputCommit(_Frozen):
    repo: str
    revision: str
    commit: str


class DerivedOrigin(_Frozen):
    """A variant built by the pull from public files: the endpoint and the commit each input repo resolved to."""

    kind: Literal["derived"] = "derived"
    endpoint: str
    inputs: list[InputCommit]


class LockFile(_Frozen):
    schema_version: Literal[1] = 1
    variant: str
    origin: HubOrigin | DirectoryOrigin | DerivedOrigin = Field(discriminator="kind")
    pulled_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    files: list[LockedFile]

    def file(self, path: str) -> LockedFile | None:
        return next((f for f in self.files if f.path == path), None)

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files)


def lock_path(models_dir: Path, variant_id: str) -> Path:
    """Beside, not inside, the variant's directory: no served path can ever name it."""
    return models_dir / f"{variant_id}{LOCK_SUFFIX}"


def read_lock(models_dir: Path, variant_id: str) -> LockFile | None:
    path = lock_path(models_dir, variant_id)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        lock = LockFile.model_validate_json(text)
    except ValidationError as exc:
        raise LockFileError(f"{path}: not a valid lock file ({exc.error_count()} errors): {exc}") from exc
    if lock.variant != variant_id:
        raise LockFileError(f"{path}: records variant {lock.variant!r}, expected {variant_id!r}")
    return lock


def write_lock(models_dir: Path, lock: LockFile) -> Path:
    """Write atomically (temp file + rename) so a crash never leaves a half-written lock that looks valid."""
    return _write_atomically(lock_path(models_dir, lock.variant), lock.model_dump_json(indent=2) + "\n")


def _write_atomically(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


# --- build records: the hash each derived file had when it was first built --------------------------------

BUILDS_SUFFIX = ".builds.json"


class BuildRecord(_Frozen):
    """One build's result: a later build of the same input with the same tools must give these bytes."""

    path: str
    op: str
    input_sha256: str
    tool: str
    sha256: str
    size: int = Field(ge=0)
    built_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    def same_build(self, path: str, op: str, input_sha256: str, tool: str) -> bool:
        return (self.path, self.op, self.input_sha256, self.tool) == (path, op, input_sha256, tool)


class BuildRecords(_Frozen):
    schema_version: Literal[1] = 1
    variant: str
    builds: list[BuildRecord] = Field(default_factory=list)

    def find(self, path: str, op: str, input_sha256: str, tool: str) -> BuildRecord | None:
        return next((b for b in self.builds if b.same_build(path, op, input_sha256, tool)), None)


def builds_path(models_dir: Path, variant_id: str) -> Path:
    """Beside the lock file, and kept by `models rm`: a rebuild after a removal is still checked against it."""
    return models_dir / f"{variant_id}{BUILDS_SUFFIX}"


def read_builds(models_dir: Path, variant_id: str) -> BuildRecords:
    path = builds_path(models_dir, variant_id)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return BuildRecords(variant=variant_id)
    try:
        records = BuildRecords.model_validate_json(text)
    except ValidationError as exc:
        raise LockFileError(f"{path}: not a valid build record ({exc.error_count()} errors): {exc}") from exc
    if records.variant != variant_id:
        raise LockFileError(f"{path}: records variant {records.variant!r}, expected {variant_id!r}")
    return records


def write_builds(models_dir: Path, records: BuildRecords) -> Path:
    return _write_atomically(builds_path(models_dir, records.variant), records.model_dump_json(indent=2) + "\n")
