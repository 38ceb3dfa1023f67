"""`turbodraft bench tools`: the canvas tools in the Python twin and the browser engine (bench/tools.py)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from turbodraft.cli.bench import load_bench_module, save_result

console = Console(stderr=True)


def tools(
    models: str = typer.Option(
        "tiny-realesr-general-x4v3,tiny-u2netp,tiny-fast-neural-style",
        help="Comma-separated tool model ids (the tiny fixtures need no download).",
    ),
    backends: str = typer.Option("python,wasm", help="Comma-separated: python, wasm, webgpu."),
    runs: int = typer.Option(5, min=1, help="Warm runs per tool (the median is reported)."),
    warmup: int = typer.Option(1, min=0, help="Warm-up runs after the cold one."),
    upscale_side: int = typer.Option(64, min=1, help="Upscale input side in pixels (the issue's GPU goal: 512)."),
    matte_side: int = typer.Option(128, min=1, help="Background-removal image side (GPU goal: 1024)."),
    style_side: int = typer.Option(128, min=1, help="Style image side (GPU goal: 512, as frames per second)."),
    sketch_model: str = typer.Option("tiny-sd-turbo", help="Draft model for sketch-to-image ('' to skip)."),
    sketch_side: int = typer.Option(64, min=16, help="Sketch side in pixels (a size the model takes)."),
    json_output: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    out: Path | None = typer.Option(None, "--out", help="Default: bench/results/tools-<machine>.json."),
) -> None:
    """Each tool's cold and warm time (and runs per second) in the Python twin and the browser engine."""
    bench = load_bench_module("tools")
    try:
        result = bench.run(
            [m.strip() for m in models.split(",") if m.strip()],
            [b.strip() for b in backends.split(",") if b.strip()],
            runs,
            warmup,
            {"upscale": upscale_side, "matte": matte_side, "style": style_side},
            sketch_model or None,
            sketch_side,
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
    for engine in ("python", "wasm", "webgpu"):
        for name, figures in result.get(engine, {}).items():
            if isinstance(figures, dict) and "warm" in figures:
                warm = figures["warm"]
                typer.echo(f"{engine:<7} {name:<28} warm {warm['median_ms']:9.1f} ms  ({warm['per_s']:.2f}/s)")
    machine = result["machine"]
    typer.echo(f"{machine['cpu_model']}, {machine['cores']} cores; written to {target}")


def register(bench_app: typer.Typer) -> None:
    bench_app.command("tools")(tools)
