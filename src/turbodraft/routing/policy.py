"""The routing policy: a pure function from (request, capabilities, health, budget, config) to a plan.

Drafts: browser when capable and its model is ready, else the server target, else the cloud.
Finals: RunPod (the local RunPod-compatible server when no key is configured).
Budget: a billed step (RunPod proper), draft or final, must fit in what is left of the user's daily budget; one
that does not is left out (a draft then keeps its free targets), and a plan with nothing else is refused.
mode=local keeps to the free targets (browser, server); mode=cloud keeps to RunPod; either is refused with
reasons when its targets cannot serve the request.
"""

from __future__ import annotations

from dataclasses import dataclass

from turbodraft.routing.cost import cloud_cost_usd, runpod_billed_seconds
from turbodraft.routing.policy_config import (
    DRAFT_REFERENCE_PIXELS,
    DRAFT_REFERENCE_STEPS,
    FINAL_REFERENCE_PIXELS,
    FINAL_REFERENCE_STEPS,
    PolicyConfig,
)
from turbodraft.routing.schema import (
    BackendHint,
    BudgetState,
    CapabilityReport,
    GenerationRequest,
    LocalModelState,
    Mode,
    ModelVariant,
    Priority,
    ProviderHealth,
    Refusal,
    RefusalCode,
    RoutePlan,
    RouteQuery,
    RouteStep,
    Skip,
    Target,
)


@dataclass(frozen=True, slots=True)
class _Unavailable:
    target: Target
    reason: str
    code: RefusalCode


_Candidate = RouteStep | _Unavailable


def plan_route(
    query: RouteQuery,
    config: PolicyConfig,
    health: ProviderHealth | None = None,
    budget: BudgetState | None = None,
) -> RoutePlan:
    """Decide where `query` runs. Never raises for a valid query: what cannot be served comes back refused."""
    request = query.request
    health = health or ProviderHealth()
    budget = budget or BudgetState()

    local = [_browser(request, query.capabilities, config), _server(request, config, health)]
    cloud = _runpod(request, config, health, budget)

    chosen: list[_Candidate]
    if request.mode is Mode.LOCAL:
        chosen, left_out = local, [_left_out(cloud, "mode=local excludes the cloud")]
    elif request.mode is Mode.CLOUD:
        chosen, left_out = [cloud], [_left_out(c, "mode=cloud excludes local targets") for c in local]
    elif request.priority is Priority.FINAL:
        why = "finals go to RunPod (ask for mode=local to render with SD-Turbo)"
        chosen, left_out = [cloud], [_left_out(c, why) for c in local]
    else:
        chosen, left_out = [*local, cloud], []

    steps = [_as_fallback(c) if i else c for i, c in enumerate(x for x in chosen if isinstance(x, RouteStep))]
    unavailable = [c for c in chosen if isinstance(c, _Unavailable)]
    skipped = tuple(Skip(target=u.target, reason=u.reason) for u in [*unavailable, *left_out])
    if steps:
        return RoutePlan(steps=tuple(steps), skipped=skipped)
    return RoutePlan(refusals=(_refusal(request, unavailable),), skipped=skipped)


def preferred_browser_variant(caps: CapabilityReport) -> ModelVariant:
    """The model a browser should keep for drafts. With hardware WebGPU and shader-f16 it is SD-Turbo with the
    tiny TAESD decoder: drafts are previews and finals are re-rendered in the cloud, and on an H100 through Dawn
    it drew a draft 1.5x faster than the ORT demo's settings with the full decoder (docs/performance.md).
    Elsewhere the int8 build (full decoder), which runs on wasm."""
    if caps.has_webgpu and caps.shader_f16 and not caps.is_software_adapter:
        return ModelVariant.SD_TURBO_FP16_TAESD
    return ModelVariant.SD_TURBO_INT8


def _left_out(candidate: _Candidate, why: str) -> _Unavailable:
    return _Unavailable(candidate.target, why, RefusalCode.NO_TARGET)


