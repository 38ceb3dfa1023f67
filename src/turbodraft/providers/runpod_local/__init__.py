"""A local RunPod Serverless endpoint: the same API and job lifecycle, pluggable handlers, fault injection."""

from turbodraft.providers.runpod_local.app import LocalRunPod
from turbodraft.providers.runpod_local.config import LocalRunPodConfig
from turbodraft.providers.runpod_local.faults import Fault, FaultKind, FaultPlan
from turbodraft.providers.runpod_local.jobs import BillingRecord, Bookkeeping
from turbodraft.providers.runpod_local.server import running_in_thread, serve, serving_in_thread

__all__ = [
    "BillingRecord",
    "Bookkeeping",
    "Fault",
    "FaultKind",
    "FaultPlan",
    "LocalRunPod",
    "LocalRunPodConfig",
    "running_in_thread",
    "serve",
    "serving_in_thread",
]
