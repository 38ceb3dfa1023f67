"""`turbodraft runpod-local`: a RunPod-compatible serverless endpoint on this machine."""

from __future__ import annotations

import ipaddress

import typer
from rich.console import Console

from turbodraft.providers.handlers import HANDLERS, HandlerError, resolve_handler
from turbodraft.providers.runpod_local import LocalRunPod, LocalRunPodConfig, serve

console = Console(stderr=True)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def runpod_local(
    host: str = typer.Option("127.0.0.1", help="Address to bind."),
    port: int = typer.Option(8001, min=1, max=65535, help="Port."),
    handler: str = typer.Option(
        "echo", help=f"Job handler: one of {', '.join(sorted(HANDLERS))}, or module:function."
    ),
    workers: int = typer.Option(1, min=1, help="Concurrent jobs (handler threads)."),
    api_key: str | None = typer.Option(
        None, "--api-key", envvar="TURBODRAFT_RUNPOD_LOCAL_KEY", help="Require this key (Bearer or bare)."
    ),
    cold_start_s: float = typer.Option(0.0, "--cold-start", min=0.0, help="Simulated worker boot, seconds."),
    faults: bool = typer.Option(
        False,
        "--faults",
        metavar="",
        help="Serve POST/DELETE /_local/faults (fault injection for client tests), behind the same key as /v2/.",
    ),
) -> None:
    """Serve the RunPod Serverless API (/v2/{endpoint_id}/run, /status, ...) for any endpoint id."""
    if not _is_loopback(host) and api_key is None:
        console.print("[red]error:[/red] binding a non-loopback address needs --api-key")
        raise typer.Exit(2)
    try:
        job_handler = resolve_handler(handler)
    except HandlerError as exc:
        console.print(f"[red]error:[/red] {exc}", soft_wrap=True)
        raise typer.Exit(2) from exc
    config = LocalRunPodConfig(
        api_key=api_key, workers=workers, cold_start_s=cold_start_s, fault_injection=faults
    )
    url = f"http://{host}:{port}/v2/local"
    console.print(f"RunPod-compatible endpoint on [bold]{url}[/bold] (any endpoint id)  handler: {handler}")
    if faults:
        console.print("fault injection on: POST /_local/faults", soft_wrap=True)
    serve(LocalRunPod(config, job_handler), host=host, port=port)


def register(app: typer.Typer) -> None:
    app.command("runpod-local")(runpod_local)