def _refusal(request: GenerationRequest, unavailable: list[_Unavailable]) -> Refusal:
    why = "; ".join(f"{u.target.value}: {u.reason}" for u in unavailable)
    what = request.priority.value
    if request.mode is Mode.LOCAL:
        return Refusal(
            code=RefusalCode.LOCAL_UNAVAILABLE, reason=f"mode=local cannot serve this {what} ({why})"
        )
    if len(unavailable) == 1:
        return Refusal(code=unavailable[0].code, reason=f"{what} refused ({why})")
    if any(u.code is RefusalCode.OVER_BUDGET for u in unavailable):
        # The budget is what the user can act on: without it the cloud would have served the request.
        return Refusal(code=RefusalCode.OVER_BUDGET, reason=f"{what} refused: over the daily budget ({why})")
    return Refusal(code=RefusalCode.NO_TARGET, reason=f"no target can serve this {what} ({why})")


def _as_fallback(step: RouteStep) -> RouteStep:
    return step.model_copy(update={"reason": f"fallback: {step.reason}"})


def _work_ratio(request: GenerationRequest, pixels: int, steps: int) -> float:
    # Time grows about linearly with pixels and with denoising steps; good enough for an estimate.
    return (request.pixels / pixels) * (request.steps / steps)


def _beyond_local_limits(request: GenerationRequest, config: PolicyConfig) -> str | None:
    if request.steps > config.local_max_steps:
        return f"SD-Turbo runs at most {config.local_max_steps} steps, {request.steps} asked"
    if request.pixels > config.local_max_pixels:
        return f"{request.width}x{request.height} is beyond SD-Turbo's local size limit"
    return None


def _browser(request: GenerationRequest, caps: CapabilityReport | None, config: PolicyConfig) -> _Candidate:
    def no(reason: str) -> _Unavailable:
        return _Unavailable(Target.BROWSER, reason, RefusalCode.LOCAL_UNAVAILABLE)

    if not config.browser_enabled:
        return no("disabled by configuration")
    if caps is None:
        return no("no capability report from a browser")
    model = caps.local_model
    if model is None:
        return no("the browser reported no local model")
    if model.state is not LocalModelState.READY:
        return no(f"the browser's {model.variant.value} model is {model.state.value}")
    if (limit := _beyond_local_limits(request, config)) is not None:
        return no(limit)
    if request.img2img and model.variant not in config.img2img_variants:
        return no(f"the browser's {model.variant.value} model has no img2img (no VAE encoder)")

    backend_or_reason = _browser_backend(model.variant, caps, config)
    if isinstance(backend_or_reason, str):
        return no(backend_or_reason)
    backend, why = backend_or_reason

    default_ms = (
        config.tiny_draft_ms
        if model.variant.is_fixture
        else config.browser_default_ms.get(backend, config.draft_speed_bound_ms)
    )
    base_ms = caps.measured_draft_ms or default_ms
    return RouteStep(
        target=Target.BROWSER,
        backend=backend,
        variant=model.variant,
        reason=f"browser: {why}; free",
        estimated_cost_usd=0.0,
        estimated_ms=round(base_ms * _work_ratio(request, DRAFT_REFERENCE_PIXELS, DRAFT_REFERENCE_STEPS)),
    )


def _browser_backend(
    variant: ModelVariant, caps: CapabilityReport, config: PolicyConfig
) -> tuple[BackendHint, str] | str:
    """The backend the browser should use for its ready `variant`, or why it should not run it at all."""
    hardware_webgpu = caps.has_webgpu and not caps.is_software_adapter
    if variant is ModelVariant.SDXL:
        return "sdxl is not a browser model"
    if variant.needs_shader_f16 and not (caps.has_webgpu and caps.shader_f16):
        # Without the feature ORT-web's JSEP backend silently returns all zeros for fp16 graphs.
        return f"the {variant.value} model needs WebGPU with shader-f16, which this browser lacks"
    if variant.is_fixture:
        # The fixtures are cheap anywhere; on a software adapter wasm is far faster than emulated WebGPU.
        if variant.needs_shader_f16:
            return BackendHint.WEBGPU_FP16, "tiny fp16 model on WebGPU"
        if hardware_webgpu:
            return BackendHint.WEBGPU_FP32, "tiny model on WebGPU"
        return BackendHint.WASM, "tiny model on wasm"

    measured = caps.measured_draft_ms
    bound = config.draft_speed_bound_ms
    if measured is not None and measured > bound:
        return f"measured draft {measured:.0f} ms is slower than the {bound:.0f} ms bound"
    if hardware_webgpu:
        if variant.needs_shader_f16:
            return BackendHint.WEBGPU_FP16, f"WebGPU with shader-f16, {variant.value} model ready"
        return BackendHint.WEBGPU_FP32, f"WebGPU, {variant.value} model ready"
    if variant is ModelVariant.SD_TURBO_INT8:
        # The real model on wasm only once the browser has shown it is fast enough there.
        if measured is None:
            note = (
                ""
                if caps.cross_origin_isolated
                else " (not cross-origin isolated: wasm runs single-threaded)"
            )
            return f"wasm speed for the real model is not measured yet{note}"
        return BackendHint.WASM, f"quantized model on wasm, measured {measured:.0f} ms"
    if caps.is_software_adapter:
        arch = f" ({caps.adapter_architecture})" if caps.adapter_architecture else ""
        return f"software WebGPU adapter{arch} is too slow for the real model"
    return f"the {variant.value} model needs WebGPU, which this browser lacks"


