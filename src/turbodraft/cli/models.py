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
from turbodraft.models.plan import PullPlan, plan_pull

out = Console()
err = Console(stderr=True)

DATA_DIR_OPTION = typer.Option(None, "--data-dir", help="Data directory (default: settings, ./.turbodraft).")


class RichProgress:
    """mirror.Progress on a rich progress display: one bar per download, copy or hash."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._tasks: dict[str, TaskID] = {}

    def expect(self, label: str, total: int | None, completed: int = 0) -> None:
        pass  # a bar appears when its transfer begins

    def begin(self, label: str, total: int | None, completed: int = 0) -> None:
        self._tasks[label] = self._progress.add_task(label, total=total, completed=completed)

    def advance(self, label: str, amount: int) -> None:
        task = self._tasks.get(label)
        if task is not None:
            self._progress.advance(task, amount)

    def end(self, label: str) -> None:
        task = self._tasks.pop(label, None)
        if task is None:
            return
        if label.startswith("verify "):
            # Hash passes are short-lived; keep the screen to one line per file.
            self._progress.remove_task(task)
        elif label.startswith("build "):
            # A build has no byte count: show it done rather than forever pending.
            self._progress.update(task, total=1, completed=1)


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
        None, "--from", help="Copy from this directory instead (a variant built or downloaded elsewhere)."
    ),
    endpoint: str | None = typer.Option(
        None,
        "--endpoint",
        envvar="HF_ENDPOINT",
        help="Hugging Face Hub endpoint (default https://huggingface.co).",
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print what would be fetched and built, with sizes; fetch nothing (no network)."
    ),
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """Download (or copy, or build) a variant into the mirror, verify its sha256, and record it in a lock file."""
    variant = _variant(variant_id)
    settings = _settings(data_dir)
    if dry_run:
        _print_plan(plan_pull(variant, settings.models_dir, from_dir))
        return
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
    origin = lock.origin
    if origin.kind == "huggingface":
        where = f"at {origin.commit}"
    elif origin.kind == "derived":
        where = "built from " + ", ".join(f"{i.repo}@{i.commit[:12]}" for i in origin.inputs)
    else:
        where = f"from {origin.path}"
    out.print(
        f"{variant.id}: {len(lock.files)} files, {_human(lock.total_size)}, verified, {where}", soft_wrap=True
    )


def _approx(size: int | None, exact: bool) -> str:
    return _human(size) if exact or size is None else f"~{_human(size)}"


def _print_plan(plan: PullPlan) -> None:
    table = Table("step", "file", "from / how", "size", title=f"turbodraft models pull {plan.variant_id}")
    for step in plan.steps:
        name = step.path if step.required else f"{step.path} (optional)"
        table.add_row(step.kind, name, step.source, _approx(step.size, step.exact))
    out.print(table)
    exact = plan.exact
    out.print(
        f"download {_approx(plan.download_bytes, exact)}, "
        f"result {_approx(plan.result_bytes, exact)} in the mirror"
        + ("" if exact else " (~: the Hub's rounded figures; the pull checks exact sizes and sha256)"),
        soft_wrap=True,
    )
    if plan.mirrored is not None:
        out.print(f"already mirrored ({plan.mirrored}): a pull fetches only what changed", soft_wrap=True)
    out.print("nothing was fetched (dry run)")


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
