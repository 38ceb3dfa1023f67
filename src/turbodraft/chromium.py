"""Debian's Chromium, headless, as the browser tests and the browser benchmarks launch it.

One place for the path and the flags (../shared/notes/testing-in-chromium.md): a root user on a closed network needs
no sandbox and no background networking, and `--enable-unsafe-webgpu` is what gives WebGPU (SwiftShader on a machine
without a GPU); without it, or with WebGPU disabled, the page sees no WebGPU and the engine runs on wasm.
"""

from __future__ import annotations

import shutil

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

BASE_ARGS: tuple[str, ...] = (
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
)
WEBGPU_ARGS: tuple[str, ...] = (*BASE_ARGS, "--enable-unsafe-webgpu")
NO_WEBGPU_ARGS: tuple[str, ...] = (*BASE_ARGS, "--disable-features=WebGPU")
