"""`GET /health`: liveness for people, load balancers and the canvas app's existing client."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from pydantic import BaseModel

from turbodraft import __version__

router = APIRouter()


class Health(BaseModel):
    status: str
    version: str
    uptime_s: float


@router.get("/health", response_model=Health, tags=["meta"])
async def health(request: Request) -> Health:
    started: float = request.app.state.started_monotonic
    return Health(status="ok", version=__version__, uptime_s=round(time.monotonic() - started, 3))
