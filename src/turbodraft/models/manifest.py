"""The model manifest: which SD-Turbo variants exist, where their files come from, and the constants that make
the Python twin and the browser engine compute the same image.

`manifest.json` is plain JSON on purpose: the TypeScript engine imports the same file, so there is exactly one
place where the scheduler constants, tokenizer ids and size limits live.
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

#: The checkout's root; fixture variants name paths relative to it.
REPO_ROOT = Path(__file__).resolve().parents[3]

#: The graphs every variant must ship, in the public web layout.
REQUIRED_GRAPHS = ("text_encoder/model.onnx", "unet/model.onnx", "vae_decoder/model.onnx")
TOKENIZER_FILE = "tokenizer.json"
#: Optional graph for img2img; the public web export does not ship it.
VAE_ENCODER_GRAPH = "vae_encoder/model.onnx"

Backend = Literal["webgpu-f16", "webgpu", "wasm"]
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ManifestError(ValueError):
    """The manifest file is malformed or inconsistent."""


class UnknownModel(LookupError):
    """A model id that the manifest does not list."""

    def __init__(self, model_id: str, known: list[str]) -> None:
        super().__init__(f"unknown model {model_id!r}; known: {', '.join(known)}")
        self.model_id = model_id


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SchedulerConstants(_Frozen):
    """diffusers' EulerDiscreteScheduler configuration as SD-Turbo ships it."""

    class_name: Literal["EulerDiscreteScheduler"] = "EulerDiscreteScheduler"
    num_train_timesteps: int = Field(gt=0)
    beta_start: float = Field(gt=0)
    beta_end: float = Field(gt=0)
    beta_schedule: Literal["scaled_linear", "linear"]
    prediction_type: Literal["epsilon"]
    timestep_spacing: Literal["trailing", "linspace", "leading"]
    steps_offset: int = Field(ge=0)
    interpolation_type: Literal["linear"]
    final_sigmas_type: Literal["zero"]


class TokenizerConstants(_Frozen):
    pad_token_id: int = Field(ge=0)
    bos_token_id: int = Field(ge=0)
    eos_token_id: int = Field(ge=0)
    max_length: int = Field(ge=3)


class VaeConstants(_Frozen):
    scaling_factor: float = Field(gt=0)
    latent_channels: int = Field(gt=0)
    downscale: int = Field(gt=0)


class Family(_Frozen):
    """Constants shared by every variant of one model (what the math needs, independent of file format)."""

    description: str
    scheduler: SchedulerConstants
    tokenizer: TokenizerConstants
    vae: VaeConstants


class SizeRange(_Frozen):
    default: int = Field(gt=0)
    min: int = Field(gt=0)
    max: int = Field(gt=0)
    multiple_of: int = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> SizeRange:
        if not self.min <= self.default <= self.max:
            raise ValueError(f"need min <= default <= max, got {self.min}, {self.default}, {self.max}")
        for name in ("default", "min", "max"):
            if getattr(self, name) % self.multiple_of:
                raise ValueError(f"{name} {getattr(self, name)} is not a multiple of {self.multiple_of}")
        return self

    def accepts(self, value: int) -> bool:
        return self.min <= value <= self.max and value % self.multiple_of == 0


class FileOrigin(_Frozen):
    """Where one file comes from when it is not in the variant's own source repository."""

    repo: str
    revision: str
    path: str


#: How a derived file is made from its public input (turbodraft.models.derive does each):
#: copy: the input as it is; taesd-decoder / taesd-encoder: a TAESD graph in AutoencoderTiny's own latent scale
#: given the engine's VAE interface; fp32: an fp16 graph widened to fp32; int8: widened, then dynamic int8;
#: free-dims: a fixed-size image graph given free height and width (the model zoo's style graphs);
#: floor-pools: ceil_mode cleared on pooling nodes where it changes nothing at `resolution` (U2-Net, IS-Net).
BuildOp = Literal["copy", "taesd-decoder", "taesd-encoder", "fp32", "int8", "free-dims", "floor-pools"]


class BuildInput(_Frozen):
    """A public file a derived file is made from: a Hub repository, a revision (resolved once per pull to a
    commit) and a path, with the size the Hub lists for it (for `pull --dry-run` and the model panel)."""

    repo: str
    revision: str
    path: str
    size_estimate: int | None = Field(default=None, gt=0)
    #: The input's content hash, where known; otherwise the Hub's LFS sha256 is checked.
    sha256: str | None = None

    @model_validator(mode="after")
    def _well_formed(self) -> BuildInput:
        if self.sha256 is not None and not _SHA256.match(self.sha256):
            raise ValueError(f"{self.repo}/{self.path}: sha256 must be 64 lowercase hex digits")
        return self


