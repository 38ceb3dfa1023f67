"""Request and response bodies of the versioned API (`/v1/...`): camelCase on the wire, both spellings in."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic.alias_generators import to_camel

from turbodraft.ledger.records import GenerationId
from turbodraft.routing import BackendHint, Mode, ModelVariant, Priority, RoutePlan, Target
from turbodraft.routing.schema import Side

#: The SDXL worker's limit too; a longer prompt is truncated by CLIP's 77 tokens anyway.
MAX_PROMPT_CHARS = 2000
MAX_STEPS = 150
MAX_SEED = 2**32 - 1
#: Base64 text of the largest init image the schema lets through (the decoded size is checked against
#: the max_init_image_bytes setting, and the body against max_body_bytes, before this matters).
MAX_INIT_IMAGE_CHARS = 32 * 1024 * 1024

Prompt = Annotated[str, StringConstraints(min_length=1, max_length=MAX_PROMPT_CHARS)]


class WireModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="forbid",
    )


class JobCreate(WireModel):
    """Body of POST /v1/jobs: a generation to run on a server-side target (server or RunPod)."""

    prompt: Prompt
    priority: Priority = Priority.DRAFT
    mode: Mode = Mode.AUTO
    width: Side = 512
    height: Side = 512
    #: Default: 1 for a draft (SD-Turbo), 25 for a final (SDXL).
    steps: int | None = Field(default=None, ge=1, le=MAX_STEPS)
    #: Default: a random seed, reported back. "Refine to final" sends the draft's seed.
    seed: int | None = Field(default=None, ge=0, le=MAX_SEED)
    #: img2img source: base64 PNG/JPEG/WebP, or a data URL of one.
    init_image: str | None = Field(default=None, min_length=1, max_length=MAX_INIT_IMAGE_CHARS)
    #: img2img only: how much of the schedule runs, in (0, 1]; default 0.5.
    strength: float | None = Field(default=None, gt=0, le=1)

    @model_validator(mode="after")
    def _strength_needs_an_image(self) -> JobCreate:
        if self.strength is not None and self.init_image is None:
            raise ValueError("strength applies only with an initImage (img2img)")
        return self


class AttemptView(WireModel):
    target: Target
    error: str | None
    ms: int


class JobProgress(WireModel):
    #: 1-based number of the attempt running or last run, out of the plan's server-side steps.
    attempt: int
    attempts: int
    target: Target | None


class JobView(WireModel):
    id: str
    status: Literal["queued", "running", "completed", "failed", "cancelled"]
    priority: Priority
    #: The target that made the image (or is trying now); None before the first attempt starts.
    target: Target | None
    backend: BackendHint | None
    variant: ModelVariant | None
    billed: bool
    attempts: list[AttemptView]
    fallback_reason: str | None
    progress: JobProgress | None
    plan: RoutePlan | None
    image_url: str | None
    width: int
    height: int
    steps: int
    seed: int | None
    img2img: bool = Field(alias="img2img")
    cost_usd: float
    billed_seconds: int
    delay_ms: int | None
    execution_ms: int | None
    total_ms: int | None
    created_at: datetime
    error: str | None


class GatewayServer(WireModel):
    enabled: bool
    model: str
    concurrency: int
    queue_size: int
    running: int
    waiting: int


class GatewayRunPod(WireModel):
    enabled: bool
    #: "cloud": RunPod proper (billed); "local": the local RunPod-compatible server (free).
    mode: Literal["cloud", "local"]


class GatewayCapabilities(WireModel):
    """What the gateway itself can run, next to the browser's own capability report."""

    server: GatewayServer
    runpod: GatewayRunPod
    daily_budget_usd: float | None


class RouteAnswer(WireModel):
    plan: RoutePlan
    gateway: GatewayCapabilities


StageName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
Ms = Annotated[float, Field(ge=0, le=86_400_000)]


class UsageReport(WireModel):
    """Body of POST /v1/usage: one image the browser made itself. Repeating an id records nothing new."""

    id: GenerationId
    priority: Priority = Priority.DRAFT
    backend: BackendHint
    variant: ModelVariant
    width: int = Field(ge=64, le=4096)
    height: int = Field(ge=64, le=4096)
    steps: int = Field(default=1, ge=1, le=50)
    img2img: bool = Field(default=False, alias="img2img")
    #: Milliseconds per stage (tokenize, text_encoder, unet, vae_decoder, ...).
    stages_ms: dict[StageName, Ms] = Field(default_factory=dict, max_length=32)
    #: Wall time of the whole generation; default: the sum of the stages.
    total_ms: Ms | None = None

    @model_validator(mode="after")
    def _browser_backend(self) -> UsageReport:
        if self.backend in (BackendHint.CPU, BackendHint.RUNPOD):
            raise ValueError("a browser reports webgpu-fp16, webgpu-fp32 or wasm as its backend")
        return self


class UsageRecorded(WireModel):
    id: str
    #: False when this id had been reported before (nothing was counted twice).
    recorded: bool
