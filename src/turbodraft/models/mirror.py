"""The gateway's model mirror: pull a manifest variant into the data dir, verify it, list and remove mirrors.

Layout under `models_dir`:
    <variant>/<path>            the files (where `manifest.local_model_dir` expects them)
    <variant>/<path>.<etag>.incomplete   a partial download, resumed by the next pull
    <variant>.lock.json         what the pull verified (see lockfile.py); written last

Hub downloads use huggingface_hub's own pieces (URL building, the metadata HEAD, and `http_get`, which
retries a broken transfer with a Range request) rather than `hf_hub_download`: since huggingface_hub 2.x that
deletes its partial file when a download fails, so a Ctrl-C on a 1.7 GB UNet would start over. Keeping the
partial file ourselves, keyed by the Hub's ETag so bytes of another file version are never appended to,
makes the next `pull` resume it.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import httpx2
from filelock import FileLock, Timeout
from huggingface_hub import constants, get_hf_file_metadata, hf_hub_url
from huggingface_hub.errors import RemoteEntryNotFoundError
from huggingface_hub.file_download import http_get
from huggingface_hub.utils import build_hf_headers  # type: ignore[attr-defined]  # public, re-exported untyped
from huggingface_hub.utils.tqdm import tqdm as hf_tqdm

from turbodraft.models.chunk_hashes import DEFAULT_CHUNK_BYTES, ChunkHasher
from turbodraft.models.local_copy import (
    directory_files,
    fixture_root,
    inputs_dir,
    locate,
    variant_dir,
    variant_file_paths,
)
from turbodraft.models.lockfile import (
    DirectoryOrigin,
    HubOrigin,
    LockedFile,
    LockFile,
    LockFileError,
    lock_path,
    read_lock,
    write_lock,
)
from turbodraft.models.manifest import (
    AnyModel,
    Family,
    HuggingFaceSource,
    Manifest,
    ModelFile,
    ModelVariant,
    load_manifest,
)

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_VARIANT_ID = re.compile(r"^[a-z0-9][a-z0-9.-]*$")
_PARTIAL = ".incomplete"
_READ_CHUNK = 1 << 20

# http_get reads (and writes, and reports progress) in DOWNLOAD_CHUNK_SIZE pieces, 10 MiB by default: at a slow
# 300 KB/s that is a progress update every 30 s and up to 10 MiB fetched twice after a break. 1 MiB keeps the
# gateway's pull progress (and the CLI's bars) moving and loses at most 1 MiB per break.
constants.DOWNLOAD_CHUNK_SIZE = _READ_CHUNK


class MirrorError(Exception):
    """A pull, verify or remove that cannot be done; the message says why and what to do."""


class SourceUnavailable(MirrorError):
    """The variant's files cannot be fetched from where the manifest (or --from) points."""


class FileNotOnHub(SourceUnavailable):
    """The Hub has the repository and revision but not this file."""


class IntegrityError(MirrorError):
    """Fetched bytes differ from what the manifest or the Hub says they must be; nothing was kept."""

    def __init__(self, path: str, what: str, expected: str, actual: str) -> None:
        super().__init__(
            f"{path}: {what} mismatch: expected {expected}, got {actual}; the download was discarded"
        )
        self.path = path
        self.expected = expected
        self.actual = actual


class NotMirrored(MirrorError):
    def __init__(self, variant_id: str) -> None:
        super().__init__(f"{variant_id} is not mirrored; run `turbodraft models pull {variant_id}`")
        self.variant_id = variant_id


class Progress(Protocol):
    """Byte progress of one labelled job (download, copy, hash); `advance` goes negative on a restart."""

    def expect(self, label: str, total: int | None, completed: int = 0) -> None:
        """A transfer the pull will make (or `completed` = `total`: a file it keeps), announced once the Hub has
        been asked for every file's size and before any transfer begins, so overall progress has its total."""

    def begin(self, label: str, total: int | None, completed: int = 0) -> None: ...

    def advance(self, label: str, amount: int) -> None: ...

    def end(self, label: str) -> None: ...


class _NoProgress:
    def expect(self, label: str, total: int | None, completed: int = 0) -> None:
        pass

    def begin(self, label: str, total: int | None, completed: int = 0) -> None:
        pass

    def advance(self, label: str, amount: int) -> None:
        pass

    def end(self, label: str) -> None:
        pass


