"""What `turbodraft models pull VARIANT` would fetch and build, from the manifest alone (`--dry-run`).

No network and no heavy imports: the sizes are the manifest's (exact where recorded, else the Hub's rounded
listing), so a dry run works offline and in an environment without torch or onnx.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from turbodraft.models.local_copy import fixture_root
from turbodraft.models.lockfile import read_lock
from turbodraft.models.manifest import AnyModel, ModelFile

StepKind = Literal["fetch", "build", "copy"]

_BUILD_WORDS = {
    "taesd-decoder": "TAESD decoder, given the engine's VAE decoder interface",
    "taesd-encoder": "TAESD encoder, given the engine's VAE encoder interface",
    "fp32": "fp16 graph widened to fp32",
    "int8": "widened to fp32, then dynamic int8 (onnxruntime.quantization) of",
    "free-dims": "fixed-size graph given free height and width",
    "floor-pools": "pooling ceil_mode cleared (checked at the model's resolution)",
}


@dataclass(frozen=True)
class PlannedStep:
    kind: StepKind
    #: The variant's file this step makes (for a fetch: the file the input is for).
    path: str
    #: Where the bytes come from: "hf:<repo>@<revision>/<path>", "repo:<dir>/<path>" or a build in words.
    source: str
    size: int | None
    #: Whether `size` is the exact figure (a pull checks it) or an estimate.
    exact: bool
    required: bool = True
    #: The label the pull reports this step's progress under (mirror.Progress).
    label: str = ""


@dataclass(frozen=True)
class PullPlan:
    variant_id: str
    steps: list[PlannedStep]
    #: The mirror that exists now: its commit (or directory), or None.
    mirrored: str | None

    @property
    def download_bytes(self) -> int | None:
        return _total(s for s in self.steps if s.kind == "fetch")

    @property
    def result_bytes(self) -> int | None:
        """The variant's files once pulled (what the mirror, and later each browser, holds): per file, what
        its last step makes."""
        last = {s.path: s for s in self.steps}
        return _total(last.values())

    @property
    def exact(self) -> bool:
        return all(s.exact for s in self.steps)


def _total(steps: Iterable[PlannedStep]) -> int | None:
    sizes = [s.size for s in steps]
    return None if any(size is None for size in sizes) else sum(size for size in sizes if size is not None)


def _hub(repo: str, revision: str, path: str) -> str:
    return f"hf:{repo}@{revision}/{path}"


def _size(model_file: ModelFile) -> tuple[int | None, bool]:
    return model_file.expected_size, model_file.size is not None


def plan_pull(variant: AnyModel, models_dir: Path, source_dir: Path | None = None) -> PullPlan:
    steps: list[PlannedStep] = []
    source = variant.source
    for model_file in variant.files:
        size, exact = _size(model_file)
        required = model_file.required
        if source_dir is not None or source.kind == "repo_path":
            root = source_dir if source_dir is not None else fixture_root(variant)
            where = f"{root}/{model_file.path}" if root is not None else model_file.path
            on_disk = root / model_file.path if root is not None else None
            if size is None and on_disk is not None and on_disk.is_file():
                size, exact = on_disk.stat().st_size, True
            steps.append(
                PlannedStep("copy", model_file.path, f"repo:{where}", size, exact, required, model_file.path)
            )
        elif source.kind == "huggingface":
            origin = model_file.origin
            repo, revision, remote = (
                (origin.repo, origin.revision, origin.path)
                if origin is not None
                else (source.repo, source.revision, model_file.path)
            )
            steps.append(
                PlannedStep(
                    "fetch", model_file.path, _hub(repo, revision, remote), size, exact, required, model_file.path
                )
            )
        else:
            build = model_file.build
            assert build is not None  # every file of a derived variant has one (manifest validation)
            given = build.input
            steps.append(
                PlannedStep(
                    "fetch",
                    model_file.path,
                    _hub(given.repo, given.revision, given.path),
                    given.size_estimate,
                    False,
                    required,
                    f"{given.repo}/{given.path}",
                )
            )
            if build.op != "copy":
                words = _BUILD_WORDS[build.op]
                if build.op == "int8":
                    words = f"{words} {', '.join(build.quantize)}"
                steps.append(
                    PlannedStep("build", model_file.path, words, size, exact, required, f"build {model_file.path}")
                )
    lock = read_lock(models_dir, variant.id)
    mirrored = None
    if lock is not None:
        origin_ = lock.origin
        mirrored = origin_.path if origin_.kind == "directory" else getattr(origin_, "commit", None) or "built"
    return PullPlan(variant.id, steps, mirrored)
