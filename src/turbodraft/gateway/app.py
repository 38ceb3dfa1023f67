"""Assembles the gateway's ASGI app from its routers."""

from __future__ import annotations

import time

from fastapi import FastAPI

from turbodraft import __version__
from turbodraft.config import Settings
from turbodraft.gateway import health
from turbodraft.gateway.isolation import CrossOriginIsolationMiddleware
from turbodraft.gateway.webapp import mount_web_app


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)

    app = FastAPI(title="turbodraft gateway", version=__version__)
    app.state.settings = settings
    app.state.started_monotonic = time.monotonic()
    app.add_middleware(CrossOriginIsolationMiddleware)

    app.include_router(health.router)
    # Mounted last: `/` catches every path the API did not claim.
    mount_web_app(app, settings.web_dir)
    return app
