"""The routing table: every combination the policy distinguishes, with the plan (or refusal) it must give."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from turbodraft.routing import (
    BackendHint,
    BudgetState,
    CapabilityReport,
    GenerationRequest,
    ModelVariant,
    PolicyConfig,
    ProviderHealth,
    RefusalCode,
    RoutePlan,
    RouteQuery,
    Target,
    plan_route,
    preferred_browser_variant,
)

BROWSER_F16 = (Target.BROWSER, BackendHint.WEBGPU_FP16)
BROWSER_F32 = (Target.BROWSER, BackendHint.WEBGPU_FP32)
BROWSER_WASM = (Target.BROWSER, BackendHint.WASM)
SERVER = (Target.SERVER, BackendHint.CPU)
RUNPOD = (Target.RUNPOD, BackendHint.RUNPOD)


def caps(variant: str = "sd-turbo-fp16", state: str = "ready", **report: Any) -> dict[str, Any]:
    """A browser capability report as the web client sends it (camelCase JSON)."""
    base: dict[str, Any] = {
        "hasWebGPU": True,
        "shaderF16": True,
        "isSoftwareAdapter": False,
        "adapterArchitecture": "ampere",
        "crossOriginIsolated": True,
        "hardwareConcurrency": 8,
        "localModel": {"variant": variant, "state": state},
    }
    base.update(report)
    return base


SWIFTSHADER: dict[str, Any] = {
    "hasWebGPU": True,
    "shaderF16": False,
    "isSoftwareAdapter": True,
    "adapterArchitecture": "swiftshader",
}
NO_WEBGPU: dict[str, Any] = {"hasWebGPU": False, "shaderF16": False}
NO_BROWSER = None


@dataclass(frozen=True)
class Case:
    id: str
    request: dict[str, Any] = field(default_factory=dict)
    capabilities: dict[str, Any] | None = field(default_factory=caps)
    config: dict[str, Any] = field(default_factory=dict)
    health: dict[str, Any] = field(default_factory=dict)
    budget: dict[str, Any] = field(default_factory=dict)
    plan: tuple[tuple[Target, BackendHint], ...] = ()
    refusal: RefusalCode | None = None
    #: Must appear in the plan's explanation (first step's reason, a skip reason or the refusal).
    why: str = ""


DRAFT = {"priority": "draft", "mode": "auto"}
FINAL = {"priority": "final", "mode": "auto", "width": 1024, "height": 1024, "steps": 25}
INCAPABLE = caps("sd-turbo-fp16", **NO_WEBGPU)

# The table is laid out one case per entry for reading; the formatter would scatter it.
# fmt: off
CASES = [
    # --- drafts, mode=auto: browser when capable and ready, else server, else cloud -----------------------
    Case("draft-webgpu-fp16-ready-goes-to-browser", DRAFT, plan=(BROWSER_F16, SERVER, RUNPOD),
         why="shader-f16"),
    Case("draft-taesd-draft-model-ready-goes-to-browser-fp16", DRAFT, caps("sd-turbo-fp16-taesd"),
         plan=(BROWSER_F16, SERVER, RUNPOD), why="shader-f16"),
    Case("draft-taesd-draft-model-without-shader-f16-goes-to-server", DRAFT,
         caps("sd-turbo-fp16-taesd", shaderF16=False), plan=(SERVER, RUNPOD), why="shader-f16"),
    Case("draft-webgpu-fp32-ready-goes-to-browser", DRAFT, caps("sd-turbo-fp32", shaderF16=False),
         plan=(BROWSER_F32, SERVER, RUNPOD)),
    Case("draft-fp32-model-on-f16-adapter-uses-webgpu-fp32", DRAFT, caps("sd-turbo-fp32"),
         plan=(BROWSER_F32, SERVER, RUNPOD)),
    Case("draft-fp16-model-without-shader-f16-goes-to-server", DRAFT, caps("sd-turbo-fp16", shaderF16=False),
         plan=(SERVER, RUNPOD), why="shader-f16, which this browser lacks"),
    Case("draft-real-model-on-software-adapter-goes-to-server", DRAFT, caps("sd-turbo-fp32", **SWIFTSHADER),
         plan=(SERVER, RUNPOD), why="software WebGPU adapter (swiftshader)"),
    Case("draft-real-model-without-webgpu-goes-to-server", DRAFT, caps("sd-turbo-fp32", **NO_WEBGPU),
         plan=(SERVER, RUNPOD), why="lacks"),
    Case("draft-browser-measured-slower-than-bound-goes-to-server", DRAFT,
         caps("sd-turbo-fp16", measuredDraftMs=9000),
         plan=(SERVER, RUNPOD), why="slower than the 5000 ms bound"),
    Case("draft-browser-measured-under-bound-goes-to-browser", DRAFT,
         caps("sd-turbo-fp16", measuredDraftMs=900),
         plan=(BROWSER_F16, SERVER, RUNPOD)),
    Case("draft-speed-bound-is-configurable", DRAFT, caps("sd-turbo-fp16", measuredDraftMs=900),
         config={"draft_speed_bound_ms": 500}, plan=(SERVER, RUNPOD), why="500 ms bound"),
    Case("draft-model-not-downloaded-goes-to-server", DRAFT, caps("sd-turbo-fp16", "not-downloaded"),
         plan=(SERVER, RUNPOD), why="is not-downloaded"),
    Case("draft-model-downloading-goes-to-server", DRAFT, caps("sd-turbo-fp16", "downloading"),
         plan=(SERVER, RUNPOD), why="is downloading"),
    Case("draft-model-in-error-goes-to-server", DRAFT, caps("sd-turbo-fp16", "error"), plan=(SERVER, RUNPOD),
         why="is error"),
    Case("draft-no-local-model-reported-goes-to-server", DRAFT, caps(localModel=None),
         plan=(SERVER, RUNPOD), why="no local model"),
    Case("draft-without-capability-report-goes-to-server", DRAFT, NO_BROWSER,
         plan=(SERVER, RUNPOD), why="no capability report"),
    Case("draft-sdxl-is-not-a-browser-model", DRAFT, caps("sdxl"), plan=(SERVER, RUNPOD),
         why="not a browser model"),
    # int8: WebGPU without shader-f16 on hardware adapters; wasm only when measured under the bound
    Case("draft-int8-on-hardware-webgpu-without-f16-uses-webgpu", DRAFT,
         caps("sd-turbo-int8", shaderF16=False),
         plan=(BROWSER_F32, SERVER, RUNPOD)),
    Case("draft-int8-wasm-measured-under-bound-goes-to-browser", DRAFT,
         caps("sd-turbo-int8", measuredDraftMs=3000, **NO_WEBGPU),
         plan=(BROWSER_WASM, SERVER, RUNPOD), why="wasm"),
    Case("draft-int8-wasm-measured-slow-goes-to-server", DRAFT,
         caps("sd-turbo-int8", measuredDraftMs=40000, **NO_WEBGPU),
         plan=(SERVER, RUNPOD), why="slower than"),
    Case("draft-int8-wasm-unmeasured-goes-to-server", DRAFT, caps("sd-turbo-int8", **NO_WEBGPU),
         plan=(SERVER, RUNPOD), why="not measured yet"),
    Case("draft-int8-wasm-unmeasured-not-isolated-says-single-threaded", DRAFT,
         caps("sd-turbo-int8", crossOriginIsolated=False, **NO_WEBGPU), plan=(SERVER,
         RUNPOD), why="single-threaded"),
    Case("draft-int8-wasm-on-software-adapter-measured-fast-goes-to-browser", DRAFT,
         caps("sd-turbo-int8", measuredDraftMs=3000, **SWIFTSHADER), plan=(BROWSER_WASM, SERVER, RUNPOD)),
    # the fixtures run anywhere they can, speed bound or not; fp16 still needs shader-f16
    Case("draft-tiny-fp16-with-shader-f16-uses-webgpu-fp16", DRAFT, caps("tiny-sd-turbo-fp16"),
         plan=(BROWSER_F16, SERVER, RUNPOD)),
    Case("draft-tiny-fp16-without-shader-f16-goes-to-server", DRAFT,
         caps("tiny-sd-turbo-fp16", **SWIFTSHADER),
         plan=(SERVER, RUNPOD), why="shader-f16"),
    Case("draft-tiny-on-software-adapter-uses-wasm", DRAFT, caps("tiny-sd-turbo", **SWIFTSHADER),
         plan=(BROWSER_WASM, SERVER, RUNPOD), why="tiny model on wasm"),
    Case("draft-tiny-without-webgpu-uses-wasm", DRAFT, caps("tiny-sd-turbo", **NO_WEBGPU),
         plan=(BROWSER_WASM, SERVER, RUNPOD)),
    Case("draft-tiny-on-hardware-webgpu-uses-webgpu", DRAFT, caps("tiny-sd-turbo"),
         plan=(BROWSER_F32, SERVER, RUNPOD)),
    Case("draft-tiny-ignores-speed-bound", DRAFT, caps("tiny-sd-turbo", measuredDraftMs=9000, **NO_WEBGPU),
         plan=(BROWSER_WASM, SERVER, RUNPOD)),
    # fallbacks when targets are off or unhealthy
    Case("draft-browser-capable-server-disabled-falls-back-to-cloud", DRAFT, config={"server_enabled": False},
         plan=(BROWSER_F16, RUNPOD)),
    Case("draft-browser-incapable-server-disabled-goes-to-cloud", DRAFT, INCAPABLE,
         config={"server_enabled": False},
         plan=(RUNPOD,), why="disabled by configuration"),
    Case("draft-browser-incapable-server-unhealthy-goes-to-cloud", DRAFT, INCAPABLE, health={"server": False},
         plan=(RUNPOD,), why="unhealthy"),
    Case("draft-browser-disabled-by-config-goes-to-server", DRAFT, config={"browser_enabled": False},
         plan=(SERVER, RUNPOD), why="disabled by configuration"),
    Case("draft-runpod-unhealthy-is-skipped", DRAFT, health={"runpod": False},
         plan=(BROWSER_F16, SERVER), why="RunPod is unhealthy"),
    Case("draft-runpod-disabled-is-skipped", DRAFT, config={"runpod_enabled": False},
         plan=(BROWSER_F16, SERVER)),
    Case("draft-with-no-target-left-is-refused", DRAFT, INCAPABLE, config={"server_enabled": False},
         health={"runpod": False}, refusal=RefusalCode.NO_TARGET, why="no target can serve this draft"),
    Case("draft-beyond-sd-turbo-steps-goes-to-cloud", {**DRAFT, "steps": 8}, plan=(RUNPOD,),
         why="at most 4 steps"),
    Case("draft-beyond-sd-turbo-size-goes-to-cloud", {**DRAFT, "width": 1024, "height": 1024},
         plan=(RUNPOD,), why="local size limit"),
    Case("draft-img2img-goes-to-a-browser-whose-model-has-img2img", {**DRAFT, "img2img": True, "steps": 2},
         caps("sd-turbo-int8", shaderF16=False), plan=(BROWSER_F32, SERVER, RUNPOD)),
    Case("draft-img2img-with-a-browser-model-without-img2img-goes-to-server", {**DRAFT, "img2img": True},
         plan=(SERVER, RUNPOD), why="has no img2img"),
    Case("draft-img2img-when-the-server-model-lacks-img2img-goes-to-cloud", {**DRAFT, "img2img": True},
         config={"server_variant": "sd-turbo-fp32"}, plan=(RUNPOD,), why="server's sd-turbo-fp32 model"),
    Case("billed-draft-over-budget-is-refused", DRAFT, INCAPABLE, config={"server_enabled": False},
         budget={"daily_budget_usd": 0.0, "spent_today_usd": 0.0}, refusal=RefusalCode.OVER_BUDGET,
         why="this draft would cost about"),
    Case("billed-draft-fallback-over-budget-is-left-out", DRAFT, INCAPABLE,
         budget={"daily_budget_usd": 0.0}, plan=(SERVER,)),
    Case("billed-draft-within-budget-goes-to-runpod", DRAFT, INCAPABLE, config={"server_enabled": False},
         budget={"daily_budget_usd": 1.0, "spent_today_usd": 0.5}, plan=(RUNPOD,)),
    Case("free-draft-on-local-runpod-server-ignores-budget", DRAFT, INCAPABLE,
         config={"server_enabled": False, "runpod_cloud": False}, budget={"daily_budget_usd": 0.0},
         plan=(RUNPOD,)),
    Case("draft-without-runpod-key-falls-back-to-local-runpod-server", DRAFT, INCAPABLE,
         config={"server_enabled": False,
         "runpod_cloud": False}, plan=(RUNPOD,), why="local RunPod-compatible"),
    # --- finals, mode=auto: RunPod only --------------------------------------------------------------------
    Case("final-goes-to-runpod", FINAL, plan=(RUNPOD,), why="billed s"),
    Case("final-ignores-a-capable-browser", FINAL, plan=(RUNPOD,), why="finals go to RunPod"),
    Case("final-without-runpod-key-goes-to-local-runpod-server", FINAL, config={"runpod_cloud": False},
         plan=(RUNPOD,), why="no RunPod key configured"),
    Case("final-runpod-unhealthy-is-refused", FINAL, health={"runpod": False},
         refusal=RefusalCode.CLOUD_UNAVAILABLE, why="RunPod is unhealthy"),
    Case("final-runpod-disabled-is-refused", FINAL, config={"runpod_enabled": False},
         refusal=RefusalCode.CLOUD_UNAVAILABLE, why="disabled by configuration"),
    Case("final-over-budget-is-refused", FINAL, budget={"daily_budget_usd": 1.0, "spent_today_usd": 0.999},
         refusal=RefusalCode.OVER_BUDGET, why="daily budget"),
    Case("final-within-budget-goes-to-runpod", FINAL,
         budget={"daily_budget_usd": 1.0, "spent_today_usd": 0.5},
         plan=(RUNPOD,)),
    Case("final-without-budget-limit-goes-to-runpod", FINAL,
         budget={"daily_budget_usd": None, "spent_today_usd": 99},
         plan=(RUNPOD,)),
    Case("final-on-free-local-runpod-server-ignores-budget", FINAL, config={"runpod_cloud": False},
         budget={"daily_budget_usd": 0.0}, plan=(RUNPOD,)),
    # --- mode=local: free targets only, or refused --------------------------------------------------------
    Case("local-draft-capable-browser-excludes-cloud", {**DRAFT, "mode": "local"}, plan=(BROWSER_F16, SERVER),
         why="mode=local excludes the cloud"),
    Case("local-draft-incapable-browser-uses-server", {**DRAFT, "mode": "local"}, INCAPABLE, plan=(SERVER,)),
    Case("local-draft-incapable-browser-no-server-is-refused", {**DRAFT, "mode": "local"}, INCAPABLE,
         config={"server_enabled": False}, refusal=RefusalCode.LOCAL_UNAVAILABLE, why="needs WebGPU"),
    Case("local-final-with-sd-turbo-settings-runs-locally",
         {"priority": "final", "mode": "local", "steps": 4},
         plan=(BROWSER_F16, SERVER)),
    Case("local-final-with-sdxl-settings-is-refused", {**FINAL, "mode": "local"},
         refusal=RefusalCode.LOCAL_UNAVAILABLE, why="at most 4 steps"),
    # --- mode=cloud: RunPod only, or refused --------------------------------------------------------------
    Case("cloud-draft-skips-capable-browser", {**DRAFT, "mode": "cloud"}, plan=(RUNPOD,), why="mode=cloud"),
    Case("cloud-draft-runpod-unhealthy-is-refused", {**DRAFT, "mode": "cloud"}, health={"runpod": False},
         refusal=RefusalCode.CLOUD_UNAVAILABLE),
    Case("cloud-draft-runpod-disabled-is-refused", {**DRAFT, "mode": "cloud"},
         config={"runpod_enabled": False},
         refusal=RefusalCode.CLOUD_UNAVAILABLE),
    Case("cloud-final-over-budget-is-refused", {**FINAL, "mode": "cloud"}, budget={"daily_budget_usd": 0.0},
         refusal=RefusalCode.OVER_BUDGET),
    Case("cloud-draft-over-budget-is-refused", {**DRAFT, "mode": "cloud", "width": 2048, "height": 2048,
         "steps": 150}, budget={"daily_budget_usd": 0.01}, refusal=RefusalCode.OVER_BUDGET, why="daily budget"),
]
# fmt: on


def route(case: Case) -> RoutePlan:
    query = RouteQuery.model_validate({"request": case.request, "capabilities": case.capabilities})
    config = PolicyConfig.model_validate({"runpod_cloud": True, **case.config})
    return plan_route(
        query, config, ProviderHealth.model_validate(case.health), BudgetState.model_validate(case.budget)
    )


def explanation(plan: RoutePlan) -> str:
    parts = (
        [s.reason for s in plan.steps[:1]]
        + [s.reason for s in plan.skipped]
        + [r.reason for r in plan.refusals]
    )
    return " | ".join(parts)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_routing_table(case: Case) -> None:
    plan = route(case)
    assert tuple((s.target, s.backend) for s in plan.steps) == case.plan, explanation(plan)
    assert [r.code for r in plan.refusals] == ([case.refusal] if case.refusal else [])
    assert case.why in explanation(plan)


def test_table_ids_are_unique() -> None:
    assert len({c.id for c in CASES}) == len(CASES)


def test_every_step_after_the_first_is_marked_as_a_fallback() -> None:
    plan = route(Case("x", DRAFT))
    assert not plan.steps[0].reason.startswith("fallback")
    assert all(s.reason.startswith("fallback: ") for s in plan.steps[1:])


def test_every_skipped_target_comes_with_a_reason() -> None:
    plan = route(Case("x", DRAFT, INCAPABLE, config={"server_enabled": False}))
    assert {s.target for s in plan.skipped} == {Target.BROWSER, Target.SERVER}
    assert all(s.reason for s in plan.skipped)


def test_local_targets_are_free_and_unbilled() -> None:
    plan = route(Case("x", DRAFT))
    local = [s for s in plan.steps if s.target is not Target.RUNPOD]
    assert local and all(s.estimated_cost_usd == 0 and not s.billed for s in local)


def test_cloud_cost_is_estimated_billed_seconds_rounded_up_times_price() -> None:
    # 8.3 typical s for 1024x1024 at 25 steps -> 9 billed seconds.
    plan = route(Case("x", FINAL, config={"final_typical_seconds": 8.3, "usd_per_second": 0.0002}))
    step = plan.steps[0]
    assert step.billed
    assert step.estimated_cost_usd == pytest.approx(9 * 0.0002)
    assert "about 9 billed s" in step.reason


def test_cloud_estimate_grows_with_steps_and_size() -> None:
    small = route(Case("x", {**FINAL, "width": 512, "height": 512, "steps": 10})).steps[0]
    large = route(Case("x", {**FINAL, "steps": 50})).steps[0]
    assert small.estimated_cost_usd < large.estimated_cost_usd
    assert small.estimated_ms < large.estimated_ms


def test_a_cloud_image_bills_at_least_one_second() -> None:
    step = route(Case("x", {**FINAL, "width": 64, "height": 64, "steps": 1})).steps[0]
    assert step.estimated_cost_usd == pytest.approx(0.00019)


def test_local_runpod_server_is_free_and_unbilled() -> None:
    step = route(Case("x", FINAL, config={"runpod_cloud": False})).steps[0]
    assert step.target is Target.RUNPOD and not step.billed and step.estimated_cost_usd == 0


def test_browser_estimate_uses_the_measured_draft_time_scaled_by_steps() -> None:
    plan = route(Case("x", {**DRAFT, "steps": 2}, caps("sd-turbo-fp16", measuredDraftMs=800)))
    assert plan.steps[0].estimated_ms == 1600


def test_over_budget_refusal_states_cost_and_remaining_budget() -> None:
    plan = route(Case("x", FINAL, budget={"daily_budget_usd": 2.0, "spent_today_usd": 2.0}))
    assert "$0.0000 of the $2.00 daily budget is left" in plan.refusals[0].reason


def test_finals_exactly_at_the_remaining_budget_are_allowed() -> None:
    cost = route(Case("x", FINAL)).steps[0].estimated_cost_usd
    plan = route(Case("x", FINAL, budget={"daily_budget_usd": 1.0, "spent_today_usd": 1.0 - cost}))
    assert plan.accepted


def test_plan_serializes_in_camel_case_for_the_browser() -> None:
    data = route(Case("x", DRAFT)).model_dump(mode="json")
    assert set(data["steps"][0]) == {
        "target",
        "backend",
        "variant",
        "reason",
        "estimatedCostUsd",
        "estimatedMs",
        "billed",
    }


def test_capability_report_ignores_fields_it_does_not_know() -> None:
    report = CapabilityReport.model_validate({**caps(), "maxBufferSize": 1 << 30})
    assert report.has_webgpu and report.shader_f16


@pytest.mark.parametrize(
    ("report", "variant"),
    [
        (caps(), ModelVariant.SD_TURBO_FP16_TAESD),
        (caps(shaderF16=False), ModelVariant.SD_TURBO_INT8),
        (caps(**SWIFTSHADER), ModelVariant.SD_TURBO_INT8),
        (caps(**NO_WEBGPU), ModelVariant.SD_TURBO_INT8),
    ],
    ids=["shader-f16-gpu", "gpu-without-f16", "software-adapter", "no-webgpu"],
)
def test_a_shader_f16_gpu_keeps_the_tiny_decoder_draft_model(report: dict[str, Any], variant: ModelVariant) -> None:
    assert preferred_browser_variant(CapabilityReport.model_validate(report)) is variant


def test_capability_report_accepts_python_names_too() -> None:
    assert CapabilityReport(has_webgpu=True, shader_f16=True).has_webgpu


@pytest.mark.parametrize(
    "bad",
    [
        {"priority": "urgent"},
        {"mode": "gpu"},
        {"width": 100},
        {"width": 4096},
        {"steps": 0},
        {"img2img": "maybe"},
        {"prompt": "unexpected field"},
    ],
    ids=[
        "unknown-priority",
        "unknown-mode",
        "width-not-multiple-of-8",
        "width-too-large",
        "zero-steps",
        "img2img-not-bool",
        "unknown-field",
    ],
)
def test_invalid_requests_raise_a_validation_error(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        GenerationRequest.model_validate(bad)


def test_unknown_local_model_state_is_a_validation_error() -> None:
    with pytest.raises(ValueError):
        CapabilityReport.model_validate(caps(state="half-done"))


def test_a_plan_cannot_have_both_steps_and_refusals() -> None:
    accepted = route(Case("x", DRAFT))
    refused = route(Case("x", FINAL, health={"runpod": False}))
    with pytest.raises(ValueError):
        RoutePlan(steps=accepted.steps, refusals=refused.refusals)
    with pytest.raises(ValueError):
        RoutePlan()


def test_variant_traits_agree_with_the_model_manifest() -> None:
    manifest = json.loads((Path(__file__).parents[1] / "src/turbodraft/models/manifest.json").read_text())
    for entry in manifest["variants"]:
        variant = ModelVariant(entry["id"])
        assert variant.needs_shader_f16 == (entry["dtype"] == "float16"), entry["id"]
        assert (variant in PolicyConfig().img2img_variants) == entry["img2img"], entry["id"]
        assert entry["max_steps"] <= PolicyConfig().local_max_steps