class FileBuild(_Frozen):
    op: BuildOp
    input: BuildInput
    #: int8 only: the operator types whose weights are quantized.
    quantize: list[str] = Field(default_factory=list)
    #: floor-pools only: the model's input size in pixels, where floor and ceil pooling must agree.
    resolution: int | None = Field(default=None, ge=8)

    @model_validator(mode="after")
    def _op_arguments(self) -> FileBuild:
        if (self.op == "int8") != bool(self.quantize):
            raise ValueError(f"{self.input.path}: `quantize` (operator types) goes with int8 builds, and only them")
        if (self.op == "floor-pools") != (self.resolution is not None):
            raise ValueError(f"{self.input.path}: `resolution` goes with floor-pools builds, and only them")
        return self


class ModelFile(_Frozen):
    path: str
    #: Bytes, exactly; null where the file cannot be fetched here (recorded later in the lock file by `models pull`).
    size: int | None = Field(default=None, ge=0)
    sha256: str | None = None
    required: bool = True
    origin: FileOrigin | None = None
    #: About how many bytes the file is (the Hub's rounded listing, or what a build makes of it), for dry runs
    #: and the model panel before a pull; `size` is the exact figure a pull checks.
    size_estimate: int | None = Field(default=None, gt=0)
    #: Derived variants only: how this file is made.
    build: FileBuild | None = None

    @model_validator(mode="after")
    def _well_formed(self) -> ModelFile:
        if self.sha256 is not None and not _SHA256.match(self.sha256):
            raise ValueError(f"{self.path}: sha256 must be 64 lowercase hex digits")
        if self.path.startswith("/") or ".." in Path(self.path).parts:
            raise ValueError(f"{self.path}: file paths must stay inside the model directory")
        if self.build is not None and self.origin is not None:
            raise ValueError(f"{self.path}: a built file names its input in `build`, not `origin`")
        return self

    @property
    def expected_size(self) -> int | None:
        """The exact size where known, else the estimate."""
        return self.size if self.size is not None else self.size_estimate


class HuggingFaceSource(_Frozen):
    kind: Literal["huggingface"]
    repo: str
    #: A branch name or a 40-hex commit; only a commit is a pin.
    revision: str

    @property
    def is_pinned(self) -> bool:
        return re.fullmatch(r"[0-9a-f]{40}", self.revision) is not None


class DerivedSource(_Frozen):
    """Composed and built by `turbodraft models pull` from public files (each file's `build` says how)."""

    kind: Literal["derived"]
    #: What the build does, in words.
    recipe: str


class RepoPathSource(_Frozen):
    """Files checked into this repository (the test fixtures)."""

    kind: Literal["repo_path"]
    path: str


Source = Annotated[HuggingFaceSource | DerivedSource | RepoPathSource, Field(discriminator="kind")]


class License(_Frozen):
    """One licence that applies to (part of) a variant; the model panel shows each."""

    name: str
    url: str
    #: Which part it covers ("SD-Turbo text encoder and UNet").
    covers: str


class ModelVariant(_Frozen):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]*$")
    family: str
    description: str
    source: Source
    files: list[ModelFile]
    licenses: list[License] = Field(min_length=1)
    dtype: Literal["float32", "float16", "int8"]
    io_dtype: Literal["float32"]
    backends: list[Backend] = Field(min_length=1)
    image: SizeRange
    latent: SizeRange
    max_steps: int = Field(ge=1, le=4)
    img2img: bool
    #: What to run instead where this variant's backends are missing (e.g. fp16 without shader-f16).
    fallback: str | None = None
    #: The decoder behind vae_decoder/model.onnx: SD's VAE, or the tiny TAESD architecture behind the same
    #: interface (turbodraft.models.taesd). The engine needs to know: fp16 TAESD needs a fusion switched off.
    decoder: Literal["vae", "taesd"] = "vae"

    @model_validator(mode="after")
    def _consistent(self) -> ModelVariant:
        paths = [f.path for f in self.files]
        if len(set(paths)) != len(paths):
            raise ValueError(f"{self.id}: duplicate file paths")
        # fp16 graphs on WebGPU without shader-f16 return all zeros (JSEP) or fail: never offer that pairing.
        if self.dtype == "float16" and set(self.backends) != {"webgpu-f16"}:
            raise ValueError(f"{self.id}: float16 graphs may only run on webgpu-f16")
        missing = [g for g in (*REQUIRED_GRAPHS, TOKENIZER_FILE) if g not in paths]
        if missing:
            raise ValueError(f"{self.id}: files lack {', '.join(missing)}")
        if self.img2img and VAE_ENCODER_GRAPH not in paths:
            raise ValueError(f"{self.id}: img2img needs {VAE_ENCODER_GRAPH}")
        derived = self.source.kind == "derived"
        unbuilt = [f.path for f in self.files if (f.build is None) == derived]
        if unbuilt:
            what = "need a `build`" if derived else "have a `build` but the variant is not derived"
            raise ValueError(f"{self.id}: {', '.join(unbuilt)} {what}")
        return self

    @property
    def size_estimate(self) -> int | None:
        """About how many bytes the variant's files are, or None where a file gives no figure."""
        sizes = [f.expected_size for f in self.files]
        return None if any(s is None for s in sizes) else sum(s for s in sizes if s is not None)

    def file(self, path: str) -> ModelFile:
        for f in self.files:
            if f.path == path:
                return f
        raise KeyError(f"{self.id} has no file {path!r}")


