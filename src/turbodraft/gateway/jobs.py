"""Server-side jobs: plan a request, run it on the plan's server-side targets in order, record every attempt.

A job follows the routing plan's `server` and `runpod` steps (the browser's steps are the browser's own
business). A target that fails or times out hands the job to the next step; the job keeps each attempt
(`target`, `error`, `ms`) and the reason it fell back, so the user sees which target made the image.

Ledger: each attempt is one row (the first has the job's id, later ones `<id>-2`, `<id>-3`), moving
queued -> running -> completed/failed/cancelled, so a failed RunPod attempt that ran is still paid for and a
reserved estimate is released as soon as its attempt ends. A step's `billed` flag (False for the local
RunPod-compatible server) decides whether the row costs money.

Images go to `<data_dir>/images/<job id>.png`; job state is kept in memory for the last `max_jobs` jobs,
and an older or pre-restart job is answered from its ledger row.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from PIL import Image

from turbodraft.config import Settings
from turbodraft.gateway.errors import ApiError
from turbodraft.ledger import GenerationRow, JobStatus, Ledger, NewGeneration, new_generation_id
from turbodraft.pipeline.images import write_atomic
from turbodraft.providers.runpod_client import RunPodClient
from turbodraft.providers.server_target import SdTurboJob, ServerTarget
from turbodraft.routing import (
    BudgetState,
    CapabilityReport,
    GenerationRequest,
    Mode,
    PolicyConfig,
    Priority,
    ProviderHealth,
    RefusalCode,
    RoutePlan,
    RouteQuery,
    RouteStep,
    Target,
    plan_route,
)

log = logging.getLogger(__name__)

SERVER_SIDE = frozenset({Target.SERVER, Target.RUNPOD})


@dataclass(frozen=True)
class JobSpec:
    """A validated request for a server-side job."""

    prompt: str
    priority: Priority
    mode: Mode
    width: int
    height: int
    steps: int
    seed: int
    init_image: bytes | None = None
    strength: float | None = None

    @property
    def routing(self) -> GenerationRequest:
        return GenerationRequest(
            priority=self.priority,
            mode=self.mode,
            width=self.width,
            height=self.height,
            steps=self.steps,
            img2img=self.init_image is not None,
        )


@dataclass
class Attempt:
    target: Target
    generation_id: str
    error: str | None = None
    ms: int = 0


@dataclass
class Job:
    id: str
    user_id: str
    spec: JobSpec
    plan: RoutePlan
    steps: tuple[RouteStep, ...]
    created_at: datetime
    status: JobStatus = JobStatus.QUEUED
    target: Target | None = None
    step: RouteStep | None = None
    attempts: list[Attempt] = field(default_factory=list)
    fallback_reason: str | None = None
    error: str | None = None
    has_image: bool = False
    cost_usd: float = 0.0
    billed_seconds: int = 0
    delay_ms: int | None = None
    execution_ms: int | None = None
    total_ms: int | None = None
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


@dataclass(frozen=True)
class StoredJob:
    """What is known of a job no longer in memory: its first ledger row, and its image if it has one."""

    row: GenerationRow
    has_image: bool


class JobFailed(Exception):
    """One attempt failed; the message says why (it ends up in the job's attempts).

    A RunPod job that ran before failing reports its timings: the worker time is billed all the same.
    """

    def __init__(
        self,
        message: str,
        *,
        execution_ms: int | None = None,
        billed_seconds: int | None = None,
        external_job_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.execution_ms = execution_ms
        self.billed_seconds = billed_seconds
        self.external_job_id = external_job_id


@dataclass(frozen=True)
class _Outcome:
    png: bytes
    delay_ms: int | None = None
    execution_ms: int | None = None
    billed_seconds: int = 0
    cost_usd: float = 0.0
    external_job_id: str | None = None


def _as_png(data: bytes, mime: str) -> bytes:
    if mime == "image/png":
        return data
    with Image.open(io.BytesIO(data)) as image:
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format="PNG")
        return buffer.getvalue()


def refusal_error(plan: RoutePlan) -> ApiError:
    refusal = plan.refusals[0]
    status = 402 if refusal.code is RefusalCode.OVER_BUDGET else 422
    return ApiError(
        status,
        refusal.code.value,
        refusal.reason,
        {"refusals": [r.model_dump(mode="json") for r in plan.refusals]},
    )


class JobManager:
    def __init__(
        self,
        settings: Settings,
        policy: PolicyConfig,
        ledger: Ledger,
        *,
        server: ServerTarget | None,
        runpod: RunPodClient | None,
        runpod_endpoint: str | None,
        max_jobs: int = 1000,
    ) -> None:
        self.settings = settings
        self.policy = policy
        self.ledger = ledger
        self.server = server
        self.runpod = runpod
        self.runpod_endpoint = runpod_endpoint
        self.images_dir = settings.data_dir / "images"
        self.images_dir.mkdir(parents=True, exist_ok=True)
        self.max_jobs = max_jobs
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        # Held from the budget check to the ledger row that reserves the estimate, so two concurrent
        # finals cannot both fit into the same remaining budget.
        self._budget_lock = asyncio.Lock()

    # --- planning ------------------------------------------------------------------------------------

    def health(self) -> ProviderHealth:
        return ProviderHealth(server=self.server is not None, runpod=self.runpod is not None)

    def budget_needed(self, request: GenerationRequest) -> bool:
        # Only billed finals are held to the budget: skip the ledger read for everything else.
        return (
            self.policy.runpod_cloud and request.priority is Priority.FINAL and request.mode is not Mode.LOCAL
        )

    async def budget(self, user_id: str, request: GenerationRequest) -> BudgetState:
        limit = self.settings.daily_budget_usd
        if limit is None or not self.budget_needed(request):
            return BudgetState(daily_budget_usd=limit)
        spent = await asyncio.to_thread(self.ledger.committed_usd_today, user_id)
        return BudgetState(daily_budget_usd=limit, spent_today_usd=spent)

    async def plan(
        self, user_id: str, request: GenerationRequest, capabilities: CapabilityReport | None = None
    ) -> RoutePlan:
        budget = await self.budget(user_id, request)
        return plan_route(
            RouteQuery(request=request, capabilities=capabilities), self.policy, self.health(), budget
        )

    # --- jobs ----------------------------------------------------------------------------------------

    async def submit(self, user_id: str, spec: JobSpec) -> Job:
        """Plan and start a job; raises ApiError (402 over budget, 422 nothing can serve it)."""
        async with self._budget_lock:
            plan = await self.plan(user_id, spec.routing)
            if not plan.accepted:
                raise refusal_error(plan)
            steps = tuple(s for s in plan.steps if s.target in SERVER_SIDE)
            if not steps:
                raise ApiError(
                    422,
                    RefusalCode.NO_TARGET.value,
                    "only the browser can serve this request; run it there and report it to /v1/usage",
                    {"plan": plan.model_dump(mode="json")},
                )
            job = Job(
                id=new_generation_id(),
                user_id=user_id,
                spec=spec,
                plan=plan,
                steps=steps,
                created_at=datetime.now(UTC),
            )
            await self._record_attempt(job, steps[0], job.id)
        self._remember(job)
        job.task = asyncio.create_task(self._execute(job), name=f"job-{job.id}")
        return job

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    async def stored(self, job_id: str) -> StoredJob | None:
        row = await asyncio.to_thread(self.ledger.get, job_id)
        if row is None or row.target is Target.BROWSER:
            return None
        return StoredJob(row=row, has_image=self.image_path(job_id).is_file())

    def image_path(self, job_id: str) -> Path:
        return self.images_dir / f"{job_id}.png"

    async def wait(self, job: Job, timeout_s: float) -> None:
        if timeout_s > 0 and not job.finished.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(job.finished.wait(), timeout_s)

    async def cancel(self, job: Job) -> None:
        if job.status.terminal:
            raise ApiError(409, "conflict", f"job {job.id} is already {job.status.value}")
        if job.task is not None:
            job.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await job.task

    def counts(self) -> dict[str, int]:
        counts = {status.value: 0 for status in JobStatus}
        for job in self._jobs.values():
            counts[job.status.value] += 1
        return counts

    async def close(self) -> None:
        running = [j.task for j in self._jobs.values() if j.task is not None and not j.task.done()]
        for task in running:
            task.cancel()
        for task in running:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def _remember(self, job: Job) -> None:
        self._jobs[job.id] = job
        while len(self._jobs) > self.max_jobs:
            oldest_id = next(iter(self._jobs))
            if not self._jobs[oldest_id].status.terminal:
                break  # never forget a running job; the map shrinks again once it ends
            del self._jobs[oldest_id]

    # --- execution -----------------------------------------------------------------------------------

    async def _record_attempt(self, job: Job, step: RouteStep, generation_id: str) -> None:
        spec = job.spec
        gen = NewGeneration(
            generation_id=generation_id,
            user_id=job.user_id,
            priority=spec.priority,
            target=step.target,
            backend=step.backend,
            variant=step.variant,
            billed=step.billed,
            endpoint_id=self.runpod_endpoint if step.target is Target.RUNPOD else None,
            width=spec.width,
            height=spec.height,
            steps=spec.steps,
            img2img=spec.init_image is not None,
            prompt=spec.prompt,
            status=JobStatus.QUEUED,
            estimated_cost_usd=step.estimated_cost_usd,
        )
        await asyncio.to_thread(self.ledger.record, gen)

    async def _update(self, generation_id: str, status: JobStatus, **fields: Any) -> None:
        try:
            await asyncio.to_thread(self.ledger.update_status, generation_id, status, **fields)
        except Exception:  # the job's outcome stands even if its bookkeeping failed; say so loudly
            log.exception("ledger update of %s to %s failed", generation_id, status.value)

    async def _execute(self, job: Job) -> None:
        started = time.monotonic()
        attempt: Attempt | None = None
        try:
            for index, step in enumerate(job.steps):
                generation_id = job.id if index == 0 else f"{job.id}-{index + 1}"
                if index:
                    await self._record_attempt(job, step, generation_id)
                attempt = Attempt(target=step.target, generation_id=generation_id)
                job.attempts.append(attempt)
                job.status, job.step, job.target = JobStatus.RUNNING, step, step.target
                await self._update(generation_id, JobStatus.RUNNING)
                attempt_started = time.monotonic()
                try:
                    outcome = await self._run_step(job, step)
                except JobFailed as exc:
                    attempt.ms = round((time.monotonic() - attempt_started) * 1000)
                    attempt.error = str(exc)
                    await self._update(
                        generation_id,
                        JobStatus.FAILED,
                        error=str(exc),
                        total_ms=attempt.ms,
                        execution_ms=exc.execution_ms,
                        billed_seconds=exc.billed_seconds,
                        external_job_id=exc.external_job_id,
                    )
                    job.fallback_reason = f"{step.target.value} failed: {exc}"
                    continue
                attempt.ms = round((time.monotonic() - attempt_started) * 1000)
                await asyncio.to_thread(write_atomic, self.image_path(job.id), outcome.png)
                job.has_image = True
                job.delay_ms, job.execution_ms = outcome.delay_ms, outcome.execution_ms
                job.billed_seconds = outcome.billed_seconds if step.billed else 0
                job.cost_usd = outcome.cost_usd if step.billed else 0.0
                job.total_ms = round((time.monotonic() - started) * 1000)
                await self._update(
                    generation_id,
                    JobStatus.COMPLETED,
                    delay_ms=outcome.delay_ms,
                    execution_ms=outcome.execution_ms,
                    total_ms=attempt.ms,
                    billed_seconds=outcome.billed_seconds,
                    external_job_id=outcome.external_job_id,
                )
                job.status = JobStatus.COMPLETED
                return
            job.status = JobStatus.FAILED
            job.error = "every target failed: " + "; ".join(
                f"{a.target.value}: {a.error}" for a in job.attempts
            )
        except asyncio.CancelledError:
            job.status = JobStatus.CANCELLED
            job.error = "cancelled"
            if attempt is not None:
                attempt.error = attempt.error or "cancelled"
                await asyncio.shield(
                    self._update(attempt.generation_id, JobStatus.CANCELLED, error="cancelled")
                )
            else:
                await asyncio.shield(self._update(job.id, JobStatus.CANCELLED, error="cancelled"))
        except Exception as exc:  # a bug must still end the job, not leave it running forever
            log.exception("job %s crashed", job.id)
            job.status, job.error = JobStatus.FAILED, f"internal error: {type(exc).__name__}"
            if attempt is not None:
                await self._update(attempt.generation_id, JobStatus.FAILED, error=job.error)
        finally:
            job.total_ms = job.total_ms or round((time.monotonic() - started) * 1000)
            job.finished.set()
            self._remember(job)

    async def _run_step(self, job: Job, step: RouteStep) -> _Outcome:
        if step.target is Target.SERVER:
            return await self._run_server(job.spec)
        if step.target is Target.RUNPOD:
            return await self._run_runpod(job.spec, step)
        raise JobFailed(f"{step.target.value} is not a server-side target")

    async def _run_server(self, spec: JobSpec) -> _Outcome:
        if self.server is None:
            raise JobFailed("the server target is not running")
        job = SdTurboJob(
            prompt=spec.prompt,
            seed=spec.seed,
            steps=spec.steps,
            width=spec.width,
            height=spec.height,
            init_image=spec.init_image,
            strength=spec.strength,
        )
        timeout = self.settings.server_timeout_s
        try:
            image = await self.server.generate(job, timeout_s=timeout)
        except TimeoutError as exc:
            raise JobFailed(f"timed out after {timeout:g} s") from exc
        except Exception as exc:  # any model or input problem hands the job on; the message says which
            raise JobFailed(f"{type(exc).__name__}: {exc}") from exc
        return _Outcome(png=image.png, execution_ms=round(image.timings_ms.get("total", 0.0)))

    async def _run_runpod(self, spec: JobSpec, step: RouteStep) -> _Outcome:
        if self.runpod is None:
            raise JobFailed("no RunPod endpoint is configured")
        job_input: dict[str, Any] = {
            "prompt": spec.prompt,
            "width": spec.width,
            "height": spec.height,
            "num_inference_steps": spec.steps,
            "seed": spec.seed,
        }
        if spec.init_image is not None:
            job_input["init_image"] = "data:image/png;base64," + base64.b64encode(spec.init_image).decode()
            job_input["strength"] = spec.strength
        result = await self.runpod.run(job_input, timeout_s=self.settings.runpod_timeout_s)
        if not result.ok or result.images is None:
            kind = result.error_kind.value if result.error_kind else "failed"
            raise JobFailed(
                f"{kind}: {result.error or 'no image in the output'}",
                execution_ms=result.execution_ms,
                billed_seconds=result.billed_seconds,
                external_job_id=result.job_id,
            )
        first = result.images.first
        try:
            png = await asyncio.to_thread(_as_png, first.data, first.mime)
        except OSError as exc:
            raise JobFailed(f"bad_output: {exc}") from exc
        return _Outcome(
            png=png,
            delay_ms=result.delay_ms,
            execution_ms=result.execution_ms,
            billed_seconds=result.billed_seconds,
            cost_usd=float(result.cost_usd),
            external_job_id=result.job_id,
        )
