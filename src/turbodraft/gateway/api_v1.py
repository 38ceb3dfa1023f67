"""The versioned API for the new flow: routing plans, server-side jobs, browser usage reports, costs.

Every job, image, usage row and figure belongs to the user who made it (X-User-Id, or the user a token is bound
to): another user gets the 404 an unknown id gets. See docs/security.md.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import secrets
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
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
from turbodraft.gateway.security import check_scope, require_token
from turbodraft.gateway.services import Services
from turbodraft.ledger import CostSummary, JobStatus, NewGeneration, client_generation_id
from turbodraft.providers.outputs import sniff_image_mime
from turbodraft.routing import Priority, RouteQuery, Target

#: Longest long-poll of GET /v1/jobs/{id}?wait=ms.
MAX_WAIT_MS = 30_000
DEFAULT_FINAL_STEPS = 25

ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorBody} for code in (400, 401, 402, 403, 404, 409, 413, 422, 429)
}
SCOPE_HELP = (
    "`own` (default): the caller's own figures. `all`: the whole gateway's; needs a service token (a token "
    "without a `user:` prefix), or a gateway with no tokens configured."
)
Scope = Annotated[Literal["own", "all"], Query(description=SCOPE_HELP)]

router = APIRouter(prefix="/v1", tags=["v1"], dependencies=[Depends(require_token)], responses=ERRORS)

JobId = Annotated[str, Path(pattern=r"^[A-Za-z0-9._:-]{1,64}$", description="The job's id.")]
ServicesDep = Annotated[Services, Depends(deps.services)]
UserDep = Annotated[str, Depends(deps.user)]


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
        img2img=init is not None,
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
        img2img=job.spec.img2img,
        cost_usd=job.cost_usd,
        billed_seconds=job.billed_seconds,
        delay_ms=job.delay_ms,
        execution_ms=job.execution_ms,
        total_ms=job.total_ms,
        created_at=job.created_at,
        error=job.error,
    )


def stored_view(stored: StoredJob) -> JobView:
    """A job no longer in memory (older, or from before a restart), from its attempts' ledger rows."""
    row, last = stored.row, stored.last
    failed = [a for a in stored.attempts[:-1] if a.error]
    return JobView(
        id=row.generation_id,
        status=stored.status.value,
        priority=row.priority,
        target=last.target,
        backend=last.backend,
        variant=last.variant,
        billed=last.billed,
        attempts=[AttemptView(target=a.target, error=a.error, ms=a.total_ms or 0) for a in stored.attempts],
        fallback_reason=f"{failed[-1].target.value} failed: {failed[-1].error}" if failed else None,
        progress=None,
        plan=None,
        image_url=image_url(row.generation_id) if stored.has_image else None,
        width=row.width,
        height=row.height,
        steps=row.steps,
        seed=None,
        img2img=row.img2img,
        cost_usd=round(sum(a.cost_usd for a in stored.attempts), 6),
        billed_seconds=sum(a.billed_seconds for a in stored.attempts),
        delay_ms=last.delay_ms,
        execution_ms=last.execution_ms,
        total_ms=sum(a.total_ms or 0 for a in stored.attempts) or None,
        created_at=row.created_at,
        error=last.error if last.status is not JobStatus.COMPLETED else None,
    )


def unknown_job(job_id: str) -> ApiError:
    return ApiError(404, "not_found", f"no job {job_id!r}")


async def find_job(
    services: Services, reference: str, user_id: str, *, by_handle: bool = True
) -> Job | StoredJob:
    """The job `reference` names, if `user_id` owns it (or the reference is a valid handle: handles.py).

    Someone else's job is answered exactly like an id that does not exist: the 404 confirms nothing.
    """
    opened = services.signer.open(reference) if by_handle else None
    job_id = opened or reference
    job = services.jobs.get(job_id)
    if job is not None:
        if opened is not None or job.user_id == user_id:
            return job
        raise unknown_job(reference)
    stored = await services.jobs.stored(job_id)
    if stored is None or (opened is None and stored.user_id != user_id):
        raise unknown_job(reference)
    return stored


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
    user_id: UserDep,
    wait: Annotated[int, Query(ge=0, le=MAX_WAIT_MS, description="Wait up to this many ms for the end.")] = 0,
) -> JobView:
    found = await find_job(services, job_id, user_id)
    if isinstance(found, StoredJob):
        return stored_view(found)
    await services.jobs.wait(found, wait / 1000)
    return job_view(found)


@router.get(
    "/jobs/{job_id}/image",
    response_class=FileResponse,
    responses={200: {"content": {"image/png": {}}, "description": "The PNG."}},
    summary="A completed job's image (PNG)",
)
async def get_image(job_id: JobId, services: ServicesDep, user_id: UserDep) -> FileResponse:
    found = await find_job(services, job_id, user_id)
    own_id = found.id if isinstance(found, Job) else found.row.generation_id
    path = services.jobs.image_path(own_id)
    if not await asyncio.to_thread(path.is_file):
        state = found.status.value if isinstance(found, Job) else "without an image"
        raise ApiError(404, "no_image", f"job {job_id!r} has no image ({state})")
    return FileResponse(path, media_type="image/png", headers={"cache-control": "private, max-age=86400"})


@router.post("/jobs/{job_id}/cancel", response_model=JobView, summary="Cancel a queued or running job")
async def cancel_job(
    job_id: JobId, services: ServicesDep, user_id: Annotated[str, Depends(deps.counted_user)]
) -> JobView:
    found = await find_job(services, job_id, user_id, by_handle=False)
    if isinstance(found, StoredJob):
        raise ApiError(409, "conflict", f"job {job_id!r} is {found.status.value}; it cannot be cancelled")
    await services.jobs.cancel(found)
    return job_view(found)


@router.post(
    "/usage",
    response_model=UsageRecorded,
    status_code=201,
    summary="Record an image the browser made (idempotent on its id, per user)",
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
        # The report's own id space: it can never take a gateway attempt's id or another user's report.
        generation_id=client_generation_id(user_id, report.id),
        client_id=report.id,
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


@router.get(
    "/costs",
    response_model=CostSummary,
    summary="Costs today, this month, per day, and savings",
    description="The caller's own figures; `scope=all` gives the whole gateway's, and needs a service token.",
)
async def costs(
    request: Request,
    services: ServicesDep,
    user_id: UserDep,
    days: Annotated[int, Query(ge=1, le=366, description="Days in the per-day series.")] = 30,
    scope: Scope = "own",
) -> CostSummary:
    everyone = check_scope(request, scope)
    return await asyncio.to_thread(services.ledger.summary, days, None if everyone else user_id)