def _server(request: GenerationRequest, config: PolicyConfig, health: ProviderHealth) -> _Candidate:
    def no(reason: str) -> _Unavailable:
        return _Unavailable(Target.SERVER, reason, RefusalCode.LOCAL_UNAVAILABLE)

    if not config.server_enabled:
        return no("disabled by configuration")
    if not health.server:
        return no("unhealthy")
    if (limit := _beyond_local_limits(request, config)) is not None:
        return no(limit)
    if request.img2img and config.server_variant not in config.img2img_variants:
        return no(f"the server's {config.server_variant.value} model has no img2img")
    return RouteStep(
        target=Target.SERVER,
        backend=BackendHint.CPU,
        variant=config.server_variant,
        reason="server: SD-Turbo on the gateway machine; free",
        estimated_cost_usd=0.0,
        estimated_ms=round(
            config.server_draft_ms * _work_ratio(request, DRAFT_REFERENCE_PIXELS, DRAFT_REFERENCE_STEPS)
        ),
    )


def _runpod(
    request: GenerationRequest, config: PolicyConfig, health: ProviderHealth, budget: BudgetState
) -> _Candidate:
    where = "RunPod" if config.runpod_cloud else "the local RunPod-compatible server"
    if not config.runpod_enabled:
        return _Unavailable(Target.RUNPOD, "disabled by configuration", RefusalCode.CLOUD_UNAVAILABLE)
    if not health.runpod:
        return _Unavailable(Target.RUNPOD, f"{where} is unhealthy", RefusalCode.CLOUD_UNAVAILABLE)

    if request.priority is Priority.FINAL:
        ratio = _work_ratio(request, FINAL_REFERENCE_PIXELS, FINAL_REFERENCE_STEPS)
        seconds = config.final_typical_seconds * ratio
    else:
        ratio = _work_ratio(request, DRAFT_REFERENCE_PIXELS, DRAFT_REFERENCE_STEPS)
        seconds = config.draft_typical_seconds * ratio
    billed_seconds = max(runpod_billed_seconds(seconds), 1)
    estimated_ms = round(seconds * 1000 + config.runpod_overhead_ms)

    if not config.runpod_cloud:
        return RouteStep(
            target=Target.RUNPOD,
            backend=BackendHint.RUNPOD,
            variant=ModelVariant.SDXL,
            reason="runpod: no RunPod key configured, so the local RunPod-compatible server; free",
            estimated_cost_usd=0.0,
            estimated_ms=estimated_ms,
        )

    cost = cloud_cost_usd(billed_seconds, config.usd_per_second)
    remaining = budget.remaining_usd
    # Everything billed is held to the budget, drafts included: a large draft on RunPod costs as much as a
    # final. The tolerance keeps a request that exactly uses up the budget from being refused over float noise.
    if remaining is not None and cost > remaining + 1e-9:
        return _Unavailable(
            Target.RUNPOD,
            f"this {request.priority.value} would cost about ${cost:.4f} on RunPod and only ${remaining:.4f} "
            f"of the ${budget.daily_budget_usd:.2f} daily budget is left",
            RefusalCode.OVER_BUDGET,
        )
    return RouteStep(
        target=Target.RUNPOD,
        backend=BackendHint.RUNPOD,
        variant=ModelVariant.SDXL,
        reason=f"runpod: SDXL on RunPod, about {billed_seconds} billed s at ${config.usd_per_second}/s",
        estimated_cost_usd=cost,
        estimated_ms=estimated_ms,
        billed=True,
    )
