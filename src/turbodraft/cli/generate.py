"""`turbodraft generate`: one SD-Turbo image with the Python twin of the browser engine."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt
import typer
from rich.console import Console
from rich.markup import escape

from turbodraft.cli.problems import fail, load_settings
from turbodraft.models.manifest import UnknownModel
from turbodraft.pipeline import GenerateRequest, Pipeline
from turbodraft.pipeline.errors import (
    InvalidLatents,
    InvalidRequest,
    InvalidSize,
    ModelFilesError,
    PipelineError,
    ProviderUnavailable,
)
from turbodraft.pipeline.images import load_init_image, write_png

console = Console(stderr=True)
_SIZE = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$")


def parse_size(text: str) -> tuple[int, int]:
    match = _SIZE.match(text)
    if match is None:
        raise InvalidSize(f"size must look like WIDTHxHEIGHT (e.g. 512x512), got {text!r}")
    return int(match.group(1)), int(match.group(2))


def load_latents(path: Path) -> npt.NDArray[np.float32]:
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InvalidLatents(f"cannot read latents {path}: {exc}") from exc
    if not np.issubdtype(array.dtype, np.floating):
        raise InvalidLatents(f"latents must be floats, got {array.dtype}")
    return np.asarray(array, dtype=np.float32)


def generate(
    prompt: str = typer.Option(..., help="What to draw; an empty prompt gives an unconditional image."),
    out: Path = typer.Option(..., "--out", help="PNG to write (atomically), in an existing directory."),
    model: str = typer.Option("sd-turbo-fp16", help="Manifest id or a model directory in the web layout."),
    seed: int = typer.Option(
        0, help="Seed in [0, 2**32): the same seed gives the same image here and in the browser."
    ),
    steps: int = typer.Option(1, help="Denoising steps, 1 to 4."),
    size: str | None = typer.Option(None, help="WIDTHxHEIGHT (default: the model's default size)."),
    init_image: Path | None = typer.Option(None, "--init-image", help="Image to start from (img2img)."),
    strength: float | None = typer.Option(None, help="img2img: how much of the schedule runs, in (0, 1]."),
    latents: Path | None = typer.Option(
        None, "--latents", help="Unscaled standard-normal initial latents (.npy)."
    ),
    provider: list[str] | None = typer.Option(
        None, "--provider", help="onnxruntime provider: cpu (default), cuda."
    ),
    data_dir: Path | None = typer.Option(
        None, "--data-dir", help="Where the model mirror lives (default ./.turbodraft)."
    ),
    as_json: bool = typer.Option(
        False, "--json", metavar="", help="Print timings per stage and the provider as JSON."
    ),
) -> None:
    """Generate one image with SD-Turbo (numpy + onnxruntime), as the browser engine would."""
    # Checked before the model loads: a typo in the folder must not cost a generation, nor create folders.
    if not out.parent.is_dir():
        fail(f"--out: the directory {out.parent} does not exist; create it first or write elsewhere")
    if out.is_dir():
        fail(f"--out: {out} is a directory; name the PNG file to write")
    settings = load_settings({"data_dir": "--data-dir"}, **({} if data_dir is None else {"data_dir": data_dir}))
    try:
        with console.status(f"loading {model}"):
            pipe = Pipeline.from_model(model, settings.models_dir, providers=provider)
        width, height = parse_size(size) if size else (pipe.limits.image.default,) * 2
        request = GenerateRequest(
            prompt=prompt,
            seed=seed,
            steps=steps,
            width=width,
            height=height,
            init_image=load_init_image(init_image, width, height) if init_image is not None else None,
            strength=strength,
            latents=load_latents(latents) if latents is not None else None,
        )
        with console.status(f"generating {width}x{height}, {steps} step(s)"):
            result = pipe.generate(request)
        started = time.perf_counter()
        write_png(out, result.image)
        png_ms = round((time.perf_counter() - started) * 1000.0, 3)
    except (InvalidRequest, UnknownModel, ModelFilesError, ProviderUnavailable) as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True, highlight=False)
        raise typer.Exit(2) from exc
    except PipelineError as exc:
        console.print(f"[red]generation failed:[/red] {escape(str(exc))}", soft_wrap=True, highlight=False)
        raise typer.Exit(1) from exc

    summary = {**result.summary(), "model": model, "out": str(out)}
    summary["timings_ms"] = {**result.timings_ms, "png": png_ms}
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    if result.prompt_truncated:
        console.print(f"[yellow]prompt truncated[/yellow] to {pipe.tokenizer.constants.max_length} tokens")
    console.print(
        f"wrote [bold]{escape(str(out))}[/bold] ({width}x{height}, {result.steps} step(s), "
        f"seed {result.seed}) in {result.timings_ms['total']:.0f} ms on {result.provider}",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    app.command()(generate)
