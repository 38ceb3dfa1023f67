"""The versioned API for the new flow: routing plans, server-side jobs, browser usage reports, costs."""

from __future__ import annotations

import asyncio
import base64
import binascii
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response
from fastapi.responses import FileResponse

from turbodraft.gateway import deps
from turbodraft.gateway.errors import ApiError, ErrorBody
from turbodraft.gateway.jobs import Job, JobSpec, StoredJob
from turbodraft.gateway.schemas import (
    AttemptView,
    GatewayCapabilities,
    GatewayRunPod,
    GatewayServer,
    JobCreate,
    JobProgress,
    JobView,
    RouteAnswer,
    UsageRecorded,
    UsageReport,
)
from turbodraft.gateway.security import require_token
from turbodraft.gateway.services import Services
from turbodraft.ledger import CostSummary, JobStatus, NewGeneration
from turbodraft.providers.outputs import sniff_image_mime
from turbodraft.routing import Priority, RouteQuery, Target

#: Longest long-poll of GET /v1/jobs/{id}?wait=ms.
MAX_WAIT_MS = 30_000
DEFAULT_FINAL_STEPS = 25

ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorBody} for code in (400, 401, 402, 404, 409, 413, 422, 429)
}

router = APIRouter(prefix="/v1", tags=["v1"], dependencies=[Depends(require_token)], responses=ERRORS)

JobId = Annotated[str, Path(pattern=r"^[A-Za-z0-9._:-]{1,64}$", description="The job's id.")]
ServicesDep = Annotated[Services, Depends(deps.services)]


def image_url(job_id: str) -> str:
    return f"/v1/jobs/{job_id}/image"


def capabilities(services: Services) -> GatewayCapabilities:
    settings = services.settings
    stats = services.server.stats() if services.server is not None else None
    return GatewayCapabilities(
        server=GatewayServer(
            enabled=stats is not None,
            model=settings.server_model,
            concurrency=stats.concurrency if stats else 0,
            queue_size=stats.queue_size if stats else 0,
            running=stats.running if stats else 0,
            waiting=stats.waiting if stats else 0,
        ),
        runpod=GatewayRunPod(
            enabled=settings.targets.runpod, mode="cloud" if services.runpod_mode == "cloud" else "local"
        ),
        daily_budget_usd=settings.daily_budget_usd,
    )


def decode_init_image(encoded: str, max_bytes: int) -> bytes:
    payload = encoded.split(",", 1)[1] if encoded.startswith("data:") and "," in encoded else encoded
    if len(payload) * 3 // 4 > max_bytes + 3:
        raise _too_large(max_bytes)
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ApiError(422, "invalid_init_image", f"initImage is not valid base64: {exc}") from exc
    if len(data) > max_bytes:
        raise _too_large(max_bytes)
    if sniff_image_mime(data) is None:
        raise ApiError(422, "invalid_init_image", "initImage must be a PNG, JPEG or WebP image")
    return data


def _too_large(max_bytes: int) -> ApiError:
    return ApiError(
        413, "init_image_too_large", f"initImage is larger than {max_bytes} bytes (max_init_image_bytes)"
    )


def job_spec(body: JobCreate, max_init_bytes: int) -> JobSpec:
    init = decode_init_image(body.init_image, max_init_bytes) if body.init_image is not None else None
    default_steps = 1 if body.priority is Priority.DRAFT else DEFAULT_FINAL_STEPS
    return JobSpec(
        prompt=body.prompt,
        priority=body.priority,
        mode=body.mode,
        width=body.width,
        height=body.height,
        steps=body.steps or default_steps,
        seed=body.seed if body.seed is not None else secrets.randbelow(2**32),
        init_image=init,
        strength=(body.strength or 0.5) if init is not None else None,
    )


def job_view(job: Job) -> JobView:
    step = job.step
    current = len(job.attempts)
    return JobView(
        id=job.id,
        status=job.status.value,
        priority=job.spec.priority,
        target=job.target,
        backend=step.backend if step else None,
        variant=step.variant if step else None,
        billed=bool(step and step.billed),
        attempts=[AttemptView(target=a.target, error=a.error, ms=a.ms) for a in job.attempts],
        fallback_reason=job.fallback_reason,
        progress=JobProgress(attempt=current, attempts=len(job.steps), target=job.target),
        plan=job.plan,
        image_url=image_url(job.id) if job.has_image else None,
        width=job.spec.width,
        height=job.spec.height,
        steps=job.spec.steps,
        seed=job.spec.seed,
        img2img=job.spec.init_image is not None,
        cost_usd=job.cost_usd,
        billed_seconds=job.billed_seconds,
        delay_ms=job.delay_ms,
        execution_ms=job.execution_ms,
        total_ms=job.total_ms,
        created_at=job.created_at,
        error=job.error,
    )