def _tqdm_bridge(progress: Progress, label: str) -> type[hf_tqdm]:
    """A silent tqdm class for `http_get` that forwards its byte counts to our progress display."""

    class _Bridge(hf_tqdm):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]

        def update(self, n: float | None = 1) -> bool | None:
            progress.advance(label, int(n or 0))
            return None

    return _Bridge


# --- hashing and copying ---------------------------------------------------------------------------------


class _Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...

    def hexdigest(self) -> str: ...


def hash_file_with_progress(path: Path, progress: Progress, label: str, digest: _Hasher | None = None) -> str:
    """sha256 of the file; a ChunkHasher passed as `digest` also collects the chunk hashes in the same pass."""
    digest = digest or hashlib.sha256()
    progress.begin(label, path.stat().st_size)
    with path.open("rb") as fh:
        while chunk := fh.read(_READ_CHUNK):
            digest.update(chunk)
            progress.advance(label, len(chunk))
    progress.end(label)
    return digest.hexdigest()


def _copy_hashing(src: Path, dst: Path, progress: Progress, label: str, digest: _Hasher) -> str:
    """Copy and hash in one read pass (fixtures and --from directories may hold multi-GB graphs)."""
    progress.begin(label, src.stat().st_size)
    with src.open("rb") as fin, dst.open("wb") as fout:
        while chunk := fin.read(_READ_CHUNK):
            digest.update(chunk)
            fout.write(chunk)
            progress.advance(label, len(chunk))
    progress.end(label)
    return digest.hexdigest()


def _check_expected(path: str, model_file: ModelFile | None, size: int, sha: str) -> None:
    if model_file is None:
        return
    if model_file.size is not None and model_file.size != size:
        raise IntegrityError(path, "size", str(model_file.size), str(size))
    if model_file.sha256 is not None and model_file.sha256 != sha:
        raise IntegrityError(path, "sha256", model_file.sha256, sha)


def _drop_partials(dest: Path, keep: Path | None = None) -> None:
    for stale in dest.parent.glob(f"{_glob_escape(dest.name)}.*{_PARTIAL}"):
        if stale != keep:
            stale.unlink(missing_ok=True)


def _glob_escape(name: str) -> str:
    return re.sub(r"([\[\]*?])", r"[\1]", name)


# --- pulling ---------------------------------------------------------------------------------------------


@dataclass
class HubFile:
    model_file: ModelFile
    repo: str
    remote_path: str
    commit: str
    url: str
    etag: str | None
    size: int | None


