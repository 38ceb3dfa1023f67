"""The policy's tunables: what is enabled, prices, speed bounds and rough speed figures for estimates."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from turbodraft.config import DEFAULT_GPU_USD_PER_SECOND, Settings
from turbodraft.models.manifest import load_manifest
from turbodraft.routing.schema import BackendHint, ModelVariant

#: The work a "standard draft" measures: what measured_draft_ms and the draft figures below refer to.
DRAFT_REFERENCE_PIXELS = 512 * 512
DRAFT_REFERENCE_STEPS = 1
#: The work a "typical final" (SDXL at its native size with the worker's default steps) refers to.
FINAL_REFERENCE_PIXELS = 1024 * 1024
FINAL_REFERENCE_STEPS = 25


def _default_browser_ms() -> dict[BackendHint, float]:
    # Rough standard-draft times, used only until the browser reports a measurement.
    return {BackendHint.WEBGPU_FP16: 1500.0, BackendHint.WEBGPU_FP32: 3000.0, BackendHint.WASM: 30000.0}


def _manifest_img2img_variants() -> frozenset[ModelVariant]:
    known = {v.value for v in ModelVariant}
    return frozenset(
        ModelVariant(v.id) for v in load_manifest().variants if v.img2img and v.id in known
    )


class PolicyConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    browser_enabled: bool = True
    server_enabled: bool = True
    runpod_enabled: bool = True
    #: True when a RunPod key and endpoint are configured; otherwise the runpod target is the free local
    #: RunPod-compatible server.
    runpod_cloud: bool = False
    usd_per_second: float = Field(default=DEFAULT_GPU_USD_PER_SECOND, ge=0)
    final_typical_seconds: float = Field(default=8.0, gt=0)
    draft_typical_seconds: float = Field(default=2.0, gt=0)
    #: A browser slower than this on the standard draft is not used for the real model.
    draft_speed_bound_ms: float = Field(default=5000.0, gt=0)
    #: SD-Turbo is a 1-4 step model trained at 512x512: beyond these a local target is the wrong tool.
    local_max_steps: int = Field(default=4, ge=1)
    local_max_pixels: int = Field(default=768 * 768, ge=64 * 64)
    #: Variants that ship a VAE encoder: models/manifest.json's img2img flag, the one source of that fact.
    img2img_variants: frozenset[ModelVariant] = Field(default_factory=_manifest_img2img_variants)
    #: What the server target runs on the gateway's CPU; int8 is the fast CPU build.
    server_variant: ModelVariant = ModelVariant.SD_TURBO_INT8
    server_draft_ms: float = Field(default=20000.0, gt=0)
    tiny_draft_ms: float = Field(default=150.0, gt=0)
    browser_default_ms: dict[BackendHint, float] = Field(default_factory=_default_browser_ms)
    #: Queue wait plus a warm FlashBoot start, added to RunPod's execution time in time estimates.
    runpod_overhead_ms: float = Field(default=1500.0, ge=0)

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: object) -> PolicyConfig:
        values: dict[str, object] = {
            "browser_enabled": settings.targets.browser,
            "server_enabled": settings.targets.server,
            "runpod_enabled": settings.targets.runpod,
            "runpod_cloud": settings.runpod_cloud_configured,
            "usd_per_second": settings.gpu_usd_per_second,
            "final_typical_seconds": settings.final_typical_seconds,
            "draft_typical_seconds": settings.draft_typical_seconds,
            "draft_speed_bound_ms": settings.draft_speed_bound_ms,
        }
        values.update(overrides)
        return cls.model_validate(values)
