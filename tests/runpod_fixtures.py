"""Fixtures for the RunPod client and local server tests: real local endpoints on loopback ports.

Test modules load them with ``pytest_plugins = ["tests.runpod_fixtures"]``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from tests.runpod_support import FAST_CONFIG, RunningEndpoint, StartEndpoint
from turbodraft.providers.handlers import Handler, fake_sdxl_handler
from turbodraft.providers.runpod_local import (
    Fault,
    FaultPlan,
    LocalRunPod,
    LocalRunPodConfig,
    running_in_thread,
)


@pytest.fixture
def start_endpoint() -> Iterator[StartEndpoint]:
    """Start local endpoints: ``start_endpoint(handler=..., faults=[...], **config overrides)``."""
    with contextlib.ExitStack() as stack:

        def start(
            handler: Handler = fake_sdxl_handler, faults: list[Fault] | None = None, **overrides: Any
        ) -> RunningEndpoint:
            config = LocalRunPodConfig(**{**FAST_CONFIG.__dict__, **overrides})
            local = LocalRunPod(config, handler, FaultPlan(list(faults or [])))
            base_url = stack.enter_context(running_in_thread(local))
            return RunningEndpoint(local, base_url)

        yield start


@pytest.fixture
def endpoint(start_endpoint: StartEndpoint) -> RunningEndpoint:
    return start_endpoint()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client
