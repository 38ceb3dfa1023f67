"""The built web app (web/dist) at `/`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

_MISSING_BUILD = """<!doctype html><meta charset="utf-8"><title>turbodraft</title>
<p>The web app is not built yet. Run <code>make run</code> (or <code>npm --prefix web run build</code>).</p>"""


def mount_web_app(app: FastAPI, web_dir: Path) -> None:
    """Serve `web_dir` at `/`; if it was never built, say how to build it instead of answering 404."""
    if (web_dir / "index.html").is_file():
        app.mount("/", StaticFiles(directory=web_dir, html=True), name="web")
        return

    @app.get("/", include_in_schema=False)
    async def not_built() -> HTMLResponse:
        return HTMLResponse(_MISSING_BUILD, status_code=503)
