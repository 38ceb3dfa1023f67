"""A gateway for the browser model-store tests: the real app (web/dist, isolation headers) with the model
mirror mounted on a test manifest, plus a few deliberately non-conforming file servers under `/quirky`.

Variants served:
- `tiny-sd-turbo`, pulled into the test's data dir (a real mirror, so `flip_byte` can damage it);
- `store-test`, a fixture variant in a temp directory the test may rewrite (a new revision);
- `tiny-no-encoder`, the tiny model mirrored without its optional VAE encoder (a variant the bundle lacks);
- `/quirky/manifest.json`: `no-range` (answers every Range request with the whole file, 200),
  `no-range-chunked` (the same server, but its manifest has chunk hashes) and `range-416` (answers the first
  Range request that does not start at 0 with 416).

The mirror's chunk hashes are CHUNK bytes (test-sized), so a 1 MB file spans several chunk requests.
`app.state.body_pace` (bytes per second, or None) paces every model file response, as a slow link does.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import anyio
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.responses import FileResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tests.conftest import FIXTURES, WEB_DIST
from turbodraft.config import Settings
from turbodraft.gateway import create_app
from turbodraft.gateway.model_files import PREFIX, mount_model_files
from turbodraft.models.chunk_hashes import hash_file
from turbodraft.models.manifest import REPO_ROOT, Manifest, RepoPathSource, load_manifest
from turbodraft.models.mirror import pull

TINY = "tiny-sd-turbo"
TINY_SOURCE = FIXTURES / TINY
SYNTHETIC = "store-test"
NO_ENCODER = "tiny-no-encoder"
#: Small enough for fast tests, large enough to span several test-sized chunks.
SYNTHETIC_SIZE = 1_000_000
CHUNK = 128 * 1024


def write_synthetic(root: Path, seed: int = 1) -> dict[str, bytes]:
    files = {
        "weights.bin": random.Random(seed).randbytes(SYNTHETIC_SIZE),
        "config.json": b'{"layers": 2}',
    }
    for rel, content in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(content)
    return files


def store_manifest(synthetic_dir: Path) -> Manifest:
    manifest = load_manifest()
    synthetic = manifest.variant(TINY).model_copy(
        update={
            "id": SYNTHETIC,
            "description": "Model-store test files (random bytes).",
            "files": [],  # a fixture variant without a list serves whatever its directory holds
            "source": RepoPathSource(kind="repo_path", path=os.path.relpath(synthetic_dir, REPO_ROOT)),
        }
    )
    tiny = manifest.variant(TINY)
    no_encoder = tiny.model_copy(
        update={
            "id": NO_ENCODER,
            "description": "The tiny model, mirrored without its optional VAE encoder.",
            "files": [f.model_copy(update={"required": f.path != "vae_encoder/model.onnx"}) for f in tiny.files],
        }
    )
    return manifest.model_copy(update={"variants": [*manifest.variants, synthetic, no_encoder]})


@dataclass
class Quirky:
    """Files served by servers that do Range wrong, and what they were asked."""

    path: Path
    sha256: str
    size: int
    requests: list[tuple[str, str | None, int]] = field(default_factory=list)
    bytes_sent: Counter[str] = field(default_factory=Counter)
    refused_once: bool = False


def quirky_router(quirky: Quirky) -> APIRouter:
    router = APIRouter(prefix="/quirky")

    @router.get("/manifest.json")
    def manifest() -> JSONResponse:
        def entry(mode: str, server: str | None = None) -> dict[str, object]:
            url = f"/quirky/{server or mode}/weights.bin"
            file = {"path": "weights.bin", "size": quirky.size, "sha256": quirky.sha256, "url": url}
            if server is not None:
                _, chunks = hash_file(quirky.path, CHUNK)
                file["chunks"] = chunks.model_dump() if chunks else None
            return {"id": mode, "description": f"served by a {server or mode} server", "files": [file]}

        variants = [entry("no-range"), entry("no-range-chunked", server="no-range"), entry("range-416")]
        return JSONResponse({"variants": variants})

    @router.get("/no-range/weights.bin")
    def no_range(request: Request) -> Response:
        quirky.requests.append(("no-range", request.headers.get("range"), 200))
        quirky.bytes_sent["no-range"] += quirky.size
        return Response(quirky.path.read_bytes(), media_type="application/octet-stream")

    @router.get("/range-416/weights.bin")
    def range_416(request: Request) -> Response:
        asked = request.headers.get("range")
        if asked is not None and not asked.startswith("bytes=0-") and not quirky.refused_once:
            quirky.refused_once = True
            quirky.requests.append(("range-416", asked, 416))
            return Response(status_code=416, headers={"content-range": f"bytes */{quirky.size}"})
        quirky.requests.append(("range-416", asked, 206 if asked else 200))
        return FileResponse(quirky.path, headers={"etag": f'"{quirky.sha256}"'})

    return router


class PacedBodies:
    """Sends model file bodies (not the manifest) in small pieces at `app.state.body_pace` bytes per second."""

    def __init__(self, app: ASGIApp, owner: FastAPI) -> None:
        self.app = app
        self.owner = owner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        pace: float | None = getattr(self.owner.state, "body_pace", None)
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or pace is None or not path.startswith(PREFIX + "/") or path.endswith(".json"):
            await self.app(scope, receive, send)
            return
        piece = max(1024, int(pace / 10))

        async def paced(message: Message) -> None:
            if message["type"] != "http.response.body":
                await send(message)
                return
            body: bytes = message.get("body", b"")
            more = message.get("more_body", False)
            for at in range(0, max(len(body), 1), piece):
                last = at + piece >= len(body)
                await send({"type": "http.response.body", "body": body[at : at + piece], "more_body": more or not last})
                await anyio.sleep(min(piece, len(body) - at) / pace)

        await self.app(scope, receive, paced)


def paced(app: FastAPI) -> FastAPI:
    """`app` with its model file bodies paced by `app.state.body_pace` (None: full speed)."""
    app.state.body_pace = None
    app.add_middleware(PacedBodies, owner=app)
    return app


def store_test_app(data_dir: Path, synthetic_dir: Path) -> tuple[FastAPI, Settings, Quirky]:
    """The gateway app with `/models/...` on the test manifest, mounted before the web app's catch-all."""
    settings = Settings(data_dir=data_dir, web_dir=WEB_DIST)
    write_synthetic(synthetic_dir)
    manifest = store_manifest(synthetic_dir)
    pull(manifest.variant(TINY), settings.models_dir, source_dir=TINY_SOURCE, chunk_bytes=CHUNK)
    without = synthetic_dir.parent / "tiny-without-encoder"
    shutil.copytree(TINY_SOURCE, without, ignore=shutil.ignore_patterns("vae_encoder"))
    pull(manifest.variant(NO_ENCODER), settings.models_dir, source_dir=without, chunk_bytes=CHUNK)
    app = paced(create_app(settings))
    # Whether or not create_app already mounts the mirror, these tests want it on their own manifest.
    app.router.routes[:] = [r for r in app.router.routes if not getattr(r, "path", "").startswith(PREFIX + "/")]
    before = len(app.router.routes)
    mount_model_files(app, settings, manifest=manifest, chunk_bytes=CHUNK)
    quirky_file = synthetic_dir.parent / "quirky.bin"
    quirky_file.write_bytes(random.Random(99).randbytes(SYNTHETIC_SIZE))
    quirky = Quirky(quirky_file, hashlib.sha256(quirky_file.read_bytes()).hexdigest(), SYNTHETIC_SIZE)
    app.include_router(quirky_router(quirky))
    added = app.router.routes[before:]
    del app.router.routes[before:]
    app.router.routes[0:0] = added
    return app, settings, quirky


def rest_of(cut_range: str, kept: int) -> str:
    """The Range header that asks for what a cut chunk still lacks, once `kept` of its bytes were stored."""
    start, end = (int(n) for n in cut_range.removeprefix("bytes=").split("-"))
    return f"bytes={start + kept}-{end}"
