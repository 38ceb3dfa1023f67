"""The canvas app's existing orchestrator API, so its client works unchanged against turbodraft.

    POST /generate/image {prompt, model, priority, size, user_id, wait}
        -> {job_id, status: queued|processing|completed|failed, result, cost, provider, processing_time,
            error}
    GET  /job/{job_id}       the same shape
    GET  /queue/status       job counts and the server target's queue
    GET  /costs/summary      {today: {local, runpod, total}, this_month: {...}, breakdown: {text, image, ...}}

Ownership: the old client does not name its user when it polls or shows an image, so `job_id` here is a
capability handle (`<id>.<signature>`, handles.py) that reads that one job and its image for whoever holds it;
the bare id works only for the job's owner (X-User-Id or `?user_id=`). `/queue/status` and `/costs/summary` show
the caller's own jobs and costs; `?scope=all` (a service token) the whole gateway's.

Mapping: `priority` "draft"/"final" is taken as is; the old levels ("low", "normal", "high", "urgent") and
a missing priority follow `model` (an "sd-turbo..." model means a draft, anything else a final). `result` is
the absolute URL of the PNG (GET /v1/jobs/{id}/image); `cost` is USD; `provider` is "runpod" for RunPod
proper and "local" for everything that costs nothing (the server target, the local RunPod server);
`processing_time` is seconds. A cancelled job reads as "failed" with error "cancelled".
"""

from __future__ import annotations

import asyncio
import re
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from turbodraft.gateway import deps
from turbodraft.gateway.api_v1 import ERRORS, Scope, find_job, image_url, job_spec
from turbodraft.gateway.errors import ApiError
from turbodraft.gateway.jobs import Job, JobSpec, StoredJob
from turbodraft.gateway.schemas import MAX_PROMPT_CHARS, JobCreate
from turbodraft.gateway.security import USER_HEADER, USER_ID_PATTERN, check_scope, require_token, resolve_user
from turbodraft.gateway.services import Services
from turbodraft.ledger import JobStatus, LegacyCostSummary
from turbodraft.routing import Mode, Priority, Target

router = APIRouter(tags=["compat"], dependencies=[Depends(require_token)], responses=ERRORS)
ServicesDep = Annotated[Services, Depends(deps.services)]

#: How long `wait: true` holds the request before answering with the job still running.
WAIT_LIMIT_S = 120.0
_SIZE = re.compile(r"^\s*(\d{1,5})\s*[xX*]\s*(\d{1,5})\s*$")
LegacyPriority = Literal["draft", "final", "low", "normal", "high", "urgent"]
LegacyStatus = Literal["queued", "processing", "completed", "failed"]


class GenerateImage(BaseModel):
    model_config = ConfigDict(extra="ignore")  # the old client may send fields this gateway has no use for

    prompt: str = Field(min_length=1, max_length=MAX_PROMPT_CHARS)
    model: str | None = Field(default=None, max_length=64)
    priority: LegacyPriority | None = None
    #: "WIDTHxHEIGHT" or one number for a square; default 512 for a draft, 1024 for a final.
    size: str | int | None = None
    user_id: str | None = Field(default=None, pattern=USER_ID_PATTERN)
    wait: bool = False

    @field_validator("size")
    @classmethod
    def _size_shape(cls, value: str | int | None) -> str | int | None:
        if isinstance(value, str) and not _SIZE.match(value):
            raise ValueError("size must look like 1024x1024 (or one number for a square)")
        return value

    def resolved_priority(self) -> Priority:
        if self.priority in ("draft", "final"):
            return Priority(self.priority)
        if self.model is not None and self.model.lower().startswith("sd-turbo"):
            return Priority.DRAFT
        return Priority.FINAL

    def resolved_size(self, priority: Priority) -> tuple[int, int]:
        if self.size is None:
            side = 512 if priority is Priority.DRAFT else 1024
            return side, side
        if isinstance(self.size, int):
            return self.size, self.size
        match = _SIZE.match(self.size)
        assert match is not None  # checked by the validator
        return int(match.group(1)), int(match.group(2))


class LegacyJob(BaseModel):
    job_id: str
    status: LegacyStatus
    result: str | None
    cost: float
    provider: Literal["local", "runpod"] | None
    processing_time: float | None
    error: str | None


class QueueStatus(BaseModel):
    queued: int
    processing: int
    completed: int
    failed: int
    cancelled: int
    #: Jobs in the queue (queued + processing), what the old client shows as the queue length.
    queue_length: int
    server_running: int
    server_waiting: int
    server_concurrency: int


_STATUS: dict[JobStatus, LegacyStatus] = {
    JobStatus.QUEUED: "queued",
    JobStatus.RUNNING: "processing",
    JobStatus.COMPLETED: "completed",
    JobStatus.FAILED: "failed",
    JobStatus.CANCELLED: "failed",
}


