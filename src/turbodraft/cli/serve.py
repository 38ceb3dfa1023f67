"""`turbodraft serve`: the gateway on uvicorn.

Without a RunPod key the gateway starts the local RunPod-compatible server itself (in its process, on a free
loopback port; see gateway/services.py), so finals work out of the box through the same RunPod client.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
import uvicorn
from rich.console import Console

from turbodraft.cli.problems import fail, load_settings, open_ledger_or_exit
from turbodraft.gateway import create_app
from turbodraft.gateway.binding import UnsafeBindError, check_bind_allowed

console = Console(stderr=True)
OPTIONS = {"host": "--host", "port": "--port", "data_dir": "--data-dir"}


def serve(
    host: str | None = typer.Option(None, help="Address to bind (default 127.0.0.1)."),
    port: int | None = typer.Option(None, help="Port (default 8000)."),
    data_dir: Path | None = typer.Option(
        None, "--data-dir", help="Ledger and model mirror (default ./.turbodraft)."
    ),
    log_level: str = typer.Option("info", help="uvicorn log level: critical, error, warning, info, debug."),
    access_log: bool = typer.Option(True, "--access-log/--no-access-log", help="Log every request."),
) -> None:
    """Start the gateway: web app, API and model mirror (and the local RunPod server when no key is set)."""
    overrides: dict[str, Any] = {
        k: v for k, v in {"host": host, "port": port, "data_dir": data_dir}.items() if v is not None
    }
    settings = load_settings(OPTIONS, **overrides)
    try:
        check_bind_allowed(settings.host, settings)
    except UnsafeBindError as exc:
        fail(str(exc))
    open_ledger_or_exit(settings)
    app = create_app(settings)
    if settings.runpod_cloud_configured:
        finals = f"RunPod endpoint {settings.runpod_endpoint_id}"
    elif settings.runpod_local_embedded:
        finals = (
            f"the embedded local RunPod server ({settings.runpod_local_handler}, {settings.server_model})"
        )
    else:
        finals = f"the local RunPod server at {settings.runpod_local_base_url}"
    where = f"http://{settings.host}:{settings.port}"
    console.print(f"turbodraft gateway on [bold]{where}[/bold]  data: {settings.data_dir}")
    console.print(f"finals go to {finals}", soft_wrap=True)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=log_level, access_log=access_log)


def register(app: typer.Typer) -> None:
    app.command()(serve)
