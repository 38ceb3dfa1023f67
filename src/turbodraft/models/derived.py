"""Pulling a derived variant: fetch each file's public input from the Hub, build the file from it, record it.

Each input goes through the same Hub download as any mirrored file (resumed from its partial file, checked
against the Hub's LFS sha256 or the manifest's pin) into `<models>/.inputs/<variant>/<repo>/<path>`; a `copy`
file is then moved into place, any other is built (derive.py) and hashed. A built file's sha256 cannot be in
the manifest up front (it depends on the library versions that write it), so the first build of an input
with a given recipe and tools records it in `<models>/<variant>.builds.json`, and every later build of the
same input with the same tools must give the same bytes, else the pull fails and keeps nothing. A manifest
`sha256` on a built file, where a maintainer has recorded one, is checked as well. The lock file then names,
per file, the input (repo, path, commit, sha256) and the build.

A file whose input and build are unchanged since the last pull (same commit, same tools) is kept as it is, so
a second pull only makes HEAD requests.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from pathlib import Path

from turbodraft.models import derive
from turbodraft.models.chunk_hashes import ChunkHasher
from turbodraft.models.local_copy import INPUTS_DIR, inputs_dir, variant_dir
from turbodraft.models.lockfile import (
    BuildRecord,
    BuildRecords,
    BuiltFrom,
    DerivedOrigin,
    InputCommit,
    LockedFile,
    LockFile,
    lock_path,
    read_builds,
    read_lock,
    write_builds,
    write_lock,
)
from turbodraft.models.manifest import AnyModel, Family, FileBuild, ModelFile
from turbodraft.models.mirror import (
    FileNotOnHub,
    HubFile,
    HubPull,
    IntegrityError,
    MirrorError,
    hash_file_with_progress,
)

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _tool(build: FileBuild) -> str:
    return "" if build.op == "copy" else derive.tool_versions()


def _input_file(build: FileBuild) -> ModelFile:
    """The input as a file to download: its label names the repo, its pin (if any) is checked."""
    return ModelFile(path=f"{build.input.repo}/{build.input.path}", sha256=build.input.sha256)


def _current(known: LockedFile | None, hub_file: HubFile, build: FileBuild, dest: Path) -> bool:
    if known is None or known.built_from is None or not dest.is_file() or dest.stat().st_size != known.size:
        return False
    made = known.built_from
    return (made.op, made.repo, made.path, made.commit, made.tool) == (
        build.op,
        hub_file.repo,
        hub_file.remote_path,
        hub_file.commit,
        _tool(build),
    )


def pull_derived(variant: AnyModel, family: Family | None, models_dir: Path, hub: HubPull) -> LockFile:
    root = variant_dir(models_dir, variant.id)
    staging = inputs_dir(models_dir, variant.id)
    previous = read_lock(models_dir, variant.id)
    records = read_builds(models_dir, variant.id)

    plan: list[tuple[ModelFile, FileBuild, HubFile]] = []
    for model_file in variant.files:
        build = model_file.build
        if build is None:  # the manifest's validation makes every file of a derived variant have one
            raise MirrorError(f"{variant.id}/{model_file.path} says nothing about how it is built")
        try:
            hub_file = hub.describe_at(_input_file(build), build.input.repo, build.input.revision, build.input.path)
        except FileNotOnHub:
            if model_file.required:
                raise
            continue
        plan.append((model_file, build, hub_file))

    locked: list[LockedFile] = []
    todo: list[tuple[ModelFile, FileBuild, HubFile]] = []
    for model_file, build, hub_file in plan:
        known = previous.file(model_file.path) if previous else None
        if known is not None and _current(known, hub_file, build, root / model_file.path):
            locked.append(known)
        else:
            todo.append((model_file, build, hub_file))
    for _, _, hub_file in plan:
        kept = all(hub_file is not h for _, _, h in todo)
        hub.progress.expect(hub_file.model_file.path, hub_file.size, completed=(hub_file.size or 0) if kept else 0)
    if todo:
        # Files are about to change under the old lock's hashes: stop announcing the old copy first.
        lock_path(models_dir, variant.id).unlink(missing_ok=True)
    for model_file, build, hub_file in todo:
        given = staging / hub_file.repo / hub_file.remote_path
        fetched = _reuse(given, hub_file, hub) or hub.download(hub_file, given)
        locked.append(_make(model_file, build, hub_file, fetched, family, models_dir, records, hub))
        records = read_builds(models_dir, variant.id)

    order = [m.path for m in variant.files]
    locked.sort(key=lambda f: order.index(f.path))
    commits = {(h.repo, b.input.revision, h.commit) for _, b, h in plan}
    origin = DerivedOrigin(
        endpoint=hub.endpoint_url,
        inputs=[InputCommit(repo=r, revision=rev, commit=c) for r, rev, c in sorted(commits)],
    )
    lock = LockFile(variant=variant.id, origin=origin, files=locked)
    write_lock(models_dir, lock)
    shutil.rmtree(staging, ignore_errors=True)
    _remove_if_empty(models_dir / INPUTS_DIR)
    return lock


def _reuse(given: Path, hub_file: HubFile, hub: HubPull) -> LockedFile | None:
    """An input a failed pull already downloaded whole, if it still hashes to what the Hub (or the manifest)
    says: a pull that failed on its last file does not fetch the first ones again."""
    expected = hub_file.model_file.sha256 or (hub_file.etag if hub_file.etag and _SHA256.match(hub_file.etag) else None)
    if expected is None or not given.is_file() or given.stat().st_size != hub_file.size:
        return None
    hasher = ChunkHasher(hub.chunk_bytes)
    if hash_file_with_progress(given, hub.progress, f"verify {hub_file.model_file.path}", hasher) != expected:
        given.unlink()
        return None
    return LockedFile(
        path=hub_file.model_file.path,
        size=given.stat().st_size,
        sha256=expected,
        repo=hub_file.repo,
        commit=hub_file.commit,
        chunks=hasher.chunks(),
    )


def _make(
    model_file: ModelFile,
    build: FileBuild,
    hub_file: HubFile,
    fetched: LockedFile,
    family: Family | None,
    models_dir: Path,
    records: BuildRecords,
    hub: HubPull,
) -> LockedFile:
    """The output file from its verified input: moved (copy) or built, hashed, checked against the records."""
    variant_root = variant_dir(models_dir, records.variant)
    dest = variant_root / model_file.path
    dest.parent.mkdir(parents=True, exist_ok=True)
    source = inputs_dir(models_dir, records.variant) / hub_file.repo / hub_file.remote_path
    tool = _tool(build)
    made_from = BuiltFrom(
        op=build.op,
        repo=hub_file.repo,
        path=hub_file.remote_path,
        commit=hub_file.commit,
        sha256=fetched.sha256,
        tool=tool,
    )
    if build.op == "copy":
        _check_pin(model_file, fetched.size, fetched.sha256)
        _link_or_copy(source, dest)
        return LockedFile(
            path=model_file.path,
            size=fetched.size,
            sha256=fetched.sha256,
            repo=hub_file.repo,
            commit=hub_file.commit,
            chunks=fetched.chunks,
            built_from=made_from,
        )

    partial = dest.with_name(dest.name + ".built.incomplete")
    label = f"build {model_file.path}"
    hub.progress.begin(label, None)
    try:
        derive.build(build.op, source, partial, family, build.quantize, build.resolution)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        hub.progress.end(label)
    hasher = ChunkHasher(hub.chunk_bytes)
    try:
        sha = hash_file_with_progress(partial, hub.progress, f"verify {model_file.path}", hasher)
        size = partial.stat().st_size
        _check_pin(model_file, size, sha)
        recorded = records.find(model_file.path, build.op, fetched.sha256, tool)
        if recorded is not None and (recorded.sha256, recorded.size) != (sha, size):
            raise IntegrityError(
                model_file.path,
                f"rebuild (recorded in {models_dir / (records.variant + '.builds.json')} on "
                f"{recorded.built_at:%Y-%m-%d}; the same input and tools must give the same bytes) sha256",
                recorded.sha256,
                sha,
            )
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, dest)
    if recorded is None:
        record = BuildRecord(
            path=model_file.path, op=build.op, input_sha256=fetched.sha256, tool=tool, sha256=sha, size=size
        )
        write_builds(models_dir, records.model_copy(update={"builds": [*records.builds, record]}))
    return LockedFile(
        path=model_file.path,
        size=size,
        sha256=sha,
        repo=hub_file.repo,
        commit=hub_file.commit,
        chunks=hasher.chunks(),
        built_from=made_from,
    )


def _link_or_copy(source: Path, dest: Path) -> None:
    """The verified input becomes the variant's file: a hard link (the UNet is GBs), else a copy. The input
    stays until the whole pull has succeeded, so a failed pull resumes without fetching it again."""
    partial = dest.with_name(dest.name + ".link.incomplete")
    partial.unlink(missing_ok=True)
    try:
        os.link(source, partial)
    except OSError:
        shutil.copyfile(source, partial)
    os.replace(partial, dest)


def _check_pin(model_file: ModelFile, size: int, sha: str) -> None:
    if model_file.size is not None and model_file.size != size:
        raise IntegrityError(model_file.path, "size", str(model_file.size), str(size))
    if model_file.sha256 is not None and model_file.sha256 != sha:
        raise IntegrityError(model_file.path, "sha256", model_file.sha256, sha)


def _remove_if_empty(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.rmdir()
