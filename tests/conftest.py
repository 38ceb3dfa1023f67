"""Fixtures shared by every test: repository paths and a gateway running on a free loopback port."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from turbodraft.config import Settings
from turbodraft.gateway import create_app

REPO = Path(__file__).resolve().parents[1]
WEB_DIST = REPO / "web" / "dist"
FIXTURES = REPO / "fixtures"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class RunningServer:
    app: FastAPI
    url: str
    server: uvicorn.Server


def start_server(app: FastAPI) -> tuple[RunningServer, threading.Thread]:
    """Run `app` on uvicorn in a thread, on a free loopback port; returns once it accepts connections."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    return RunningServer(app=app, url=f"http://127.0.0.1:{port}", server=server), thread


def stop_server(running: RunningServer, thread: threading.Thread) -> None:
    running.server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", web_dir=WEB_DIST)


@pytest.fixture
def gateway(settings: Settings) -> Iterator[RunningServer]:
    running, thread = start_server(create_app(settings))
    try:
        yield running
    finally:
        stop_server(running, thread)


@pytest.fixture
def client(gateway: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, timeout=30) as c:
        yield c
