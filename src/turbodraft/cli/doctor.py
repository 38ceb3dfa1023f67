"""`turbodraft doctor`: what this machine has, and what blocks running."""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from turbodraft.cli.problems import database_problem, load_settings, redacted
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


def database_check(settings: Settings) -> Check:
    """The ledger database: its driver installed, reachable, and at this version's schema (or migratable)."""
    from sqlalchemy.engine import make_url

    from turbodraft.ledger import create_ledger_engine, current_revision, head_revision
    from turbodraft.ledger.migrate import known_revisions

    url = settings.ledger_url
    shown = redacted(url)
    try:
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database and not Path(parsed.database).exists():
            return Check("database", True, f"{shown}: not created yet (serve creates it)")
        engine = create_ledger_engine(url)
        try:
            current = current_revision(engine)
        finally:
            engine.dispose()
    except Exception as exc:  # driver missing, unreachable, refused: each is one line
        return Check("database", False, database_problem(exc, url), blocking=True, hint="see the value")
    head = head_revision()
    if current == head:
        return Check("database", True, f"{shown}: reachable, schema at revision {head}")
    if current is not None and current not in known_revisions():
        return Check(
            "database",
            False,
            f"{shown}: schema revision {current} is newer than this turbodraft knows (head {head})",
            blocking=True,
            hint="upgrade turbodraft, or point TURBODRAFT_DATABASE_URL at another database",
        )
    return Check(
        "database",
        True,
        f"{shown}: reachable, schema at revision {current or 'none'}; `serve` migrates it to {head}",
    )


async def _runpod_health(settings: Settings) -> str:
    import httpx

    from turbodraft.providers.runpod_client import RunPodClient

    assert settings.runpod_api_key is not None and settings.runpod_endpoint_id is not None
    async with httpx.AsyncClient() as http:
        client = RunPodClient(
            http,
            endpoint_id=settings.runpod_endpoint_id,
            api_key=settings.runpod_api_key.get_secret_value().strip(),
            base_url=settings.runpod_base_url,
            request_timeout_s=10.0,
        )
        health = await client.health(deadline=time.monotonic() + 20)
    return (
        f"endpoint {settings.runpod_endpoint_id} answers: {health.workers_idle} idle / "
        f"{health.workers_running} running workers, {health.in_queue} queued"
    )


def runpod_check(settings: Settings) -> Check | None:
    """RunPod's /health when a key is set: a wrong key or endpoint blocks every final."""
    if settings.runpod_api_key is None or not settings.runpod_api_key.get_secret_value().strip():
        return None
    if not settings.runpod_endpoint_id:
        return Check(
            "runpod_health",
            False,
            "a RunPod key is set but no endpoint id",
            hint="set TURBODRAFT_RUNPOD_ENDPOINT_ID, or unset the key to use the local server",
        )
    from turbodraft.providers.runpod_client import RunPodAuthError, RunPodError

    try:
        value = asyncio.run(_runpod_health(settings))
    except RunPodAuthError:
        return Check(
            "runpod_health",
            False,
            f"{settings.runpod_base_url}: the API key was refused",
            blocking=True,
            hint="check TURBODRAFT_RUNPOD_API_KEY",
        )
    except (RunPodError, OSError) as exc:
        return Check(
            "runpod_health",
            False,
            f"{settings.runpod_base_url}/{settings.runpod_endpoint_id}/health: {exc}",
            blocking=True,
            hint="check TURBODRAFT_RUNPOD_ENDPOINT_ID and TURBODRAFT_RUNPOD_BASE_URL, and the network",
        )
    return Check("runpod_health", True, value)


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
    checks.append(database_check(settings))
    if (runpod := runpod_check(settings)) is not None:
        checks.append(runpod)
    checks.append(Check("server_model", True, settings.server_model))
    return checks


def doctor(
    json_output: bool = typer.Option(False, "--json", metavar="", help="Machine-readable output."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="The data directory to check."),
) -> None:
    """Report the environment; exit non-zero when something blocks running."""
    settings = load_settings({"data_dir": "--data-dir"}, **({} if data_dir is None else {"data_dir": data_dir}))
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
