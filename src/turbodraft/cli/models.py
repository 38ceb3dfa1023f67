"""`turbodraft models pull | list | verify | rm`: the gateway's model mirror in the data dir."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from turbodraft.config import Settings
from turbodraft.models import mirror
from turbodraft.models.lockfile import LockFileError
from turbodraft.models.manifest import AnyModel, UnknownModel, load_manifest

out = Console()
err = Console(stderr=True)

DATA_DIR_OPTION = typer.Option(None, "--data-dir", help="Data directory (default: settings, ./.turbodraft).")


class RichProgress:
    """mirror.Progress on a rich progress display: one bar per download, copy or hash."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._tasks: dict[str, TaskID] = {}

    def begin(self, label: str, total: int | None, completed: int = 0) -> None:
        self._tasks[label] = self._progress.add_task(label, total=total, completed=completed)

    def advance(self, label: str, amount: int) -> None:
        task = self._tasks.get(label)
        if task is not None:
            self._progress.advance(task, amount)

    def end(self, label: str) -> None:
        task = self._tasks.pop(label, None)
        if task is not None and label.startswith("verify "):
            # Hash passes are short-lived; keep the screen to one line per file.
            self._progress.remove_task(task)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
    )


def _settings(data_dir: Path | None) -> Settings:
    return Settings(data_dir=data_dir) if data_dir is not None else Settings()


def _variant(variant_id: str) -> AnyModel:
    try:
        return load_manifest().model(variant_id)
    except UnknownModel as exc:
        err.print(f"[red]error:[/red] {exc}", soft_wrap=True)
        raise typer.Exit(2) from exc


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", soft_wrap=True)
    return typer.Exit(code)


def _human(size: int | None) -> str:
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"


def pull(
    variant_id: str = typer.Argument(
        ..., metavar="VARIANT", help="A variant id from `turbodraft models list`."
    ),
    from_dir: Path | None = typer.Option(
        None, "--from", help="Copy from this directory instead (how the locally built int8 variant gets in)."
    ),
    endpoint: str | None = typer.Option(
        None,
        "--endpoint",
        envvar="HF_ENDPOINT",
        help="Hugging Face Hub endpoint (default https://huggingface.co).",
    ),
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """Download (or copy) a variant into the mirror, verify its sha256, and record it in a lock file."""
    variant = _variant(variant_id)
    settings = _settings(data_dir)
    try:
        with _progress() as progress:
            lock = mirror.pull(
                variant,
                settings.models_dir,
                source_dir=from_dir,
                endpoint=endpoint,
                progress=RichProgress(progress),
            )
    except (mirror.MirrorError, LockFileError) as exc:
        raise _fail(str(exc)) from exc
    where = f"at {lock.origin.commit}" if lock.origin.kind == "huggingface" else f"from {lock.origin.path}"
    out.print(
        f"{variant.id}: {len(lock.files)} files, {_human(lock.total_size)}, verified, {where}", soft_wrap=True
    )


def list_models(
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """Every manifest variant and whether this machine has it."""
    try:
        rows = mirror.status(load_manifest(), _settings(data_dir).models_dir)
    except LockFileError as exc:
        raise _fail(str(exc)) from exc
    if as_json:
        out.print_json(json.dumps([asdict(row) for row in rows]))
        return
    table = Table("variant", "dtype", "state", "size", "source / commit")
    for row in rows:
        table.add_row(row.variant_id, row.dtype, row.state, _human(row.size), row.commit or row.source)
    out.print(table)


def verify(
    variant_id: str | None = typer.Argument(
        None, metavar="[VARIANT]", help="Default: every mirrored variant."
    ),
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """Re-hash mirrored files against the manifest (or the lock file); exit 1 on any mismatch."""
    settings = _settings(data_dir)
    manifest = load_manifest()
    if variant_id is not None:
        variants = [_variant(variant_id)]
    else:
        mirrored = {
            r.variant_id for r in mirror.status(manifest, settings.models_dir) if r.state == "mirrored"
        }
        variants = [v for v in manifest.all_models() if v.id in mirrored]
        if not variants:
            out.print("nothing is mirrored; nothing to verify")
            return
    failed = False
    for variant in variants:
        try:
            with _progress() as progress:
                report = mirror.verify(variant, settings.models_dir, progress=RichProgress(progress))
        except (mirror.MirrorError, LockFileError) as exc:
            raise _fail(str(exc)) from exc
        if report.ok:
            out.print(f"{variant.id}: {len(report.files)} files ok")
            continue
        failed = True
        table = Table("file", "problem", "expected", "actual", title=f"{variant.id}: damaged")
        for check in report.files:
            if check.state == "sha256":
                table.add_row(check.path, "sha256 mismatch", check.expected_sha256, check.actual_sha256 or "")
            elif check.state == "size":
                table.add_row(check.path, "size mismatch", str(check.expected_size), str(check.actual_size))
            elif check.state == "missing":
                table.add_row(check.path, "missing", str(check.expected_size), "")
        out.print(table)
        out.print(
            f"repair with `turbodraft models rm {variant.id}` and `turbodraft models pull {variant.id}`"
        )
    if failed:
        raise typer.Exit(1)


def rm(
    variant_id: str = typer.Argument(..., metavar="VARIANT"),
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """Delete a variant's mirrored files and lock file (a partial download included)."""
    try:
        removed = mirror.remove(_settings(data_dir).models_dir, variant_id)
    except mirror.MirrorError as exc:
        raise _fail(str(exc), 2) from exc
    if not removed:
        raise _fail(f"{variant_id} is not mirrored; nothing removed")
    out.print(f"removed {variant_id}")


def register(app: typer.Typer) -> None:
    models_app = typer.Typer(
        name="models", help="The model mirror the gateway serves to browsers.", no_args_is_help=True
    )
    models_app.command("pull")(pull)
    models_app.command("list")(list_models)
    models_app.command("verify")(verify)
    models_app.command("rm")(rm)
    app.add_typer(models_app, name="models")