@dataclass
class HubPull:
    """One pull from a Hub endpoint; `endpoint=None` means huggingface_hub's default (HF_ENDPOINT)."""

    endpoint: str | None = None
    token: str | bool | None = None
    progress: Progress = field(default_factory=_NoProgress)
    chunk_bytes: int = DEFAULT_CHUNK_BYTES
    _commits: dict[tuple[str, str], str] = field(default_factory=dict)

    @property
    def endpoint_url(self) -> str:
        return (self.endpoint or constants.ENDPOINT).rstrip("/")

    def _head(self, repo: str, path: str, revision: str) -> tuple[str, Any]:
        url = hf_hub_url(repo, path, revision=revision, endpoint=self.endpoint_url)
        try:
            meta = get_hf_file_metadata(
                url, token=self.token, endpoint=self.endpoint_url, retry_on_errors=True
            )
        except RemoteEntryNotFoundError as exc:
            raise FileNotOnHub(f"{repo}@{revision} has no file {path!r} on {self.endpoint_url}") from exc
        except (OSError, httpx2.HTTPError) as exc:
            raise SourceUnavailable(f"cannot reach {url}: {exc}") from exc
        return url, meta

    def resolve(self, repo: str, revision: str, probe_path: str) -> str:
        """The commit a branch or tag points at now; every file is then fetched at that commit."""
        if _COMMIT.match(revision):
            return revision
        key = (repo, revision)
        if key not in self._commits:
            _, meta = self._head(repo, probe_path, revision)
            if not meta.commit_hash or not _COMMIT.match(meta.commit_hash):
                raise SourceUnavailable(f"{self.endpoint_url}: no X-Repo-Commit for {repo}@{revision}")
            self._commits[key] = meta.commit_hash
        return self._commits[key]

    def describe(self, model_file: ModelFile, source: HuggingFaceSource) -> HubFile:
        if model_file.origin is not None:
            origin = model_file.origin
            return self.describe_at(model_file, origin.repo, origin.revision, origin.path)
        return self.describe_at(model_file, source.repo, source.revision, model_file.path)

    def describe_at(self, model_file: ModelFile, repo: str, revision: str, remote: str) -> HubFile:
        """`remote` in `repo` at the commit `revision` resolves to (HEAD requests only, nothing downloaded)."""
        commit = self.resolve(repo, revision, remote)
        url, meta = self._head(repo, remote, commit)
        return HubFile(model_file, repo, remote, commit, meta.location or url, meta.etag, meta.size)

    def download(self, hub_file: HubFile, dest: Path) -> LockedFile:
        path = hub_file.model_file.path
        manifest_size = hub_file.model_file.size
        if manifest_size is not None and hub_file.size is not None and manifest_size != hub_file.size:
            raise IntegrityError(path, "size (Hub vs manifest)", str(manifest_size), str(hub_file.size))
        size = manifest_size if manifest_size is not None else hub_file.size
        # For LFS files the Hub's ETag is the content's sha256: a check even where the manifest has none.
        hub_sha = hub_file.etag if hub_file.etag and _SHA256.match(hub_file.etag) else None
        manifest_sha = hub_file.model_file.sha256
        if manifest_sha and hub_sha and manifest_sha != hub_sha:
            raise IntegrityError(path, "sha256 (Hub vs manifest)", manifest_sha, hub_sha)
        expected_sha = manifest_sha or hub_sha

        dest.parent.mkdir(parents=True, exist_ok=True)
        tag = re.sub(r"[^0-9A-Za-z]", "", hub_file.etag or "")[:16] or "noetag"
        partial = dest.with_name(f"{dest.name}.{tag}{_PARTIAL}")
        _drop_partials(dest, keep=partial)
        for attempt in (1, 2):
            resumed = partial.stat().st_size if partial.exists() else 0
            if size is not None and resumed > size:
                partial.unlink()
                resumed = 0
            self._fetch(hub_file.url, partial, resumed, size, path)
            hasher = ChunkHasher(self.chunk_bytes)
            actual = hash_file_with_progress(partial, self.progress, f"verify {path}", hasher)
            if expected_sha is None or actual == expected_sha:
                break
            partial.unlink()
            # Bytes resumed from an earlier run may be what is wrong: one fresh attempt before giving up.
            if attempt == 2 or resumed == 0:
                raise IntegrityError(path, "sha256", expected_sha, actual)
        actual_size = partial.stat().st_size
        if size is not None and actual_size != size:
            partial.unlink()
            raise IntegrityError(path, "size", str(size), str(actual_size))
        os.replace(partial, dest)
        return LockedFile(
            path=path,
            size=actual_size,
            sha256=actual,
            repo=hub_file.repo,
            commit=hub_file.commit,
            chunks=hasher.chunks(),
        )

    def _fetch(self, url: str, partial: Path, resumed: int, size: int | None, label: str) -> None:
        self.progress.begin(label, size, resumed)
        try:
            with partial.open("ab") as fh:
                http_get(
                    url,
                    fh,
                    resume_size=resumed,
                    headers=build_hf_headers(token=self.token),
                    expected_size=size,
                    displayed_filename=label,
                    tqdm_class=_tqdm_bridge(self.progress, label),
                )
        except (OSError, httpx2.HTTPError) as exc:
            kept = partial.stat().st_size if partial.exists() else 0
            raise SourceUnavailable(
                f"{label}: download failed ({exc}); {kept} bytes kept, `pull` again resumes them"
            ) from exc
        finally:
            self.progress.end(label)


def _pull_from_hub(
    variant: AnyModel, source: HuggingFaceSource, models_dir: Path, hub: HubPull
) -> LockFile:
    root = variant_dir(models_dir, variant.id)
    previous = read_lock(models_dir, variant.id)
    required = [f for f in variant.files if f.origin is None]
    if not required:
        raise SourceUnavailable(f"{variant.id}: the manifest lists no file of {source.repo}")
    commit = hub.resolve(source.repo, source.revision, required[0].path)
    plan: list[HubFile] = []
    for model_file in variant.files:
        try:
            plan.append(hub.describe(model_file, source))
        except FileNotOnHub:
            if model_file.required:
                raise

    locked: list[LockedFile] = []
    todo: list[HubFile] = []
    for hub_file in plan:
        known = previous.file(hub_file.model_file.path) if previous else None
        dest = root / hub_file.model_file.path
        if known and known.commit == hub_file.commit and dest.is_file() and dest.stat().st_size == known.size:
            locked.append(known)
        else:
            todo.append(hub_file)
    for hub_file in plan:
        size = hub_file.size if hub_file.size is not None else hub_file.model_file.size
        kept = hub_file not in todo
        hub.progress.expect(hub_file.model_file.path, size, completed=(size or 0) if kept else 0)
    if todo:
        # Files are about to change under the old lock's hashes: stop announcing the old copy first.
        lock_path(models_dir, variant.id).unlink(missing_ok=True)
    for hub_file in todo:
        locked.append(hub.download(hub_file, root / hub_file.model_file.path))
    order = [m.path for m in variant.files]
    locked.sort(key=lambda f: order.index(f.path))
    origin = HubOrigin(endpoint=hub.endpoint_url, repo=source.repo, revision=source.revision, commit=commit)
    lock = LockFile(variant=variant.id, origin=origin, files=locked)
    write_lock(models_dir, lock)
    return lock


