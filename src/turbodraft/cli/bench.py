"""`turbodraft bench ...`: benchmarks whose results go to bench/results/*.json.

Each benchmark lives in the repository's bench/ folder (it is development tooling, not part of the
package) and registers a command here; other modules add theirs with `register_command(bench_app)`.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import typer

from turbodraft.models.manifest import REPO_ROOT

BENCH_DIR = REPO_ROOT / "bench"

bench_app = typer.Typer(help="Benchmarks (JSON results for bench/results/).", no_args_is_help=True)


def load_bench_module(name: str) -> ModuleType:
    """bench/<name>.py from the checkout; a clear error where the package was installed without one."""
    path = BENCH_DIR / f"{name}.py"
    if not path.is_file():
        raise typer.BadParameter(f"{path} not found: benchmarks run from a checkout of the repository")
    spec = importlib.util.spec_from_file_location(f"turbodraft_bench_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def save_result(result: dict[str, Any], target: Path | None) -> str:
    """The result as JSON text, also written to `target` (its folders made) when there is one."""
    text = json.dumps(result, indent=2)
    if target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text + "\n")
    return text


@bench_app.command("gateway")
def gateway(
    connections: int = typer.Option(8, min=1, max=256, help="Concurrent keep-alive connections."),
    users: int = typer.Option(1000, min=1, help="Distinct user ids the requests rotate through."),
    duration: float = typer.Option(10.0, min=1.0, help="Measured seconds (after a 2 s warm-up)."),
    json_output: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    out: Path | None = typer.Option(None, "--out", help="Also write the JSON here."),
) -> None:
    """Route + ledger-write requests per second and p50/p99 latency against a gateway in another process."""
    result = load_bench_module("gateway").run(connections, users, duration)
    text = save_result(result, out)
    if json_output:
        typer.echo(text)
    else:
        typer.echo(
            f"{result['req_per_s']} req/s, p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms "
            f"({result['connections']} connections, {result['machine']['cpu_model']}, "
            f"{result['machine']['cores']} cores)"
        )


def register(app: typer.Typer) -> None:
    app.add_typer(bench_app, name="bench")
