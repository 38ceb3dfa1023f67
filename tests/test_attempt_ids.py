"""A gateway attempt that finds its ledger id taken is logged as an error and recorded under a new id."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest

from tests.runpod_support import API_KEY, RunningEndpoint
from turbodraft.config import Settings
from turbodraft.gateway.jobs import JobManager, JobSpec
from turbodraft.ledger import JobStatus, Ledger, NewGeneration
from turbodraft.providers.runpod_client import RunPodClient
from turbodraft.providers.server_target import SdTurboRunner, ServerTarget
from turbodraft.routing import Mode, PolicyConfig, Priority

pytest_plugins = ["tests.runpod_fixtures"]


async def test_a_taken_fallback_id_is_an_error_and_the_billed_attempt_is_still_recorded(
    tmp_path: Path, endpoint: RunningEndpoint, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        server_model="no-such-model",  # the server attempt fails at once: the job falls back to RunPod
        runpod_api_key=API_KEY,
        runpod_endpoint_id="local",
        runpod_base_url=endpoint.base_url,
    )
    ledger = Ledger.from_settings(settings)
    server = ServerTarget(SdTurboRunner(settings.server_model, settings.models_dir))
    async with httpx.AsyncClient() as http:
        runpod = RunPodClient(
            http, endpoint_id="local", api_key=API_KEY, base_url=endpoint.base_url, rate_usd_per_s=0.00019
        )
        manager = JobManager(
            settings,
            PolicyConfig.from_settings(settings),
            ledger,
            server=server,
            runpod=runpod,
            runpod_endpoint="local",
        )
        spec = JobSpec(prompt="x", priority=Priority.DRAFT, mode=Mode.AUTO, width=64, height=64, steps=1, seed=1)
        job = await manager.submit("ada", spec)
        # Before the job's task first runs, something else takes the id its fallback attempt would get.
        taken = f"{job.id}-2"
        ledger.record(
            NewGeneration(
                generation_id=taken, user_id="mallory", priority="draft", target="browser", width=64, height=64, steps=1
            )
        )
        with caplog.at_level(logging.ERROR, logger="turbodraft.gateway.jobs"):
            await manager.wait(job, 20)
        await manager.close()
    attempts = ledger.attempts(job.id)
    ledger.close()
    server.close()
    assert job.status is JobStatus.COMPLETED and job.target.value == "runpod"
    assert [(a.target.value, a.status) for a in attempts] == [
        ("server", JobStatus.FAILED),
        ("runpod", JobStatus.COMPLETED),
    ]
    assert attempts[1].generation_id != taken and attempts[1].billed
    assert any("already taken" in r.getMessage() and taken in r.getMessage() for r in caplog.records)
