"""`/models/...`: the model manifest and the mirrored model files, for browsers.

URL scheme:
    GET /models/manifest.json
        the package manifest, each variant's files completed with size, sha256, `url` and `chunks` (per-chunk
        sha256s, for verifying Range responses one by one) from the local copy; `no-cache` with an ETag,
        since it changes whenever a mirror does
    GET|HEAD /models/{variant}/{sha256}/{path}
        one file, content-addressed: a new file version is a new URL, so it is served `immutable` with the
        strong ETag "<sha256>"

Range, If-Range (206 vs full 200) and 416 come from Starlette's FileResponse, which streams from disk in
64 KiB chunks. The sha256 announced is the one recorded when the file was pulled (or the manifest's), not a
re-hash of the bytes on disk: a file damaged after the pull keeps its URL and clients' hash checks catch it.
Chunk hashes come from the lock file (taken by the pull in the pass that verified the file); for fixtures and
older locks they are computed on first use, once per file version, and only if the bytes still hash to the
announced sha256 (otherwise the file is announced without chunks and clients check it whole).

Fixture variants that were never pulled are served straight from the repository's fixtures directory, so
`make run` and the browser tests work without a `models pull` step and without copying at startup.

Test-only fault hook: `app.state.model_faults = ConnectionCut(after_bytes=N, every=K)` makes the server drop
the connection after N body bytes of a file response. It is None unless a test sets it; no setting enables it.
`app.state.model_transfers` (always present, cheap) counts the body bytes sent per file.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import Response
from huggingface_hub import constants as hf_constants
from huggingface_hub import hf_hub_url
from starlette.responses import FileResponse
from starlette.types import Message, Receive, Scope, Send

from turbodraft.config import Settings
from turbodraft.models.chunk_hashes import DEFAULT_CHUNK_BYTES, cached_chunks
from turbodraft.models.local_copy import LocalCopy, LocalFile, locate
from turbodraft.models.lockfile import LockFileError
from turbodraft.models.manifest import AnyModel, Manifest, UnknownModel, load_manifest

PREFIX = "/models"
MANIFEST_URL = f"{PREFIX}/manifest.json"
#: A year, the longest value caches honour; `immutable` stops revalidation on reload.
IMMUTABLE = "public, max-age=31536000, immutable"
#: The manifest changes when a mirror does: always revalidate (cheap with its ETag).
REVALIDATE = "no-cache"


# --- counters and the test-only fault hook ----------------------------------------------------------------


@dataclass(frozen=True)
class Transfer:
    """One file response, for tests that assert how a client resumed (Range) and what it got."""

    file: str
    method: str
    status: int
    range: str | None
    if_range: str | None
    body_bytes: int
    cut: bool


@dataclass
class TransferCounters:
    """Body bytes sent per file ("variant/path"), on `app.state.model_transfers`."""

    bytes_sent: Counter[str] = field(default_factory=Counter)
    responses: Counter[str] = field(default_factory=Counter)
    cuts: Counter[str] = field(default_factory=Counter)
    #: The last responses, oldest first; bounded because the counters are on in production too.
    log: deque[Transfer] = field(default_factory=lambda: deque(maxlen=1000))

    def total_bytes(self) -> int:
        return sum(self.bytes_sent.values())

    def reset(self) -> None:
        self.bytes_sent.clear()
        self.responses.clear()
        self.cuts.clear()
        self.log.clear()


@dataclass
class ConnectionCut:
    """Drop the connection after `after_bytes` body bytes of a matching GET response.

    `every=None` cuts only the first matching response; `every=K` cuts the K-th, 2K-th, ... ones.
    `file` ("variant/path") limits it to one file; None matches every model file.
    """

    after_bytes: int
    every: int | None = None
    file: str | None = None
    matched: int = 0
    done: int = 0

    def __post_init__(self) -> None:
        if self.after_bytes < 0:
            raise ValueError("after_bytes must be >= 0")
        if self.every is not None and self.every < 1:
            raise ValueError("every must be >= 1")

    def limit_for(self, file: str) -> int | None:
        if self.file is not None and self.file != file:
            return None
        self.matched += 1
        hit = self.matched == 1 if self.every is None else self.matched % self.every == 0
        return self.after_bytes if hit else None


class InjectedConnectionCut(Exception):
    """Raised inside a response to make the ASGI server drop the connection (the fault hook's doing)."""


class _MeteredFileResponse(FileResponse):
    def __init__(
        self,
        path: Path,
        *,
        file: str,
        counters: TransferCounters,
        cut: ConnectionCut | None,
        headers: dict[str, str],
        media_type: str,
    ) -> None:
        super().__init__(path, headers=headers, media_type=media_type)
        self._file = file
        self._counters = counters
        self._cut = cut

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = str(scope.get("method", "GET")).upper()
        limit = self._cut.limit_for(self._file) if self._cut is not None and method == "GET" else None
        counters, file = self._counters, self._file
        request_headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
        sent = 0
        status = 0
        logged = False

        def log(cut: bool) -> None:
            # Logged before the last bytes leave, so a test that has read the response also sees the entry.
            nonlocal logged
            if not logged:
                logged = True
                counters.log.append(
                    Transfer(
                        file,
                        method,
                        status,
                        request_headers.get("range"),
                        request_headers.get("if-range"),
                        sent,
                        cut,
                    )
                )

        async def metered_send(message: Message) -> None:
            nonlocal sent, status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body":
                body: bytes = message.get("body", b"")
                if limit is not None and sent + len(body) > limit:
                    head = body[: limit - sent]
                    sent += len(head)
                    counters.bytes_sent[file] += len(head)
                    counters.cuts[file] += 1
                    log(cut=True)
                    if head:
                        await send({"type": "http.response.body", "body": head, "more_body": True})
                    raise InjectedConnectionCut(f"fault hook: cut {file} after {limit} bytes")
                sent += len(body)
                counters.bytes_sent[file] += len(body)
                if not message.get("more_body", False):
                    log(cut=False)
            await send(message)

        # pathsend would hand the whole file to the server and bypass the byte counting.
        extensions = {k: v for k, v in scope.get("extensions", {}).items() if k != "http.response.pathsend"}
        counters.responses[file] += 1
        try:
            await super().__call__({**scope, "extensions": extensions}, receive, metered_send)
        finally:
            log(cut=False)  # a client that went away mid-file


# --- the served manifest -----------------------------------------------------------------------------------


def file_url(variant_id: str, sha256: str, path: str) -> str:
    return f"{PREFIX}/{variant_id}/{sha256}/{quote(path)}"


def _hub_url(variant: AnyModel, path: str, copy: LocalCopy | None, hub_endpoint: str) -> str | None:
    """Where a browser configured for the Hub fetches the same file: the pulled commit when known."""
    source = variant.source
    if source.kind != "huggingface":
        return None
    listed = next((f for f in variant.files if f.path == path), None)
    if listed is not None and listed.origin is not None:
        repo, revision, remote = listed.origin.repo, listed.origin.revision, listed.origin.path
    else:
        repo, revision, remote = source.repo, source.revision, path
    local = copy.files.get(path) if copy is not None else None
    if local is not None and local.commit is not None:
        revision = local.commit
    return hf_hub_url(repo, remote, revision=revision, endpoint=hub_endpoint)


def _served_chunks(local: LocalFile, chunk_bytes: int) -> dict[str, Any] | None:
    chunks = local.chunks
    if chunks is None and local.size > 0:
        try:
            chunks = cached_chunks(local.location, local.sha256, chunk_bytes)
        except OSError:
            chunks = None  # missing from the mirror: its GET says so
    if chunks is None or not chunks.covers(local.size):
        return None
    return chunks.model_dump(mode="json")


def served_variant(
    variant: AnyModel, models_dir: Path, hub_endpoint: str, chunk_bytes: int = DEFAULT_CHUNK_BYTES
) -> dict[str, Any]:
    body: dict[str, Any] = variant.model_dump(mode="json")
    try:
        copy = locate(variant, models_dir)
        state = ("mirrored" if copy.kind == "mirror" else "fixture") if copy else "absent"
    except LockFileError:
        # One unreadable lock file must not take the whole manifest down; that variant is just unavailable.
        copy, state = None, "damaged"
    listed = {f["path"]: f for f in body["files"]}
    paths = list(listed) or (sorted(copy.files) if copy else [])
    files: list[dict[str, Any]] = []
    for path in paths:
        entry = dict(listed.get(path, {"path": path, "required": True, "origin": None}))
        local = copy.files.get(path) if copy else None
        if local is not None:
            entry["size"], entry["sha256"] = local.size, local.sha256
        entry.setdefault("size", None)
        entry.setdefault("sha256", None)
        entry["url"] = file_url(variant.id, local.sha256, path) if local is not None else None
        entry["chunks"] = _served_chunks(local, chunk_bytes) if local is not None else None
        entry["hub_url"] = _hub_url(variant, path, copy, hub_endpoint)
        files.append(entry)
    body["files"] = files
    body["mirror"] = {
        "state": state,
        "commit": copy.commit if copy else None,
        "total_size": copy.total_size if copy else None,
    }
    return body


def served_manifest(
    manifest: Manifest, models_dir: Path, hub_endpoint: str, chunk_bytes: int = DEFAULT_CHUNK_BYTES
) -> dict[str, Any]:
    body: dict[str, Any] = manifest.model_dump(mode="json")
    # Canvas tool models are served as variants too (they carry a `tool` field): the browser store downloads
    # any variant by id, so tools get the same resumable, verified, offline copies as drafts.
    body.pop("tools", None)
    body["variants"] = [served_variant(v, models_dir, hub_endpoint, chunk_bytes) for v in manifest.all_models()]
    return body


# --- routes ------------------------------------------------------------------------------------------------


def _not_found(message: str) -> HTTPException:
    return HTTPException(status_code=404, detail=message)


def _safe_relative(path: str) -> bool:
    if not path or path.startswith("/") or "\\" in path or "\x00" in path:
        return False
    return all(part not in ("", ".", "..") for part in path.split("/"))


def _contained(location: Path, root: Path) -> bool:
    try:
        return location.resolve(strict=False).is_relative_to(root.resolve(strict=False))
    except (OSError, RuntimeError):  # a symlink loop
        return False


def _etag_matches(if_none_match: str | None, etag: str) -> bool:
    if if_none_match is None:
        return False
    candidates = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in candidates or etag in candidates


def model_files_router(
    manifest: Manifest, models_dir: Path, hub_endpoint: str, chunk_bytes: int = DEFAULT_CHUNK_BYTES
) -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["models"])

    # Sync handlers: FastAPI runs them in its thread pool, so lock reads and fixture hashing never block
    # the event loop.
    @router.get("/manifest.json")
    def get_manifest(request: Request) -> Response:
        served = served_manifest(manifest, models_dir, hub_endpoint, chunk_bytes)
        body = json.dumps(served, sort_keys=True).encode()
        etag = f'"{hashlib.sha256(body).hexdigest()}"'
        headers = {"etag": etag, "cache-control": REVALIDATE}
        if _etag_matches(request.headers.get("if-none-match"), etag):
            return Response(status_code=304, headers=headers)
        return Response(body, media_type="application/json", headers=headers)

    @router.api_route("/{variant_id}/{digest}/{file_path:path}", methods=["GET", "HEAD"])
    def get_file(request: Request, variant_id: str, digest: str, file_path: str) -> Response:
        if not _safe_relative(file_path):
            raise HTTPException(status_code=400, detail=f"invalid model file path {file_path!r}")
        try:
            variant = manifest.model(variant_id)
        except UnknownModel as exc:
            raise _not_found(str(exc)) from exc
        try:
            copy = locate(variant, models_dir)
        except LockFileError as exc:
            raise HTTPException(status_code=503, detail=f"{variant_id}: {exc}") from exc
        if copy is None:
            raise _not_found(f"{variant_id} is not mirrored here; run `turbodraft models pull {variant_id}`")
        local = copy.files.get(file_path)
        if local is None:
            raise _not_found(f"{variant_id} has no file {file_path!r}")
        if digest != local.sha256:
            raise _not_found(
                f"{variant_id}/{file_path} has content {local.sha256}, not {digest}; "
                f"re-read {MANIFEST_URL} (current URL {file_url(variant_id, local.sha256, file_path)})"
            )
        # The list comes from the lock or manifest, never the request; this guards a hand-edited lock and a
        # symlink placed in the mirror: the file, links resolved, must lie inside its copy's (resolved) root.
        if not _contained(local.location, copy.root):
            raise _not_found(f"{variant_id} has no file {file_path!r}")
        if not local.location.is_file():
            raise _not_found(
                f"{variant_id}/{file_path} is missing from the mirror; run `turbodraft models verify`"
            )
        etag = f'"{local.sha256}"'
        headers = {"etag": etag, "cache-control": IMMUTABLE}
        if _etag_matches(request.headers.get("if-none-match"), etag):
            return Response(status_code=304, headers=headers)
        media_type = mimetypes.guess_type(file_path)[0] or "application/octet-stream"
        return _MeteredFileResponse(
            local.location,
            file=f"{variant_id}/{file_path}",
            counters=request.app.state.model_transfers,
            cut=request.app.state.model_faults,
            headers=headers,
            media_type=media_type,
        )

    return router


def mount_model_files(
    app: FastAPI,
    settings: Settings,
    *,
    manifest: Manifest | None = None,
    hub_endpoint: str | None = None,
    faults: ConnectionCut | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> None:
    """Add `/models/...` to the gateway (before the web app's catch-all mount) and its state.

    `chunk_bytes` sizes the chunk hashes computed here (fixtures, older locks); a lock's own are served as
    recorded. `faults` is for tests only; it can also be set or swapped later through `app.state.model_faults`.
    """
    if chunk_bytes <= 0:
        raise ValueError(f"chunk_bytes must be > 0, not {chunk_bytes}")
    app.state.model_transfers = TransferCounters()
    app.state.model_faults = faults
    endpoint = (hub_endpoint or hf_constants.ENDPOINT).rstrip("/")
    app.include_router(
        model_files_router(manifest or load_manifest(), settings.models_dir, endpoint, chunk_bytes)
    )