def _pull_from_directory(
    variant: AnyModel, src: Path, models_dir: Path, progress: Progress, chunk_bytes: int
) -> LockFile:
    if not src.is_dir():
        raise SourceUnavailable(f"{variant.id}: source directory {src} does not exist")
    listed = {f.path: f for f in variant.files}
    paths = variant_file_paths(variant, src)
    missing = [p for p in paths if not (src / p).is_file() and (p not in listed or listed[p].required)]
    if missing or not paths:
        raise SourceUnavailable(f"{variant.id}: {src} lacks {', '.join(missing) or 'any file'}")
    root = variant_dir(models_dir, variant.id)
    lock_path(models_dir, variant.id).unlink(missing_ok=True)
    locked: list[LockedFile] = []
    for rel in paths:
        if not (src / rel).is_file():
            continue  # an optional file the directory does not have
        dest = root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial = dest.with_name(f"{dest.name}.copy{_PARTIAL}")
        hasher = ChunkHasher(chunk_bytes)
        try:
            sha = _copy_hashing(src / rel, partial, progress, rel, hasher)
            size = partial.stat().st_size
            _check_expected(rel, listed.get(rel), size, sha)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        os.replace(partial, dest)
        locked.append(LockedFile(path=rel, size=size, sha256=sha, chunks=hasher.chunks()))
    # Files a previous copy had that this one does not would otherwise linger unannounced.
    for rel in set(directory_files(root)) - {f.path for f in locked}:
        (root / rel).unlink()
    lock = LockFile(variant=variant.id, origin=DirectoryOrigin(path=str(src.resolve())), files=locked)
    write_lock(models_dir, lock)
    return lock


def pull(
    variant: AnyModel,
    models_dir: Path,
    *,
    source_dir: Path | None = None,
    endpoint: str | None = None,
    token: str | bool | None = None,
    progress: Progress | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    family: Family | None = None,
) -> LockFile:
    """Mirror `variant` into `models_dir` and return the lock file written for it.

    From `source_dir` when given (any variant, e.g. one built elsewhere), else from the repository for
    fixture variants, else from the Hub at the commit the manifest's revision resolves to; a derived variant's
    files are built from their public inputs on the Hub (derived.py), with `family` (default: the packaged
    manifest's) giving the constants a build needs.
    Raises SourceUnavailable or IntegrityError; a file that fails its hash check is never left in place.
    The lock records each file's sha256 and its `chunk_bytes` chunk hashes, from the same read pass.
    """
    if chunk_bytes <= 0:
        raise MirrorError(f"chunk_bytes must be > 0, not {chunk_bytes}")
    progress = progress or _NoProgress()
    models_dir.mkdir(parents=True, exist_ok=True)
    # Two pulls of one variant would append to the same partial file; the second one is refused instead.
    guard = FileLock(pull_lock_path(models_dir, variant.id), timeout=0)
    try:
        with guard:
            return _pull(variant, models_dir, source_dir, endpoint, token, progress, chunk_bytes, family)
    except Timeout as exc:
        raise MirrorError(f"another `turbodraft models pull {variant.id}` is running") from exc


def pull_lock_path(models_dir: Path, variant_id: str) -> Path:
    return models_dir / f".{variant_id}.pull.lock"


def _pull(
    variant: AnyModel,
    models_dir: Path,
    source_dir: Path | None,
    endpoint: str | None,
    token: str | bool | None,
    progress: Progress,
    chunk_bytes: int,
    family: Family | None,
) -> LockFile:
    if source_dir is not None:
        return _pull_from_directory(variant, source_dir, models_dir, progress, chunk_bytes)
    source = variant.source
    if source.kind == "repo_path":
        root = fixture_root(variant)
        assert root is not None
        return _pull_from_directory(variant, root, models_dir, progress, chunk_bytes)
    hub = HubPull(endpoint=endpoint, token=token, progress=progress, chunk_bytes=chunk_bytes)
    if source.kind == "derived":
        from turbodraft.models.derived import pull_derived  # derived.py builds on this module

        if isinstance(variant, ModelVariant):
            family = family or load_manifest().families[variant.family]
        return pull_derived(variant, family, models_dir, hub)
    return _pull_from_hub(variant, source, models_dir, hub)


