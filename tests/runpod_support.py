"""Shared parts of the RunPod tests: fast settings, the running-endpoint handle, a client factory."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from turbodraft.providers.runpod_client import PollPolicy, RetryPolicy, RunPodClient
from turbodraft.providers.runpod_local import (
    Bookkeeping,
    LocalRunPod,
    LocalRunPodConfig,
)

API_KEY = "test-key"
ENDPOINT = "local"

#: Sub-second clocks so the whole file runs in seconds.
FAST_CONFIG = LocalRunPodConfig(
    api_key=API_KEY,
    workers=2,
    min_execution_timeout_ms=50,
    sweep_interval_s=0.05,
    fault_injection=True,
    keep_inputs=True,
)
FAST_RETRY = RetryPolicy(max_attempts=4, base_delay_s=0.01, max_delay_s=0.05)
FAST_POLL = PollPolicy(initial_s=0.02, max_s=0.1, multiplier=1.5)


@dataclass
class RunningEndpoint:
    local: LocalRunPod
    base_url: str

    @property
    def url(self) -> str:
        return f"{self.base_url}/{ENDPOINT}"

    @property
    def origin(self) -> str:
        return self.base_url.removesuffix("/v2")

    def books(self) -> Bookkeeping:
        return self.local.store.bookkeeping()


StartEndpoint = Callable[..., RunningEndpoint]


def make_client(http: httpx.AsyncClient, endpoint: RunningEndpoint, **overrides: Any) -> RunPodClient:
    options: dict[str, Any] = {
        "endpoint_id": ENDPOINT,
        "api_key": API_KEY,
        "base_url": endpoint.base_url,
        "rate_usd_per_s": "0.00019",
        "retry": FAST_RETRY,
        "poll": FAST_POLL,
        "request_timeout_s": 5.0,
        "cancel_timeout_s": 2.0,
    }
    options.update(overrides)
    return RunPodClient(http, **options)


AUTH = {"Authorization": f"Bearer {API_KEY}"}
