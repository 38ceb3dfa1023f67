"""Assembles the gateway's ASGI app from its routers."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator

from fastapi import FastAPI
from starlette.middleware.trustedhost import TrustedHostMiddleware

from turbodraft import __version__
from turbodraft.config import Settings
from turbodraft.gateway import api_compat, api_v1, health
from turbodraft.gateway.binding import allowed_host_names
from turbodraft.gateway.errors import install_error_handlers
from turbodraft.gateway.isolation import CrossOriginIsolationMiddleware
from turbodraft.gateway.model_files import mount_model_files
from turbodraft.gateway.model_pulls import mount_model_pulls
from turbodraft.gateway.security import BodyLimitMiddleware
from turbodraft.gateway.services import running_services
from turbodraft.gateway.webapp import mount_web_app

DESCRIPTION = """Routes image generations between the browser (SD-Turbo), the gateway's own CPU and RunPod,
and meters every image. `/v1/...` is the API of the new flow; `/generate/image`, `/job/{id}`, `/queue/status`
and `/costs/summary` keep the canvas app's orchestrator client working. Errors are
`{"error": {"code", "message", "details"}, "detail": message}`.

Ownership: jobs, their images, usage reports and cost figures belong to the user who made them (`X-User-Id`, or
the user a `user:secret` token is bound to); other users get the same 404 as an unknown id. A service token (one
without a `user:` prefix) acts for the user it names in `X-User-Id`, and only a service token reads gateway-wide
figures (`GET /v1/costs?scope=all`, `/costs/summary?scope=all`, `/queue/status?scope=all`); a gateway with no
tokens configured (loopback only) trusts its callers as its operator. Only the configured host names are
answered (`TURBODRAFT_ALLOWED_HOSTS`; loopback names always), so a DNS-rebound page gets 400."""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running_services(app, settings) as services:
            app.state.services = services
            try:
                yield
            finally:
                app.state.services = None

    app = FastAPI(title="turbodraft gateway", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.settings = settings
    app.state.services = None
    app.state.started_monotonic = time.monotonic()
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(CrossOriginIsolationMiddleware)
    # Added last, so outermost: a request for another host name is refused before anything reads it.
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_host_names(settings), www_redirect=False)

    app.include_router(health.router)
    app.include_router(api_v1.router)
    app.include_router(api_compat.router)
    mount_model_files(app, settings)
    mount_model_pulls(app, settings)
    # Mounted last: `/` catches every path the API did not claim.
    mount_web_app(app, settings.web_dir)
    return app