# --- verify, list, remove --------------------------------------------------------------------------------

FileState = Literal["ok", "missing", "size", "sha256"]


@dataclass(frozen=True)
class FileCheck:
    path: str
    state: FileState
    expected_size: int
    actual_size: int | None
    expected_sha256: str
    actual_sha256: str | None


@dataclass(frozen=True)
class VerifyReport:
    variant_id: str
    files: list[FileCheck]

    @property
    def ok(self) -> bool:
        return all(f.state == "ok" for f in self.files)


def verify(variant: AnyModel, models_dir: Path, *, progress: Progress | None = None) -> VerifyReport:
    """Re-hash every mirrored file against the manifest's hash, or the lock's where the manifest has none."""
    progress = progress or _NoProgress()
    lock = read_lock(models_dir, variant.id)
    if lock is None:
        raise NotMirrored(variant.id)
    root = variant_dir(models_dir, variant.id)
    checks: list[FileCheck] = []
    for locked in lock.files:
        listed = next((f for f in variant.files if f.path == locked.path), None)
        expected_sha = listed.sha256 if listed and listed.sha256 else locked.sha256
        expected_size = listed.size if listed and listed.size is not None else locked.size
        location = root / locked.path
        if not location.is_file():
            checks.append(FileCheck(locked.path, "missing", expected_size, None, expected_sha, None))
            continue
        size = location.stat().st_size
        if size != expected_size:
            checks.append(FileCheck(locked.path, "size", expected_size, size, expected_sha, None))
            continue
        sha = hash_file_with_progress(location, progress, locked.path)
        state: FileState = "ok" if sha == expected_sha else "sha256"
        checks.append(FileCheck(locked.path, state, expected_size, size, expected_sha, sha))
    return VerifyReport(variant.id, checks)


MirrorState = Literal["mirrored", "fixture", "partial", "absent", "damaged"]


@dataclass(frozen=True)
class VariantStatus:
    variant_id: str
    source: str
    dtype: str
    state: MirrorState
    size: int | None
    commit: str | None


def _state_of(variant: AnyModel, models_dir: Path) -> tuple[MirrorState, int | None, str | None]:
    try:
        copy = locate(variant, models_dir)
    except LockFileError:
        return "damaged", None, None
    if copy is not None:
        return ("mirrored" if copy.kind == "mirror" else "fixture"), copy.total_size, copy.commit
    if variant_dir(models_dir, variant.id).exists() or inputs_dir(models_dir, variant.id).exists():
        return "partial", None, None
    return "absent", None, None


def status(manifest: Manifest, models_dir: Path) -> list[VariantStatus]:
    """One row per manifest variant (canvas tool models included): mirrored, served from the repo fixtures,
    half-pulled, absent, or damaged (a lock file that cannot be read)."""
    rows: list[VariantStatus] = []
    for variant in manifest.all_models():
        state, size, commit = _state_of(variant, models_dir)
        rows.append(VariantStatus(variant.id, _describe_source(variant), variant.dtype, state, size, commit))
    return rows


def _describe_source(variant: AnyModel) -> str:
    source = variant.source
    if source.kind == "huggingface":
        return f"hf:{source.repo}@{source.revision}"
    if source.kind == "derived":
        repos = sorted({f.build.input.repo for f in variant.files if f.build is not None})
        return "built from " + ", ".join(f"hf:{r}" for r in repos)
    return f"repo:{source.path}"



def remove(models_dir: Path, variant_id: str) -> bool:
    """Delete a mirror (lock first, so the gateway stops announcing it); False when there was nothing."""
    if not _VARIANT_ID.match(variant_id):
        raise MirrorError(f"{variant_id!r} is not a variant id")
    lock = lock_path(models_dir, variant_id)
    root = variant_dir(models_dir, variant_id)
    inputs = inputs_dir(models_dir, variant_id)
    existed = lock.exists() or root.exists() or inputs.exists()
    lock.unlink(missing_ok=True)
    for tree in (root, inputs):
        if tree.exists():
            shutil.rmtree(tree)
    return existed
