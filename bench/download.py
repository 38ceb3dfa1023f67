"""Model download into the browser: the model store (web/src/engine/store) fetching a generated file from the
gateway's mirror into OPFS in headless Chromium, with sha256 verification, against `curl` of the same file from
the same server in the same run. The headline figure is `ratio_vs_curl` (browser rate / curl rate).

The browser verifies the gateway's per-chunk sha256s (WebCrypto, several chunks in flight); with
`--compare-streamed` it also runs the path for sources without chunk hashes (one streaming sha256 in wasm).
Each side runs `--runs` times, interleaved so that other load on the machine hits all sides alike, and the
best run of each side is compared.

The gateway runs in its own process (as in production), so the Playwright driver in this one does not share its
interpreter. curl writes to a file on the same disk, as the browser does to OPFS.

    turbodraft bench download --json            # 1 GiB, the committed figure
    python bench/download.py --size-mb 64        # directly, smaller
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from turbodraft.chromium import BASE_ARGS, CHROMIUM
from turbodraft.cli.bench import load_bench_module

VARIANT = "bench-download"
SETTLE_MS = 3000
FILE = "blob.bin"
CHROMIUM_ARGS = list(BASE_ARGS)


def machine() -> dict[str, Any]:
    return {
        **load_bench_module("gateway").machine(),
        "gpu": None,
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


def serve(files_dir: Path, data_dir: Path, port: int, hash_chunk_bytes: int) -> None:
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
    mount_model_files(app, settings, manifest=manifest, chunk_bytes=hash_chunk_bytes)
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


def browser_rate(url: str, profile: Path, settings: dict[str, Any], chromium: str) -> dict[str, Any]:
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
            # The app's own start-up (capability probes, the runtime's wasm) is not part of a download.
            page.wait_for_load_state("networkidle")
            page.wait_for_timeout(SETTLE_MS)
            page.evaluate("(s) => window.turbodraft.models.configure(s)", settings)
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


def best(runs: list[dict[str, Any]], verification: str) -> dict[str, Any]:
    """The fastest run, with every run's rate beside it."""
    top = max(runs, key=lambda r: float(r["rate_mb_s"]))
    return {**top, "verification": verification, "runs_rate_mb_s": [r["rate_mb_s"] for r in runs]}


def run(
    size_mb: int = 1024,
    chunk_mb: int = 32,
    runs: int = 3,
    chromium: str | None = None,
    hash_chunk_mb: int = 8,
    parallel_chunks: int = 3,
    compare_streamed: bool = False,
) -> dict[str, Any]:
    chromium = chromium or CHROMIUM
    size = size_mb * 1024 * 1024
    hash_chunk = hash_chunk_mb * 1024 * 1024
    chunked = {"chunkHashes": True, "parallelChunks": parallel_chunks}
    streamed = {"chunkHashes": False, "chunkBytes": chunk_mb * 1024 * 1024}
    load_before = machine()["load_average_1m"]
    with tempfile.TemporaryDirectory(prefix="turbodraft-bench-download-") as scratch:
        root = Path(scratch)
        make_file(root / "files" / FILE, size)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        serve_args = [str(root / "files"), str(root / "data"), str(port), str(hash_chunk)]
        server = subprocess.Popen([sys.executable, __file__, "--serve", *serve_args])
        curls: list[dict[str, Any]] = []
        browsers: list[dict[str, Any]] = []
        streams: list[dict[str, Any]] = []
        try:
            entry = wait_ready(url, server)
            file_url = url + entry["files"][0]["url"]
            if entry["files"][0].get("chunks") is None:
                raise RuntimeError("the gateway published no chunk hashes for the benchmark file")
            for _ in range(runs):
                curls.append(curl_rate(file_url, root / "curl.bin"))
                browsers.append(browser_rate(url, root / "profile", chunked, chromium))
                if compare_streamed:
                    streams.append(browser_rate(url, root / "profile", streamed, chromium))
        finally:
            server.terminate()
            server.wait(timeout=30)
    best_curl = max(c["rate_mb_s"] for c in curls)
    browser = best(browsers, f"per-chunk sha256 (WebCrypto), {parallel_chunks} chunk requests in flight")
    result: dict[str, Any] = {
        "benchmark": "download",
        "unit": "MB/s (10^6 bytes) of one file, gateway mirror -> headless Chromium OPFS (sha256 verified) vs curl",
        "machine": {**machine(), "load_average_1m_before": load_before},
        "size_bytes": size,
        "chunk_hash_bytes": hash_chunk,
        "parallel_chunks": parallel_chunks,
        "runs": runs,
        "compared": "best run of each side; runs interleaved (curl, browser, ...)",
        "curl": {"runs": curls, "best_rate_mb_s": best_curl},
        "browser": browser,
        "ratio_vs_curl": round(browser["rate_mb_s"] / best_curl, 3),
        "goal": ">= 0.9",
    }
    if streams:
        streamed_best = best(streams, f"whole-file streaming sha256 (hash-wasm), {chunk_mb} MiB Range requests")
        result["browser_streamed"] = {**streamed_best, "chunk_bytes": chunk_mb * 1024 * 1024}
        result["ratio_streamed_vs_curl"] = round(streamed_best["rate_mb_s"] / best_curl, 3)
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--chunk-mb", type=int, default=32, help="Range size of the streamed (no chunk hashes) path")
    parser.add_argument("--hash-chunk-mb", type=int, default=8, help="chunk size of the gateway's chunk hashes")
    parser.add_argument("--parallel-chunks", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--compare-streamed", action="store_true")
    parser.add_argument("--serve", nargs=4, metavar=("FILES_DIR", "DATA_DIR", "PORT", "CHUNK"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(Path(args.serve[0]), Path(args.serve[1]), int(args.serve[2]), int(args.serve[3]))
        return
    result = run(
        args.size_mb,
        args.chunk_mb,
        args.runs,
        hash_chunk_mb=args.hash_chunk_mb,
        parallel_chunks=args.parallel_chunks,
        compare_streamed=args.compare_streamed,
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
