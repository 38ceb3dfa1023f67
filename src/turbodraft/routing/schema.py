"""Routing API data: what a client asks and reports, and the plan it gets back (schema of POST /v1/route).

Field names are snake_case in Python and camelCase on the wire, because the browser is the main client;
both spellings are accepted on input.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel


class Priority(StrEnum):
    DRAFT = "draft"
    FINAL = "final"


class Mode(StrEnum):
    """The user's choice: let the policy decide, stay on free local targets, or use the cloud."""

    AUTO = "auto"
    LOCAL = "local"
    CLOUD = "cloud"


class Target(StrEnum):
    BROWSER = "browser"
    #: SD-Turbo on the gateway machine through the Python twin of the browser engine.
    SERVER = "server"
    #: RunPod Serverless, or the local RunPod-compatible server when no RunPod key is configured.
    RUNPOD = "runpod"


class BackendHint(StrEnum):
    WEBGPU_FP16 = "webgpu-fp16"
    WEBGPU_FP32 = "webgpu-fp32"
    WASM = "wasm"
    CPU = "cpu"
    RUNPOD = "runpod"


class ModelVariant(StrEnum):
    """Model builds a target can run: the SD-Turbo ids of models/manifest.json, an fp32 build, and SDXL."""

    SD_TURBO_FP16_TAESD = "sd-turbo-fp16-taesd"  # the draft default: fp16 with the tiny TAESD decoder
    SD_TURBO_FP16 = "sd-turbo-fp16"  # WebGPU with shader-f16 only; SD's full VAE decoder
    SD_TURBO_FP32 = "sd-turbo-fp32"  # WebGPU without shader-f16, or CPU
    SD_TURBO_INT8 = "sd-turbo-int8"  # quantized: wasm, WebGPU without shader-f16, and CPU
    TINY = "tiny-sd-turbo"  # the fp32 test fixture: same graph layout, a few MB, fast anywhere
    TINY_FP16 = "tiny-sd-turbo-fp16"  # the fp16 test fixture
    TINY_TAESD = "tiny-sd-turbo-taesd"  # the fp32 test fixture with a tiny TAESD decoder
    SDXL = "sdxl"  # the RunPod worker's model

    @property
    def is_fixture(self) -> bool:
        return self in (ModelVariant.TINY, ModelVariant.TINY_FP16, ModelVariant.TINY_TAESD)

    @property
    def needs_shader_f16(self) -> bool:
        return self in (ModelVariant.SD_TURBO_FP16, ModelVariant.SD_TURBO_FP16_TAESD, ModelVariant.TINY_FP16)


class LocalModelState(StrEnum):
    NOT_DOWNLOADED = "not-downloaded"
    DOWNLOADING = "downloading"
    READY = "ready"
    ERROR = "error"


class RefusalCode(StrEnum):
    LOCAL_UNAVAILABLE = "local-unavailable"  # mode=local and neither browser nor server can serve it
    CLOUD_UNAVAILABLE = "cloud-unavailable"  # RunPod disabled or unhealthy
    OVER_BUDGET = "over-budget"  # billed work (draft or final) beyond the user's daily budget
    NO_TARGET = "no-target"  # nothing at all can serve the request


class _WireModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        frozen=True,
        extra="forbid",
    )


Side = Annotated[int, Field(ge=64, le=2048, multiple_of=8)]


class GenerationRequest(_WireModel):
    priority: Priority = Priority.DRAFT
    mode: Mode = Mode.AUTO
    width: Side = 512
    height: Side = 512
    steps: int = Field(default=1, ge=1, le=150)
    img2img: bool = False

    @property
    def pixels(self) -> int:
        return self.width * self.height


class LocalModelStatus(_WireModel):
    variant: ModelVariant
    state: LocalModelState


class CapabilityReport(_WireModel):
    """What the browser found out about itself (mirrors the web client's report)."""

    # The browser may add fields before the gateway knows them; they must not break routing.
    model_config = ConfigDict(extra="ignore")

    has_webgpu: bool = Field(default=False, alias="hasWebGPU")
    shader_f16: bool = False
    is_software_adapter: bool = False
    adapter_architecture: str | None = None
    cross_origin_isolated: bool = False
    hardware_concurrency: int | None = Field(default=None, ge=1)
    local_model: LocalModelStatus | None = None
    #: Wall time of the browser's last standard draft (512x512, 1 step) with its ready variant.
    measured_draft_ms: float | None = Field(default=None, gt=0)


class RouteQuery(_WireModel):
    """Body of POST /v1/route. Capabilities are absent for callers without a browser (server-side clients)."""

    request: GenerationRequest = Field(default_factory=GenerationRequest)
    capabilities: CapabilityReport | None = None


class ProviderHealth(_WireModel):
    """What the gateway currently knows about its providers (filled in server-side, never by the client)."""

    runpod: bool = True
    server: bool = True


class BudgetState(_WireModel):
    """The requesting user's spend today (from the ledger) against the configured daily budget."""

    daily_budget_usd: float | None = Field(default=None, ge=0)
    spent_today_usd: float = Field(default=0.0, ge=0)

    @property
    def remaining_usd(self) -> float | None:
        if self.daily_budget_usd is None:
            return None
        return max(self.daily_budget_usd - self.spent_today_usd, 0.0)


class RouteStep(_WireModel):
    target: Target
    backend: BackendHint
    variant: ModelVariant
    reason: str
    estimated_cost_usd: float = Field(ge=0)
    estimated_ms: int = Field(ge=0)
    #: False for free targets, including the local RunPod-compatible server.
    billed: bool = False


class Skip(_WireModel):
    """A target the policy considered and left out of the plan, and why."""

    target: Target
    reason: str


class Refusal(_WireModel):
    code: RefusalCode
    reason: str


class RoutePlan(_WireModel):
    """Targets to try in order (the first is the choice, the rest fallbacks); empty exactly when refused."""

    steps: tuple[RouteStep, ...] = ()
    refusals: tuple[Refusal, ...] = ()
    skipped: tuple[Skip, ...] = ()

    @model_validator(mode="after")
    def _refused_iff_empty(self) -> RoutePlan:
        if bool(self.steps) == bool(self.refusals):
            raise ValueError("a plan has either steps or refusals, not both or neither")
        return self

    @property
    def accepted(self) -> bool:
        return bool(self.steps)

    @property
    def first(self) -> RouteStep | None:
        return self.steps[0] if self.steps else None