def stored_view(stored: StoredJob) -> JobView:
    """A job from before a restart: its first attempt's ledger row (later attempts are not joined in)."""
    row = stored.row
    status = row.status.value
    return JobView(
        id=row.generation_id,
        status=status,
        priority=row.priority,
        target=row.target,
        backend=row.backend,
        variant=row.variant,
        billed=row.billed,
        attempts=[AttemptView(target=row.target, error=row.error, ms=row.total_ms or 0)],
        fallback_reason=None,
        progress=None,
        plan=None,
        image_url=image_url(row.generation_id) if stored.has_image else None,
        width=row.width,
        height=row.height,
        steps=row.steps,
        seed=None,
        img2img=row.img2img,
        cost_usd=row.cost_usd,
        billed_seconds=row.billed_seconds,
        delay_ms=row.delay_ms,
        execution_ms=row.execution_ms,
        total_ms=row.total_ms,
        created_at=row.created_at,
        error=row.error,
    )


def _unknown(job_id: str) -> ApiError:
    return ApiError(404, "not_found", f"no job {job_id!r}")


@router.post("/route", response_model=RouteAnswer, summary="Plan where a generation runs")
async def route(
    query: RouteQuery, services: ServicesDep, user_id: Annotated[str, Depends(deps.counted_user)]
) -> RouteAnswer:
    plan = await services.jobs.plan(user_id, query.request, query.capabilities)
    return RouteAnswer(plan=plan, gateway=capabilities(services))


@router.post("/jobs", response_model=JobView, status_code=202, summary="Run a job on a server-side target")
async def create_job(
    body: JobCreate, services: ServicesDep, user_id: Annotated[str, Depends(deps.counted_user)]
) -> JobView:
    job = await services.jobs.submit(user_id, job_spec(body, services.settings.max_init_image_bytes))
    return job_view(job)


@router.get("/jobs/{job_id}", response_model=JobView, summary="A job's state; ?wait=ms long-polls")
async def get_job(
    job_id: JobId,
    services: ServicesDep,
    wait: Annotated[int, Query(ge=0, le=MAX_WAIT_MS, description="Wait up to this many ms for the end.")] = 0,
) -> JobView:
    job = services.jobs.get(job_id)
    if job is not None:
        await services.jobs.wait(job, wait / 1000)
        return job_view(job)
    stored = await services.jobs.stored(job_id)
    if stored is None:
        raise _unknown(job_id)
    return stored_view(stored)


@router.get(
    "/jobs/{job_id}/image",
    response_class=FileResponse,
    responses={200: {"content": {"image/png": {}}, "description": "The PNG."}},
    summary="A completed job's image (PNG)",
)
async def get_image(job_id: JobId, services: ServicesDep) -> FileResponse:
    path = services.jobs.image_path(job_id)
    if not await asyncio.to_thread(path.is_file):
        job = services.jobs.get(job_id)
        if job is None and await services.jobs.stored(job_id) is None:
            raise _unknown(job_id)
        state = job.status.value if job is not None else "without an image"
        raise ApiError(404, "no_image", f"job {job_id!r} has no image ({state})")
    return FileResponse(path, media_type="image/png", headers={"cache-control": "private, max-age=86400"})


@router.post("/jobs/{job_id}/cancel", response_model=JobView, summary="Cancel a queued or running job")
async def cancel_job(
    job_id: JobId, services: ServicesDep, _: Annotated[str, Depends(deps.counted_user)]
) -> JobView:
    job = services.jobs.get(job_id)
    if job is None:
        stored = await services.jobs.stored(job_id)
        if stored is None:
            raise _unknown(job_id)
        raise ApiError(
            409, "conflict", f"job {job_id!r} is {stored.row.status.value}; it cannot be cancelled"
        )
    await services.jobs.cancel(job)
    return job_view(job)


@router.post(
    "/usage",
    response_model=UsageRecorded,
    status_code=201,
    summary="Record an image the browser made (idempotent on its id)",
    responses={200: {"model": UsageRecorded, "description": "Already recorded: nothing changed."}},
)
async def report_usage(
    report: UsageReport,
    response: Response,
    services: ServicesDep,
    user_id: Annotated[str, Depends(deps.counted_user)],
) -> UsageRecorded:
    total = report.total_ms if report.total_ms is not None else sum(report.stages_ms.values())
    stages = {k: v for k, v in report.stages_ms.items() if k not in ("total", "download")}
    gen = NewGeneration(
        generation_id=report.id,
        user_id=user_id,
        priority=report.priority,
        target=Target.BROWSER,
        backend=report.backend,
        variant=report.variant,
        billed=False,
        width=report.width,
        height=report.height,
        steps=report.steps,
        img2img=report.img2img,
        status=JobStatus.COMPLETED,
        execution_ms=round(sum(stages.values())) if stages else None,
        total_ms=round(total),
    )
    fresh = await asyncio.wrap_future(services.writer.submit(gen))
    if not fresh:
        response.status_code = 200
    return UsageRecorded(id=report.id, recorded=fresh)


@router.get("/costs", response_model=CostSummary, summary="Costs today, this month, per day, and savings")
async def costs(
    services: ServicesDep,
    days: Annotated[int, Query(ge=1, le=366, description="Days in the per-day series.")] = 30,
) -> CostSummary:
    return await asyncio.to_thread(services.ledger.summary, days)
