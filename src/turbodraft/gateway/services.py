"""What the API routes use, built at startup and closed at shutdown: ledger, job manager, targets.

Finals with no RunPod key go to a local RunPod-compatible server through the same RunPodClient as the
cloud. By default (`runpod_local_embedded`) the gateway starts that server itself, in a thread on a free
loopback port with a key made up per process, so nothing else on the machine can submit jobs to it and no
port is fixed; its handler shares the server target's SD-Turbo pipeline (one model in memory). It never serves
fault injection, and its /_local/ endpoints need the same key as /v2/.

Each gateway process is an Instance (instance.py): its jobs' ledger rows carry its id and a lease it renews
(LeaseKeeper), and on start and every `job_lease_s` it reconciles the rows of gateways that died (reconcile.py).
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
from turbodraft.gateway.handles import Signer
from turbodraft.gateway.instance import Instance
from turbodraft.gateway.jobs import RUNPOD_RESULT_RETENTION_S, JobManager
from turbodraft.gateway.reconcile import LeaseKeeper, Reconciler
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
#: The gateway reads an embedded job's output once; keeping it the 30 min RunPod does would only hold memory.
EMBEDDED_RESULT_RETENTION_S = 300.0
#: How long start-up waits for the first reconciliation (the rest of it goes on in the background).
STARTUP_RECONCILE_S = 15.0


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
    signer: Signer
    instance: Instance
    reconciler: Reconciler


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
                    config = LocalRunPodConfig(api_key=key, result_retention_s=EMBEDDED_RESULT_RETENTION_S)
                    local = LocalRunPod(config, _local_handler(settings, runner))
                    context = serving_in_thread(local.app)
                    origin = await asyncio.to_thread(context.__enter__)
                    stack.push_async_callback(asyncio.to_thread, context.__exit__, None, None, None)
                    base_url = f"{origin}/v2"
                    app.state.runpod_local = local
                    app.state.runpod_local_origin = origin
                runpod = RunPodClient(
                    http,
                    endpoint_id=endpoint,
                    api_key=key,
                    base_url=base_url,
                    rate_usd_per_s=settings.gpu_usd_per_second,
                    poll=LOCAL_POLL,
                )
        instance = Instance.create()
        jobs = JobManager(
            settings, policy, ledger, server=server, runpod=runpod, runpod_endpoint=endpoint, instance=instance
        )
        stack.push_async_callback(jobs.close)
        reconciler = Reconciler(
            ledger,
            instance,
            runpod=runpod,
            runpod_endpoint=endpoint,
            images_dir=jobs.images_dir,
            lease_s=settings.job_lease_s,
            give_up_after_s=RUNPOD_RESULT_RETENTION_S + settings.runpod_timeout_s + settings.job_lease_s,
        )
        background = [
            asyncio.create_task(LeaseKeeper(ledger, instance, settings.job_lease_s).run_forever(), name="leases"),
        ]
        first_pass = asyncio.create_task(reconciler.run_once(), name="reconcile-start")
        with contextlib.suppress(Exception):
            # A crash's reservations are released before the first request is served, unless RunPod is slow
            # to answer: then the pass finishes in the background.
            await asyncio.wait_for(asyncio.shield(first_pass), STARTUP_RECONCILE_S)
        background.append(
            asyncio.create_task(reconciler.run_forever(settings.job_lease_s), name="reconcile")
        )

        async def stop_background() -> None:
            for task in [*background, first_pass]:
                task.cancel()
            await asyncio.gather(*background, first_pass, return_exceptions=True)

        # Runs before jobs.close (the stack unwinds in reverse): no pass reconciles while jobs stop, and their
        # leases (job_lease_s) outlast the stop.
        stack.push_async_callback(stop_background)
        yield Services(
            settings=settings,
            policy=policy,
            ledger=ledger,
            writer=writer,
            limiter=RateLimiter(settings.rate_limit_per_minute),
            jobs=jobs,
            server=server,
            runpod_mode=mode,
            signer=Signer.for_settings(settings),
            instance=instance,
            reconciler=reconciler,
        )
