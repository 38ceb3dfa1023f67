"""Routing policy: pure decisions (no I/O) about where a generation runs, with reasons and cost estimates."""

from turbodraft.routing.cost import cloud_cost_usd, runpod_billed_seconds
from turbodraft.routing.policy import plan_route, preferred_browser_variant
from turbodraft.routing.policy_config import PolicyConfig
from turbodraft.routing.schema import (
    BackendHint,
    BudgetState,
    CapabilityReport,
    GenerationRequest,
    LocalModelState,
    LocalModelStatus,
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

__all__ = [
    "BackendHint",
    "BudgetState",
    "CapabilityReport",
    "GenerationRequest",
    "LocalModelState",
    "LocalModelStatus",
    "Mode",
    "ModelVariant",
    "PolicyConfig",
    "Priority",
    "ProviderHealth",
    "Refusal",
    "RefusalCode",
    "RoutePlan",
    "RouteQuery",
    "RouteStep",
    "Skip",
    "Target",
    "cloud_cost_usd",
    "plan_route",
    "preferred_browser_variant",
    "runpod_billed_seconds",
]
