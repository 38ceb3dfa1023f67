"""`turbodraft bench download`: browser model-store download rate vs curl (bench/download.py).

The lead wires it with `bench_download.register(bench_app)` next to the other benchmarks.
"""

from __future__ import annotations

from pathlib import Path

import typer

from turbodraft.cli.bench import load_bench_module, save_result


def download(
    size_mb: int = typer.Option(1024, min=1, help="Size of the generated file in MiB."),
    chunk_mb: int = typer.Option(32, min=1, help="Range size in MiB of the streamed (no chunk hashes) path."),
    hash_chunk_mb: int = typer.Option(8, min=1, help="Chunk size in MiB of the gateway's chunk hashes."),
    parallel_chunks: int = typer.Option(3, min=1, help="Chunk requests the browser keeps in flight."),
    runs: int = typer.Option(3, min=1, help="Runs of each side, interleaved; the best of each is compared."),
    compare_streamed: bool = typer.Option(
        False, "--compare-streamed", help="Also measure the whole-file (hash-wasm) path, for before/after."
    ),
    json_output: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    out: Path | None = typer.Option(None, "--out", help="Also write the JSON here."),
) -> None:
    """A generated file from the gateway mirror into OPFS in headless Chromium (sha256 verified) vs curl."""
    result = load_bench_module("download").run(
        size_mb,
        chunk_mb,
        runs,
        hash_chunk_mb=hash_chunk_mb,
        parallel_chunks=parallel_chunks,
        compare_streamed=compare_streamed,
    )
    text = save_result(result, out)
    if json_output:
        typer.echo(text)
    else:
        typer.echo(
            f"browser {result['browser']['rate_mb_s']} MB/s vs curl {result['curl']['best_rate_mb_s']} MB/s: "
            f"ratio {result['ratio_vs_curl']} ({result['size_bytes']} bytes, {result['machine']['cpu_model']}, "
            f"{result['machine']['cores']} cores)"
        )
        if "browser_streamed" in result:
            typer.echo(
                f"whole-file (hash-wasm) path: {result['browser_streamed']['rate_mb_s']} MB/s, "
                f"ratio {result['ratio_streamed_vs_curl']}"
            )


def register(bench_app: typer.Typer) -> None:
    bench_app.command("download")(download)
