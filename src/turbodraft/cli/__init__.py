"""The `turbodraft` command. Each subcommand lives in its own module and registers itself here."""

from __future__ import annotations

import typer
from rich.console import Console

from turbodraft import __version__
from turbodraft.cli import (
    bench,
    bench_cloud,
    bench_download,
    bench_engine,
    bench_tools,
    costs,
    doctor,
    generate,
    models,
    runpod_local,
    serve,
)

app = typer.Typer(
    name="turbodraft",
    help="Free image drafts in the browser, finals in the cloud, one gateway that routes and meters them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()


def _version(value: bool) -> None:
    if value:
        console.print(f"turbodraft {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, metavar="", help="Print the version and exit."
    ),
) -> None:
    """turbodraft: SD-Turbo drafts in the browser, SDXL finals on RunPod."""


for module in (serve, doctor, generate, costs, models, runpod_local, bench):
    module.register(app)
for bench_module in (bench_download, bench_engine, bench_cloud, bench_tools):
    bench_module.register(bench.bench_app)


def main() -> None:
    app()
