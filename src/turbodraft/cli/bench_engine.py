"""`turbodraft bench engine`: stage timings of the Python twin and the browser engine (bench/engine.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from turbodraft.cli.bench import load_bench_module, save_result

console = Console(stderr=True)


def _line(name: str, figures: dict[str, Any]) -> str:
    warm = figures["warm"]["median_ms"]
    cold = figures["cold_ms"]
    return (
        f"{name:<12} warm total {warm['total']:9.1f} ms (text encoder {warm['text_encoder']:.1f}, "
        f"UNet/step {warm['unet_per_step']:.1f}, VAE {warm['vae_decoder']:.1f}, PNG {warm['png']:.1f})  "
        f"cold {cold['total']:.0f} ms"
    )


def engine(
    model: str = typer.Option(
        "tiny-sd-turbo", help="Manifest model id (the tiny fixture needs no download)."
    ),
    backends: str = typer.Option("python,wasm,webgpu", help="Comma-separated: python, wasm, webgpu."),
    runs: int = typer.Option(10, min=1, help="Warm runs per engine (the median is reported)."),
    warmup: int = typer.Option(2, min=0, help="Warm-up runs after the cold one, not measured."),
    webgpu_runs: int = typer.Option(5, min=1, help="Warm runs on WebGPU (SwiftShader here is slow)."),
    webgpu_warmup: int = typer.Option(1, min=0, help="Warm-up runs on WebGPU."),
    steps: int = typer.Option(1, min=1, help="Denoising steps (SD-Turbo drafts use 1)."),
    size: int | None = typer.Option(None, help="Image side in pixels (default: the model's)."),
    json_output: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    out: Path | None = typer.Option(
        None, "--out", help="Where the JSON goes (default: bench/results/engine-<model>-<machine>.json)."
    ),
) -> None:
    """Per-stage timings, cold and warm: the Python twin, and the browser engine on wasm and WebGPU."""
    bench = load_bench_module("engine")
    try:
        result = bench.run(
            model,
            [b.strip() for b in backends.split(",") if b.strip()],
            runs,
            warmup,
            webgpu_runs,
            webgpu_warmup,
            steps,
            size,
            progress=lambda message: console.print(message, style="dim"),
        )
    except bench.BenchError as exc:
        console.print(f"[red]error:[/red] {exc}", soft_wrap=True)
        raise typer.Exit(1) from exc
    target = out or bench.default_out(model, result["machine"])
    text = save_result(result, target)
    if json_output:
        typer.echo(text)
    else:
        for name in ("python_twin", "wasm", "webgpu"):
            if name in result:
                typer.echo(_line(name, result[name]))
        machine = result["machine"]
        typer.echo(f"{machine['cpu_model']}, {machine['cores']} cores, {machine['gpu']}; written to {target}")


def register(bench_app: typer.Typer) -> None:
    bench_app.command("engine")(engine)
