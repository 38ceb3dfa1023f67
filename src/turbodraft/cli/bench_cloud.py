"""`turbodraft bench cloud`: the time the gateway adds to a final over RunPod directly (bench/cloud.py)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from turbodraft.cli.bench import load_bench_module, save_result

console = Console(stderr=True)


def cloud(
    handlers: str = typer.Option(
        "fake-sdxl,sd-turbo", help="Comma-separated local RunPod handlers: fake-sdxl, sd-turbo."
    ),
    runs: int = typer.Option(30, min=1, help="Measured finals each way per handler (medians are compared)."),
    warmup: int = typer.Option(3, min=0, help="Finals each way before measuring (the model loads then)."),
    size: int = typer.Option(64, help="Image side asked for (the tiny SD-Turbo renders 64 to 256)."),
    steps: int = typer.Option(1, help="Denoising steps asked for."),
    json_output: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    out: Path | None = typer.Option(
        None, "--out", help="Where the JSON goes (default: bench/results/cloud-<machine>.json)."
    ),
) -> None:
    """A final through the gateway vs straight to the local RunPod server, same client and job input."""
    bench = load_bench_module("cloud")
    try:
        result = bench.run(
            [h.strip() for h in handlers.split(",") if h.strip()],
            runs,
            warmup,
            size,
            steps,
            progress=lambda message: console.print(message, style="dim"),
        )
    except bench.BenchError as exc:
        console.print(f"[red]error:[/red] {exc}", soft_wrap=True)
        raise typer.Exit(1) from exc
    target = out or bench.default_out(result["machine"])
    text = save_result(result, target)
    if json_output:
        typer.echo(text)
        return
    for name, figures in result["handlers"].items():
        typer.echo(
            f"{name:<10} gateway {figures['gateway']['median_ms']:8.1f} ms  direct "
            f"{figures['direct']['median_ms']:8.1f} ms  overhead {figures['overhead_ms']:7.1f} ms "
            f"({figures['overhead_pct']} %)"
        )
    machine = result["machine"]
    typer.echo(f"{machine['cpu_model']}, {machine['cores']} cores; written to {target}")


def register(bench_app: typer.Typer) -> None:
    bench_app.command("cloud")(cloud)