# --- canvas tool models (upscale, background removal, style) ---------------------------------------------------
# Single-graph image-to-image models; their pre/post-processing is turbodraft.tools (Python) and
# web/src/engine/tools (TypeScript), both driven by the parameters below (docs/tools.md).

ToolKind = Literal["upscale", "matte", "style"]
ToolBackend = Literal["webgpu", "wasm"]


class ToolIO(_Frozen):
    """The graph's interface: float32 NCHW RGB in, float32 NCHW out."""

    #: Graph input/output names; null: the first input/output (rembg's exports are fed by position).
    input: str | None = None
    output: str | None = None
    #: Pixels in [0, 1] are multiplied by this before the graph, its output divided by `output_scale`.
    input_scale: float = Field(gt=0)
    output_scale: float = Field(gt=0)


class ImageLimits(_Frozen):
    """Input sizes a tool accepts; anything else is refused before a model file is read."""

    min_side: int = Field(ge=1)
    max_side: int = Field(ge=1)
    max_pixels: int = Field(ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> ImageLimits:
        if self.min_side > self.max_side or self.min_side * self.min_side > self.max_pixels:
            raise ValueError("limits admit no image")
        return self


class UpscaleParams(_Frozen):
    scale: int = Field(ge=2, le=8)
    #: Tile side in input pixels and the overlap between neighbouring tiles (turbodraft.tools.tiling).
    tile: int = Field(ge=2)
    overlap: int = Field(ge=0)
    #: The graph needs input sides divisible by this (RRDB x2 unshuffles pixels by 2).
    multiple_of: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _tiles(self) -> UpscaleParams:
        if self.overlap >= self.tile:
            raise ValueError("overlap must be smaller than the tile")
        if self.tile % self.multiple_of:
            raise ValueError(f"tile {self.tile} is not a multiple of {self.multiple_of}")
        return self


class MatteParams(_Frozen):
    #: The square size the image is resized to for the graph.
    resolution: int = Field(ge=8)
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    #: U2-Net's reference divides the resized image by its own maximum instead of by 1.
    divide_by_max: bool
    #: Rescale the graph's map to [0, 1] by its min and max (the authors' inference code does).
    minmax: bool = True


class StyleParams(_Frozen):
    #: The style's name as shown to users.
    style: str
    #: Two stride-2 convolutions and two x2 upsamplings: sides must be divisible by 4 (the image is padded).
    multiple_of: int = Field(default=4, ge=1)


class ToolModel(_Frozen):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]*$")
    tool: ToolKind
    description: str
    #: SPDX identifier of the weights' licence, and where it is stated.
    license: str
    license_url: str
    source: Source
    files: list[ModelFile] = Field(min_length=1)
    #: The ONNX file among `files`.
    graph: str
    architecture: str
    dtype: Literal["float32"]
    io_dtype: Literal["float32"]
    backends: list[ToolBackend] = Field(min_length=1)
    io: ToolIO
    limits: ImageLimits
    upscale: UpscaleParams | None = None
    matte: MatteParams | None = None
    style: StyleParams | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ToolModel:
        if self.graph not in [f.path for f in self.files]:
            raise ValueError(f"{self.id}: graph {self.graph!r} is not among its files")
        given = {k for k in ("upscale", "matte", "style") if getattr(self, k) is not None}
        if given != {self.tool}:
            raise ValueError(f"{self.id}: a {self.tool} model needs exactly its {self.tool!r} parameters")
        return self

    def file(self, path: str) -> ModelFile:
        for f in self.files:
            if f.path == path:
                return f
        raise KeyError(f"{self.id} has no file {path!r}")


