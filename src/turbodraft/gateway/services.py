"""What the API routes use, built at startup and closed at shutdown: ledger, job manager, targets.

Finals with no RunPod key go to a local RunPod-compatible server through the same RunPodClient as the
cloud. By default (`runpod_local_embedded`) the gateway starts that server itself, in a thread on a free
loopback port with a key made up per process, so nothing else on the machine can submit jobs to it and no
port is fixed; its handler shares the server target's SD-Turbo pipeline (one model in memory).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from fastapi import FastAPI

from turbodraft.config import Settings
from turbodraft.gateway.jobs import JobManager
from turbodraft.gateway.security import RateLimiter
from turbodraft.ledger import Ledger, LedgerWriter
from turbodraft.models.manifest import UnknownModel, load_manifest, local_model_dir
from turbodraft.providers.handlers import Handler, resolve_handler
from turbodraft.providers.runpod_client import PollPolicy, RunPodClient
from turbodraft.providers.runpod_local import LocalRunPod, LocalRunPodConfig
from turbodraft.providers.runpod_local.server import serving_in_thread
from turbodraft.providers.sd_turbo_handler import make_handler
from turbodraft.providers.server_target import SdTurboRunner, ServerTarget
from turbodraft.routing import ModelVariant, PolicyConfig

#: The local server answers in milliseconds to seconds: poll it more often than RunPod.
LOCAL_POLL = PollPolicy(initial_s=0.05, max_s=1.0, multiplier=1.5)
VAE_ENCODER = "vae_encoder/model.onnx"


@dataclass
class Services:
    settings: Settings
    policy: PolicyConfig
    ledger: Ledger
    writer: LedgerWriter
    limiter: RateLimiter
    jobs: JobManager
    server: ServerTarget | None
    #: "cloud" or "local": where the runpod target sends jobs.
    runpod_mode: str


def _server_variant(model: str) -> ModelVariant:
    try:
        return ModelVariant(model)
    except ValueError:
        return ModelVariant.SD_TURBO_FP32  # a model directory: treated as an fp32 CPU build


def _has_vae_encoder(model: str, settings: Settings) -> bool:
    try:
        root = local_model_dir(load_manifest().variant(model), settings.models_dir)
    except UnknownModel:
        root = Path(model)  # Pipeline.from_model also takes a model directory
    return (root / VAE_ENCODER).is_file()


def policy_for(settings: Settings) -> PolicyConfig:
    variant = _server_variant(settings.server_model)
    img2img = set(PolicyConfig().img2img_variants)
    if _has_vae_encoder(settings.server_model, settings):
        img2img.add(variant)
    return PolicyConfig.from_settings(settings, server_variant=variant, img2img_variants=frozenset(img2img))


def _local_handler(settings: Settings, runner: SdTurboRunner) -> Handler:
    if settings.runpod_local_handler == "sd-turbo":
        return make_handler(runner)
    return resolve_handler(settings.runpod_local_handler)


@contextlib.asynccontextmanager
async def running_services(app: FastAPI, settings: Settings) -> AsyncIterator[Services]:
    policy = policy_for(settings)
    ledger = await asyncio.to_thread(Ledger.from_settings, settings)
    writer = LedgerWriter(ledger)
    runner = SdTurboRunner(settings.server_model, settings.models_dir)
    server = (
        ServerTarget(runner, concurrency=settings.server_concurrency, queue_size=settings.server_queue_size)
        if settings.targets.server
        else None
    )
    async with contextlib.AsyncExitStack() as stack:
        stack.callback(ledger.close)
        stack.callback(writer.close)
        if server is not None:
            stack.callback(server.close)
        http = await stack.enter_async_context(httpx.AsyncClient())
        runpod: RunPodClient | None = None
        endpoint: str | None = None
        mode = "cloud" if settings.runpod_cloud_configured else "local"
        if settings.targets.runpod:
            if settings.runpod_cloud_configured:
                assert settings.runpod_api_key is not None and settings.runpod_endpoint_id is not None
                endpoint = settings.runpod_endpoint_id
                runpod = RunPodClient(
                    http,
                    endpoint_id=endpoint,
                    api_key=settings.runpod_api_key.get_secret_value().strip(),
                    base_url=settings.runpod_base_url,
                    rate_usd_per_s=settings.gpu_usd_per_second,
                )
            else:
                endpoint = settings.runpod_endpoint_id or "local"
                key = "local"
                base_url = settings.runpod_local_base_url
                if settings.runpod_local_embedded:
                    key = secrets.token_urlsafe(24)
                    local = LocalRunPod(LocalRunPodConfig(api_key=key), _local_handler(settings, runner))
                    context = serving_in_thread(local.app)
                    origin = await asyncio.to_thread(context.__enter__)
                    stack.push_async_callback(asyncio.to_thread, context.__exit__, None, None, None)
                    base_url = f"{origin}/v2"
                    app.state.runpod_local = local
                runpod = RunPodClient(
                    http,
                    endpoint_id=endpoint,
                    api_key=key,
                    base_url=base_url,
                    rate_usd_per_s=settings.gpu_usd_per_second,
                    poll=LOCAL_POLL,
                )
        jobs = JobManager(settings, policy, ledger, server=server, runpod=runpod, runpod_endpoint=endpoint)
        stack.push_async_callback(jobs.close)
        yield Services(
            settings=settings,
            policy=policy,
            ledger=ledger,
            writer=writer,
            limiter=RateLimiter(settings.rate_limit_per_minute),
            jobs=jobs,
            server=server,
            runpod_mode=mode,
        )
