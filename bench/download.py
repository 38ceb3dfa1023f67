"""Model download into the browser: the model store (web/src/engine/store) fetching a generated file from the
gateway's mirror into OPFS in headless Chromium, with sha256 verification, against `curl` of the same file from
the same server in the same run. The headline figure is `ratio_vs_curl` (browser rate / curl rate).

The gateway runs in its own process (as in production), so the Playwright driver in this one does not share its
interpreter. curl writes to a file on the same disk, as the browser does to OPFS.

    turbodraft bench download --json            # 1 GiB, the committed figure
    python bench/download.py --size-mb 64        # directly, smaller
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

VARIANT = "bench-download"
FILE = "blob.bin"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def machine() -> dict[str, Any]:
    model = platform.processor() or platform.machine()
    if shutil.which("lscpu"):
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    return {
        "cpu_model": model,
        "cores": os.cpu_count(),
        "gpu": None,
        "python": platform.python_version(),
        # Other work on the machine slows both sides; recorded so a figure can be judged.
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def make_file(path: Path, size: int) -> None:
    """Random bytes (nothing on the way can compress them), written in 16 MiB blocks."""
    path.parent.mkdir(parents=True, exist_ok=True)
    block = 16 * 1024 * 1024
    with path.open("wb") as fh:
        left = size
        while left > 0:
            n = min(block, left)
            fh.write(os.urandom(n))
            left -= n


def serve(files_dir: Path, data_dir: Path, port: int) -> None:
    """The gateway app with the mirror on a manifest that adds the generated file as a fixture variant."""
    import uvicorn

    from turbodraft.config import Settings
    from turbodraft.gateway import create_app
    from turbodraft.gateway.model_files import PREFIX, mount_model_files
    from turbodraft.models.manifest import REPO_ROOT, RepoPathSource, load_manifest

    settings = Settings(data_dir=data_dir)
    manifest = load_manifest()
    variant = manifest.variants[-1].model_copy(
        update={
            "id": VARIANT,
            "description": "Download benchmark: random bytes.",
            "files": [],
            "source": RepoPathSource(kind="repo_path", path=os.path.relpath(files_dir, REPO_ROOT)),
        }
    )
    manifest = manifest.model_copy(update={"variants": [*manifest.variants, variant]})
    app = create_app(settings)
    app.router.routes[:] = [r for r in app.router.routes if not getattr(r, "path", "").startswith(PREFIX + "/")]
    before = len(app.router.routes)
    mount_model_files(app, settings, manifest=manifest)
    added = app.router.routes[before:]
    del app.router.routes[before:]
    app.router.routes[0:0] = added  # before the web app's catch-all
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout_s: float = 120.0) -> dict[str, Any]:
    """Polls the manifest (the first request hashes the file) and returns the bench variant's entry."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the gateway exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url + "/models/manifest.json", timeout=timeout_s) as response:
                body = json.load(response)
            entry: dict[str, Any] = next(v for v in body["variants"] if v["id"] == VARIANT)
            return entry
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the gateway did not come up")


def curl_rate(url: str, target: Path) -> dict[str, float]:
    out = subprocess.run(
        ["curl", "-sS", "--fail", "-o", str(target), "-w", "%{size_download} %{time_total}", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    size, seconds = (float(x) for x in out.split())
    target.unlink()
    return {"bytes": size, "seconds": round(seconds, 3), "rate_mb_s": round(size / seconds / 1e6, 1)}


def browser_rate(url: str, profile: Path, chunk_bytes: int, chromium: str) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        # A persistent profile: OPFS on disk with the normal quota (an incognito context keeps it in memory).
        context = p.chromium.launch_persistent_context(
            str(profile), executable_path=chromium, headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = context.new_page()
            page.goto(url + "/")
            page.wait_for_function("() => window.turbodraft && window.turbodraft.models")
            page.evaluate("(c) => window.turbodraft.models.configure({ chunkBytes: c })", chunk_bytes)
            page.evaluate("() => window.turbodraft.models.clear()")
            measured: dict[str, Any] = page.evaluate(
                """async (id) => {
                  const t0 = performance.now();
                  const state = await window.turbodraft.models.download(id);
                  return { state, seconds: (performance.now() - t0) / 1000 };
                }""",
                VARIANT,
            )
            version = context.browser.version if context.browser is not None else None
            page.evaluate("() => window.turbodraft.models.clear()")
        finally:
            context.close()
    state = measured["state"]
    if state["status"] != "ready":
        raise RuntimeError(f"the browser download did not finish: {state['error']}")
    seconds = float(measured["seconds"])
    return {
        "bytes": state["bytesTotal"],
        "seconds": round(seconds, 3),
        "rate_mb_s": round(state["bytesTotal"] / seconds / 1e6, 1),
        "store_reported_rate_mb_s": round(state["rate"] / 1e6, 1),
        "verified_sha256": True,
        "chromium": version,
    }


def run(size_mb: int = 1024, chunk_mb: int = 32, curl_runs: int = 2, chromium: str | None = None) -> dict[str, Any]:
    chromium = chromium or shutil.which("chromium") or "/usr/bin/chromium"
    size = size_mb * 1024 * 1024
    with tempfile.TemporaryDirectory(prefix="turbodraft-bench-download-") as scratch:
        root = Path(scratch)
        make_file(root / "files" / FILE, size)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(root / "files"), str(root / "data"), str(port)]
        )
        try:
            entry = wait_ready(url, server)
            file_url = url + entry["files"][0]["url"]
            curls = [curl_rate(file_url, root / "curl.bin") for _ in range(curl_runs)]
            browser = browser_rate(url, root / "profile", chunk_mb * 1024 * 1024, chromium)
        finally:
            server.terminate()
            server.wait(timeout=30)
    best_curl = max(c["rate_mb_s"] for c in curls)
    return {
        "benchmark": "download",
        "unit": "MB/s (10^6 bytes) of one file, gateway mirror -> headless Chromium OPFS (sha256 verified) vs curl",
        "machine": machine(),
        "size_bytes": size,
        "chunk_bytes": chunk_mb * 1024 * 1024,
        "curl": {"runs": curls, "best_rate_mb_s": best_curl},
        "browser": browser,
        "ratio_vs_curl": round(browser["rate_mb_s"] / best_curl, 3),
        "goal": ">= 0.9",
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--chunk-mb", type=int, default=32)
    parser.add_argument("--serve", nargs=3, metavar=("FILES_DIR", "DATA_DIR", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(Path(args.serve[0]), Path(args.serve[1]), int(args.serve[2]))
        return
    print(json.dumps(run(args.size_mb, args.chunk_mb), indent=2))


if __name__ == "__main__":
    main()