#: Anything `turbodraft models pull` can fetch: a draft variant or a canvas tool model.
AnyModel = ModelVariant | ToolModel


class Manifest(_Frozen):
    schema_version: Literal[1]
    families: dict[str, Family]
    variants: list[ModelVariant]
    tools: list[ToolModel] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> Manifest:
        ids = [v.id for v in self.variants]
        if len(set(ids)) != len(ids):
            raise ValueError("duplicate variant ids")
        every = [*ids, *(t.id for t in self.tools)]
        if len(set(every)) != len(every):
            raise ValueError("a tool model id repeats another model's id")
        for v in self.variants:
            family = self.families.get(v.family)
            if family is None:
                raise ValueError(f"{v.id}: unknown family {v.family!r}")
            down = family.vae.downscale
            image, latent = v.image, v.latent
            if (image.default, image.min, image.max, image.multiple_of) != (
                latent.default * down,
                latent.min * down,
                latent.max * down,
                latent.multiple_of * down,
            ):
                raise ValueError(f"{v.id}: latent sizes must be the image sizes divided by {down}")
            if v.fallback is not None:
                if v.fallback not in ids or v.fallback == v.id:
                    raise ValueError(f"{v.id}: fallback {v.fallback!r} is not another variant")
                if self.variant(v.fallback).dtype == "float16":
                    raise ValueError(f"{v.id}: fallback {v.fallback!r} needs shader-f16 too")
        return self

    def variant(self, model_id: str) -> ModelVariant:
        for v in self.variants:
            if v.id == model_id:
                return v
        raise UnknownModel(model_id, [v.id for v in self.variants])

    def tool(self, model_id: str) -> ToolModel:
        for t in self.tools:
            if t.id == model_id:
                return t
        raise UnknownModel(model_id, [t.id for t in self.tools])

    def model(self, model_id: str) -> AnyModel:
        """A draft variant or a tool model: what `models pull/verify` and the mirror take."""
        for m in self.all_models():
            if m.id == model_id:
                return m
        raise UnknownModel(model_id, [m.id for m in self.all_models()])

    def all_models(self) -> list[AnyModel]:
        return [*self.variants, *self.tools]

    def family_of(self, variant: ModelVariant) -> Family:
        return self.families[variant.family]


def parse_manifest(text: str) -> Manifest:
    try:
        return Manifest.model_validate(json.loads(text))
    except (ValidationError, json.JSONDecodeError) as exc:
        raise ManifestError(f"invalid model manifest: {exc}") from exc


@cache
def load_manifest() -> Manifest:
    """The manifest shipped with the package."""
    text = resources.files("turbodraft.models").joinpath("manifest.json").read_text(encoding="utf-8")
    return parse_manifest(text)


def local_model_dir(variant: AnyModel, models_dir: Path) -> Path:
    """Where a variant's files live here: the repo path for fixtures, else the data dir's mirror."""
    if variant.source.kind == "repo_path":
        return REPO_ROOT / variant.source.path
    return models_dir / variant.id


def fixture_file_entries(root: Path) -> list[dict[str, object]]:
    """Manifest `files` entries (path, size, sha256) for every file under a fixture directory."""
    order = [*REQUIRED_GRAPHS, VAE_ENCODER_GRAPH, TOKENIZER_FILE]
    paths = sorted(
        (p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()),
        key=lambda p: (order.index(p) if p in order else len(order), p),
    )
    return [{"path": p, "size": (root / p).stat().st_size, "sha256": sha256_of(root / p)} for p in paths]


def refresh_fixture_entries(manifest_path: Path) -> None:
    """Rewrite the fixture variants' file lists from the files on disk (after regenerating the fixtures)."""
    data = json.loads(manifest_path.read_text(encoding="utf-8"))
    for variant in [*data["variants"], *data.get("tools", [])]:
        if variant["source"]["kind"] == "repo_path":
            variant["files"] = fixture_file_entries(REPO_ROOT / variant["source"]["path"])
    parse_manifest(json.dumps(data))
    manifest_path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


if __name__ == "__main__":
    # python -m turbodraft.models.manifest: record the regenerated fixtures' sizes and hashes.
    refresh_fixture_entries(Path(__file__).with_name("manifest.json"))
