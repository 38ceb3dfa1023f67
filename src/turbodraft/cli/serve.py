"""`turbodraft serve`: the gateway on uvicorn."""

from __future__ import annotations

from pathlib import Path

import typer
import uvicorn
from rich.console import Console

from turbodraft.config import Settings
from turbodraft.gateway import create_app
from turbodraft.gateway.binding import UnsafeBindError, check_bind_allowed

console = Console(stderr=True)


def serve(
    host: str | None = typer.Option(None, help="Address to bind (default 127.0.0.1)."),
    port: int | None = typer.Option(None, help="Port (default 8000)."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Ledger and model mirror (default ./.turbodraft)."),
) -> None:
    """Start the gateway: web app, API and model mirror."""
    overrides = {k: v for k, v in {"host": host, "port": port, "data_dir": data_dir}.items() if v is not None}
    settings = Settings(**overrides)
    try:
        check_bind_allowed(settings.host, settings)
    except UnsafeBindError as exc:
        console.print(f"[red]error:[/red] {exc}", soft_wrap=True)
        raise typer.Exit(2) from exc
    app = create_app(settings)
    console.print(f"turbodraft gateway on [bold]http://{settings.host}:{settings.port}[/bold]  data: {settings.data_dir}")
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info")


def register(app: typer.Typer) -> None:
    app.command()(serve)
