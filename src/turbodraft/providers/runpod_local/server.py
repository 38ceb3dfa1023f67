"""Serving the local RunPod endpoint with uvicorn: in the foreground (CLI) or a background thread (tests)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.types import ASGIApp

from turbodraft.providers.runpod_local.app import LocalRunPod
from turbodraft.providers.runpod_local.transport import ResettableH11Protocol


def _config(
    app: ASGIApp, host: str, port: int, log_level: str, graceful_s: int | None = None
) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=ResettableH11Protocol,
        lifespan="auto",
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=graceful_s,
    )


def serve(local: LocalRunPod, host: str = "127.0.0.1", port: int = 8001, log_level: str = "info") -> None:
    """Serve until interrupted (Ctrl-C)."""
    uvicorn.Server(_config(local.app, host, port, log_level)).run()


@contextmanager
def serving_in_thread(
    app: ASGIApp, host: str = "127.0.0.1", *, startup_timeout_s: float = 10.0
) -> Iterator[str]:
    """Serve any ASGI app on a free port in a daemon thread; yields its origin (``http://host:port``)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(_config(app, host, port, "warning", graceful_s=2))
    # Its own thread and loop, so a test's event loop can block without starving it; uvicorn installs
    # no signal handlers off the main thread.
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="uvicorn-test")
    thread.start()
    deadline = time.monotonic() + startup_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError("the server did not start")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@contextmanager
def running_in_thread(local: LocalRunPod, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve a local endpoint in a daemon thread; yields the API base URL (``http://host:port/v2``)."""
    with serving_in_thread(local.app, host) as origin:
        yield f"{origin}/v2"
