"""`turbodraft bench download`: browser model-store download rate vs curl (bench/download.py).

The lead wires it with `bench_download.register(bench_app)` next to the other benchmarks.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from turbodraft.cli.bench import load_bench_module


def download(
    size_mb: int = typer.Option(1024, min=1, help="Size of the generated file in MiB."),
    chunk_mb: int = typer.Option(32, min=1, help="The store's Range chunk size in MiB."),
    curl_runs: int = typer.Option(2, min=1, help="curl downloads; the fastest is the reference."),
    json_output: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    out: Path | None = typer.Option(None, "--out", help="Also write the JSON here."),
) -> None:
    """A generated file from the gateway mirror into OPFS in headless Chromium (sha256 verified) vs curl."""
    result = load_bench_module("download").run(size_mb, chunk_mb, curl_runs)
    text = json.dumps(result, indent=2)
    if out is not None:
        out.write_text(text + "\n")
    if json_output:
        typer.echo(text)
    else:
        typer.echo(
            f"browser {result['browser']['rate_mb_s']} MB/s vs curl {result['curl']['best_rate_mb_s']} MB/s: "
            f"ratio {result['ratio_vs_curl']} ({result['size_bytes']} bytes, {result['machine']['cpu_model']}, "
            f"{result['machine']['cores']} cores)"
        )


def register(bench_app: typer.Typer) -> None:
    bench_app.command("download")(download)
