"""`turbodraft doctor`: what this machine has, and what blocks running."""

from __future__ import annotations

import importlib.metadata
import json
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from turbodraft.config import Settings

MIN_FREE_DISK = 3 * 1024**3  # the fp16 SD-Turbo mirror is about 2.5 GB


@dataclass
class Check:
    name: str
    ok: bool
    value: str
    #: A blocking failure stops `turbodraft serve` from being useful; others only limit features.
    blocking: bool = False
    hint: str = ""


def _version_of_command(cmd: list[str]) -> str | None:
    if shutil.which(cmd[0]) is None:
        return None
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr).strip() else None


def _package_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _writable(directory: Path) -> bool:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / ".doctor-probe"
        probe.write_text("ok")
        probe.unlink()
    except OSError:
        return False
    return True


def run_checks(settings: Settings) -> list[Check]:
    checks: list[Check] = []
    py_ok = sys.version_info >= (3, 11)
    checks.append(Check("python", py_ok, sys.version.split()[0], blocking=True, hint="Python 3.11 or newer"))

    ort = _package_version("onnxruntime")
    checks.append(Check("onnxruntime", ort is not None, ort or "missing", blocking=True, hint="pip install -e ."))

    node = _version_of_command(["node", "--version"])
    checks.append(Check("node", node is not None, node or "missing", hint="Node 20+ builds the web app"))

    chromium = _version_of_command(["chromium", "--version"])
    checks.append(Check("chromium", chromium is not None, chromium or "missing", hint="apt-get install chromium"))

    writable = _writable(settings.data_dir)
    checks.append(
        Check("data_dir", writable, str(settings.data_dir.resolve()), blocking=True, hint="must be writable")
    )

    if settings.data_dir.exists():
        free = shutil.disk_usage(settings.data_dir).free
        checks.append(
            Check("free_disk", free >= MIN_FREE_DISK, f"{free / 1024**3:.1f} GiB", hint="3 GiB for a model mirror")
        )

    built = (settings.web_dir / "index.html").is_file()
    checks.append(
        Check("web_build", built, str(settings.web_dir), blocking=True, hint="npm --prefix web run build")
    )

    if settings.runpod_cloud_configured:
        finals = f"RunPod endpoint {settings.runpod_endpoint_id}"
    elif settings.runpod_api_key is not None:
        finals = "RunPod key set but no endpoint id: finals go to the local RunPod-compatible server"
    else:
        finals = "local RunPod-compatible server (no RunPod key)"
    checks.append(Check("finals_provider", True, finals))
    checks.append(Check("server_model", True, settings.server_model))
    return checks


def doctor(json_output: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Report the environment; exit non-zero when something blocks running."""
    settings = Settings()
    checks = run_checks(settings)
    blockers = [c for c in checks if c.blocking and not c.ok]
    if json_output:
        print(json.dumps({"ok": not blockers, "checks": [asdict(c) for c in checks]}, indent=2))
    else:
        console = Console()
        table = Table("check", "status", "value", "hint")
        for c in checks:
            status = "[green]ok[/green]" if c.ok else ("[red]BLOCKS[/red]" if c.blocking else "[yellow]warn[/yellow]")
            table.add_row(c.name, status, c.value, "" if c.ok else c.hint)
        console.print(table)
        for c in blockers:
            console.print(f"[red]blocked:[/red] {c.name}: {c.value} ({c.hint})")
    if blockers:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command()(doctor)