def _provider(target: Target | None, billed: bool) -> Literal["local", "runpod"] | None:
    if target is None:
        return None
    return "runpod" if target is Target.RUNPOD and billed else "local"


def _absolute(request: Request, handle: str) -> str:
    return str(request.base_url).rstrip("/") + image_url(handle)


def _handle(request: Request, job_id: str) -> str:
    services: Services = request.app.state.services
    return services.signer.handle(job_id)


def legacy_job(request: Request, job: Job) -> LegacyJob:
    billed = bool(job.step and job.step.billed)
    handle = _handle(request, job.id)
    return LegacyJob(
        job_id=handle,
        status=_STATUS[job.status],
        result=_absolute(request, handle) if job.has_image else None,
        cost=job.cost_usd,
        provider=_provider(job.target, billed),
        processing_time=round(job.total_ms / 1000, 3) if job.total_ms is not None else None,
        error=job.error,
    )


def legacy_stored(request: Request, stored: StoredJob) -> LegacyJob:
    row, last = stored.row, stored.last
    handle = _handle(request, row.generation_id)
    total_ms = sum(a.total_ms or 0 for a in stored.attempts)
    return LegacyJob(
        job_id=handle,
        status=_STATUS[stored.status],
        result=_absolute(request, handle) if stored.has_image else None,
        cost=round(sum(a.cost_usd for a in stored.attempts), 6),
        provider=_provider(last.target, last.billed),
        processing_time=round(total_ms / 1000, 3) if total_ms else None,
        error=last.error if last.status is not JobStatus.COMPLETED else None,
    )


def _caller(request: Request, user_id: str | None) -> str:
    return resolve_user(request, user_id or request.headers.get(USER_HEADER))


def _spec(body: GenerateImage, services: Services) -> JobSpec:
    priority = body.resolved_priority()
    width, height = body.resolved_size(priority)
    try:
        create = JobCreate(prompt=body.prompt, priority=priority, mode=Mode.AUTO, width=width, height=height)
    except ValueError as exc:
        raise ApiError(
            422, "invalid_request", f"size {width}x{height}: sides must be multiples of 8 from 64 to 2048"
        ) from exc
    return job_spec(create, services.settings.max_init_image_bytes)


@router.post("/generate/image", response_model=LegacyJob, summary="Generate an image (orchestrator API)")
async def generate_image(body: GenerateImage, request: Request, services: ServicesDep) -> LegacyJob:
    user_id = resolve_user(request, body.user_id or request.headers.get(USER_HEADER))
    services.limiter.check(user_id)
    job = await services.jobs.submit(user_id, _spec(body, services))
    if body.wait:
        await services.jobs.wait(job, WAIT_LIMIT_S)
    return legacy_job(request, job)


@router.get("/job/{job_id}", response_model=LegacyJob, summary="A job (orchestrator API)")
async def get_job(
    job_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9._:-]{1,64}$")],
    request: Request,
    services: ServicesDep,
    user_id: Annotated[str | None, Query(pattern=USER_ID_PATTERN, description="The job's owner.")] = None,
) -> LegacyJob:
    found = await find_job(services, job_id, _caller(request, user_id))
    if isinstance(found, StoredJob):
        return legacy_stored(request, found)
    return legacy_job(request, found)


@router.get("/queue/status", response_model=QueueStatus, summary="Queue counts (orchestrator API)")
async def queue_status(
    request: Request,
    services: ServicesDep,
    scope: Scope = "own",
    user_id: Annotated[str | None, Query(pattern=USER_ID_PATTERN, description="Whose jobs.")] = None,
) -> QueueStatus:
    everyone = check_scope(request, scope)
    counts = services.jobs.counts(None if everyone else _caller(request, user_id))
    stats = services.server.stats() if services.server is not None else None
    return QueueStatus(
        queued=counts["queued"],
        processing=counts["running"],
        completed=counts["completed"],
        failed=counts["failed"],
        cancelled=counts["cancelled"],
        queue_length=counts["queued"] + counts["running"],
        server_running=stats.running if stats else 0,
        server_waiting=stats.waiting if stats else 0,
        server_concurrency=stats.concurrency if stats else 0,
    )


@router.get("/costs/summary", response_model=LegacyCostSummary, summary="Costs in USD (orchestrator API)")
async def costs_summary(
    request: Request,
    services: ServicesDep,
    scope: Scope = "own",
    user_id: Annotated[str | None, Query(pattern=USER_ID_PATTERN, description="Whose costs.")] = None,
) -> LegacyCostSummary:
    everyone = check_scope(request, scope)
    owner = None if everyone else _caller(request, user_id)
    return await asyncio.to_thread(services.ledger.legacy_summary, owner)
