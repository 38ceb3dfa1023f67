"""Server-side jobs: plan a request, run it on the plan's server-side targets in order, record every attempt.

A job follows the routing plan's `server` and `runpod` steps (the browser's steps are the browser's own
business). A target that fails or times out hands the job to the next step; the job keeps each attempt
(`target`, `error`, `ms`) and the reason it fell back, so the user sees which target made the image.

Ledger: each attempt is one row (the first has the job's id, later ones `<id>-2`, `<id>-3`, all with the job's
id in `job_id`), moving queued -> running -> completed/failed/cancelled. A step's `billed` flag (False for the
local RunPod-compatible server) decides whether the row costs money.

Budget: a job that may reach a billed step reserves that step's estimate before it is accepted, in the same
statement that checks the budget (Ledger.record_within_budget). The reservation rides on whichever attempt row
is live: a free first attempt holds what its billed fallback may spend, and hands it to the next attempt's row
in the same transaction that ends it. It is released when the job ends, or by reconciliation (reconcile.py)
when the gateway running it died. Each live row names this gateway instance and a lease it renews.

RunPod: the job id RunPod gives is written to the row as soon as /run answers; the final state and the billed
seconds always come from RunPod's /status (after a cancel too), and a job whose final state RunPod does not
report within the timeout is settled by asking again, with backoff, before the job ends.

Images go to `<data_dir>/images/<job id>.png`; job state is kept in memory for the last `max_jobs` jobs, without
their init images once they end, and an older or pre-restart job is answered from its ledger rows.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import io
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from PIL import Image
from sqlalchemy.exc import IntegrityError

from turbodraft.config import Settings
from turbodraft.gateway.errors import ApiError
from turbodraft.gateway.instance import Instance
from turbodraft.ledger import GenerationRow, JobStatus, Ledger, NewGeneration, new_generation_id
from turbodraft.pipeline.images import write_atomic
from turbodraft.providers.runpod_client import ErrorKind, RunPodClient, RunPodResult
from turbodraft.providers.runpod_types import JobState
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
#: RunPod keeps a finished job's result 30 minutes; past that (plus the job's own timeout) asking is pointless.
RUNPOD_RESULT_RETENTION_S = 1800.0
#: Backoff between attempts to learn the final state of a job RunPod stopped reporting on.
SETTLE_FIRST_DELAY_S = 1.0
SETTLE_MAX_DELAY_S = 30.0
SETTLE_REQUEST_S = 30.0
#: How long a cancel or a shutdown waits for a RunPod job to report its final state before giving up waiting
#: (the job settles on its own, or through reconciliation).
STOP_WAIT_S = 15.0


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
    #: Kept when the init image is dropped at the end of the job.
    img2img: bool = False

    def __post_init__(self) -> None:
        if self.init_image is not None and not self.img2img:
            object.__setattr__(self, "img2img", True)

    @property
    def routing(self) -> GenerationRequest:
        return GenerationRequest(
            priority=self.priority,
            mode=self.mode,
            width=self.width,
            height=self.height,
            steps=self.steps,
            img2img=self.img2img,
        )


@dataclass
class Attempt:
    target: Target
    generation_id: str
    error: str | None = None
    ms: int = 0
    #: RunPod's job id, once /run has answered.
    external_id: str | None = None


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
    #: Set to stop the job (a user's cancel, a shutdown): a RunPod step cancels and reads what it cost.
    abort: asyncio.Event = field(default_factory=asyncio.Event)
    abort_reason: str = "cancelled"
    task: asyncio.Task[None] | None = None


@dataclass(frozen=True)
class StoredJob:
    """What is known of a job no longer in memory: its attempts' ledger rows, and its image if it has one."""

    row: GenerationRow
    attempts: tuple[GenerationRow, ...]
    has_image: bool

    @property
    def last(self) -> GenerationRow:
        return self.attempts[-1] if self.attempts else self.row

    @property
    def status(self) -> JobStatus:
        """The job's state: its last attempt's, except that a failed attempt that was handed on is history."""
        return self.last.status

    @property
    def user_id(self) -> str:
        return self.row.user_id


class JobFailed(Exception):
    """One attempt failed; the message says why (it ends up in the job's attempts).

    A RunPod job that ran before failing reports its timings: the worker time is billed all the same.
    `cancelled` marks an attempt stopped on request, which ends the job instead of falling back.
    """

    def __init__(
        self,
        message: str,
        *,
        execution_ms: int | None = None,
        billed_seconds: int | None = None,
        external_job_id: str | None = None,
        cancelled: bool = False,
    ) -> None:
        super().__init__(message)
        self.execution_ms = execution_ms
        self.billed_seconds = billed_seconds
        self.external_job_id = external_job_id
        self.cancelled = cancelled


@dataclass(frozen=True)
class _Outcome:
    png: bytes
    delay_ms: int | None = None
    execution_ms: int | None = None
    billed_seconds: int = 0
    cost_usd: float = 0.0
    external_job_id: str | None = None


def as_png(data: bytes, mime: str) -> bytes:
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


def reservations(steps: tuple[RouteStep, ...]) -> list[float]:
    """What the attempt at each step holds against the budget: the billed work still ahead of it."""
    held: list[float] = []
    ahead = 0.0
    for step in reversed(steps):
        if step.billed:
            ahead = max(ahead, step.estimated_cost_usd)
        held.append(ahead)
    return held[::-1]


def runpod_input(spec: JobSpec) -> dict[str, Any]:
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
    return job_input


def _ledger_status(result: RunPodResult) -> JobStatus:
    return JobStatus.CANCELLED if result.status is JobState.CANCELLED else JobStatus.FAILED


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
        instance: Instance | None = None,
        max_jobs: int = 1000,
    ) -> None:
        self.settings = settings
        self.policy = policy
        self.ledger = ledger
        self.server = server
        self.runpod = runpod
        self.runpod_endpoint = runpod_endpoint
        self.instance = instance or Instance.create()
        self.images_dir = settings.data_dir / "images"
        self.images_dir.mkdir(parents=True, exist_ok=True)
        self.max_jobs = max_jobs
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        # Serialises plan + reservation within this process (the ledger makes the reservation itself atomic
        # across processes), so a refusal names the budget the request was actually planned against.
        self._budget_lock = asyncio.Lock()

    # --- planning ------------------------------------------------------------------------------------

    def health(self) -> ProviderHealth:
        return ProviderHealth(server=self.server is not None, runpod=self.runpod is not None)

    def budget_needed(self, request: GenerationRequest) -> bool:
        # Whatever can reach RunPod proper is held to the budget; free requests skip the ledger read.
        return self.policy.runpod_cloud and self.policy.runpod_enabled and request.mode is not Mode.LOCAL

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
        """Plan, reserve and start a job; raises ApiError (402 over budget, 422 nothing can serve it)."""
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
            job.id = await self._reserve_first_attempt(job)
        self._remember(job)
        job.task = asyncio.create_task(self._execute(job), name=f"job-{job.id}")
        return job

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    async def stored(self, job_id: str) -> StoredJob | None:
        row = await asyncio.to_thread(self.ledger.get, job_id)
        if row is None or row.target is Target.BROWSER or row.job_id not in (None, job_id):
            return None  # a browser report, or a later attempt: not a job id
        attempts = await asyncio.to_thread(self.ledger.attempts, job_id)
        has_image = await asyncio.to_thread(self.image_path(job_id).is_file)
        return StoredJob(row=row, attempts=tuple(attempts) or (row,), has_image=has_image)

    def image_path(self, job_id: str) -> Path:
        return self.images_dir / f"{job_id}.png"

    async def wait(self, job: Job, timeout_s: float) -> None:
        if timeout_s > 0 and not job.finished.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(job.finished.wait(), timeout_s)

    async def cancel(self, job: Job) -> None:
        """Stop a job. A RunPod step is cancelled there and its billed seconds read back before this returns
        (or, should RunPod not answer in STOP_WAIT_S, once it does)."""
        if job.status.terminal:
            raise ApiError(409, "conflict", f"job {job.id} is already {job.status.value}")
        job.abort.set()
        if job.task is None:
            return
        if job.target is not Target.RUNPOD:
            job.task.cancel()  # a CPU generation cannot be interrupted politely, and it costs nothing
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(asyncio.shield(job.task), STOP_WAIT_S)

    def counts(self, user_id: str | None = None) -> dict[str, int]:
        counts = {status.value: 0 for status in JobStatus}
        for job in self._jobs.values():
            if user_id is None or job.user_id == user_id:
                counts[job.status.value] += 1
        return counts

    def live_count(self) -> int:
        return sum(1 for job in self._jobs.values() if not job.status.terminal)

    async def close(self) -> None:
        """Stop every running job: RunPod jobs are cancelled and their cost read; what cannot be read in time
        is left to the next reconciliation (the rows are released, their reservations kept)."""
        running = [j for j in self._jobs.values() if j.task is not None and not j.task.done()]
        for job in running:
            job.abort_reason = "the gateway is shutting down"
            job.abort.set()
            if job.target is not Target.RUNPOD and job.task is not None:
                job.task.cancel()
        tasks = [j.task for j in running if j.task is not None]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=STOP_WAIT_S)
            for task in pending:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    def _remember(self, job: Job) -> None:
        self._jobs[job.id] = job
        while len(self._jobs) > self.max_jobs:
            oldest_id = next(iter(self._jobs))
            if not self._jobs[oldest_id].status.terminal:
                break  # never forget a running job; the map shrinks again once it ends
            del self._jobs[oldest_id]

    # --- ledger rows ---------------------------------------------------------------------------------

    def _attempt_row(self, job: Job, index: int, generation_id: str) -> NewGeneration:
        spec, step = job.spec, job.steps[index]
        now = datetime.now(UTC)
        return NewGeneration(
            generation_id=generation_id,
            job_id=job.id,
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
            img2img=spec.img2img,
            prompt=spec.prompt,
            status=JobStatus.QUEUED,
            estimated_cost_usd=step.estimated_cost_usd,
            reserved_usd=reservations(job.steps)[index],
            owner_id=self.instance.id,
            lease_expires_at=now + timedelta(seconds=self.settings.job_lease_s),
        )

    async def _reserve_first_attempt(self, job: Job) -> str:
        """Record the job's first attempt, reserving against the budget when it may spend; its id."""
        limit = self.settings.daily_budget_usd
        for _ in range(3):
            gen = self._attempt_row(job, 0, job.id)
            try:
                if gen.reservation_usd > 0 and limit is not None:
                    fits = await asyncio.to_thread(self.ledger.record_within_budget, gen, limit)
                    if not fits:
                        raise ApiError(
                            402,
                            RefusalCode.OVER_BUDGET.value,
                            f"this {job.spec.priority.value} may cost about ${gen.reservation_usd:.4f} on RunPod, "
                            f"more than is left of the ${limit:.2f} daily budget",
                        )
                    return job.id
                if await asyncio.to_thread(self.ledger.record, gen):
                    return job.id
            except IntegrityError:
                pass
            log.error("ledger id %s is already taken; the job gets a new id", job.id)
            job.id = new_generation_id()
        raise ApiError(500, "internal_error", "could not record the job in the ledger")

    async def _hand_over(self, job: Job, generation_id: str, status: JobStatus, fields: dict[str, Any]) -> str:
        """End one attempt and record the next in one transaction (the reservation moves with it); its id."""
        index = len(job.attempts)
        next_id = f"{job.id}-{index + 1}"
        for _ in range(3):
            try:
                await asyncio.to_thread(
                    self.ledger.update_status,
                    generation_id,
                    status,
                    then_record=self._attempt_row(job, index, next_id),
                    **fields,
                )
                return next_id
            except IntegrityError:
                # Never silently: a lost attempt row would be a billed fallback with no record.
                taken, next_id = next_id, new_generation_id()
                log.error("ledger id %s is already taken; job %s records its attempt as %s", taken, job.id, next_id)
        raise RuntimeError(f"could not record attempt {index + 1} of job {job.id}")

    async def _update(self, generation_id: str, status: JobStatus, **fields: Any) -> None:
        try:
            await asyncio.to_thread(self.ledger.update_status, generation_id, status, **fields)
        except Exception:  # the job's outcome stands even if its bookkeeping failed; say so loudly
            log.exception("ledger update of %s to %s failed", generation_id, status.value)

    async def _release(self, attempt: Attempt) -> None:
        """Leave a billed attempt whose cost this process cannot read to reconciliation."""
        try:
            await asyncio.to_thread(self.ledger.release, attempt.generation_id, self.instance.id)
        except Exception:
            log.exception("could not release %s for reconciliation", attempt.generation_id)

    # --- execution -----------------------------------------------------------------------------------

    async def _execute(self, job: Job) -> None:
        started = time.monotonic()
        attempt: Attempt | None = None
        step: RouteStep | None = None
        generation_id = job.id
        try:
            for step in job.steps:
                if job.abort.is_set():
                    raise asyncio.CancelledError
                attempt = Attempt(target=step.target, generation_id=generation_id)
                job.attempts.append(attempt)
                job.status, job.step, job.target = JobStatus.RUNNING, step, step.target
                await self._update(generation_id, JobStatus.RUNNING)
                attempt_started = time.monotonic()
                try:
                    outcome = await self._run_step(job, step, attempt)
                except JobFailed as exc:
                    attempt.ms = round((time.monotonic() - attempt_started) * 1000)
                    attempt.error = str(exc)
                    status = JobStatus.CANCELLED if exc.cancelled else JobStatus.FAILED
                    fields: dict[str, Any] = {
                        "error": str(exc),
                        "total_ms": attempt.ms,
                        "execution_ms": exc.execution_ms,
                        "billed_seconds": exc.billed_seconds,
                        "external_job_id": exc.external_job_id,
                    }
                    if step.billed and exc.billed_seconds:
                        job.billed_seconds += exc.billed_seconds
                        job.cost_usd = round(job.cost_usd + exc.billed_seconds * self.policy.usd_per_second, 6)
                    if exc.cancelled:
                        await self._update(generation_id, status, **fields)
                        job.status, job.error = JobStatus.CANCELLED, job.abort_reason
                        job.execution_ms = exc.execution_ms
                        return
                    job.fallback_reason = f"{step.target.value} failed: {exc}"
                    if len(job.attempts) < len(job.steps):
                        generation_id = await self._hand_over(job, generation_id, status, fields)
                        continue
                    await self._update(generation_id, status, **fields)
                    break
                attempt.ms = round((time.monotonic() - attempt_started) * 1000)
                await asyncio.to_thread(write_atomic, self.image_path(job.id), outcome.png)
                job.has_image = True
                job.delay_ms, job.execution_ms = outcome.delay_ms, outcome.execution_ms
                if step.billed:
                    job.billed_seconds += outcome.billed_seconds
                    job.cost_usd = round(job.cost_usd + outcome.cost_usd, 6)
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
            job.error = job.abort_reason
            if attempt is not None:
                attempt.error = attempt.error or job.abort_reason
            if attempt is not None and step is not None and step.billed and attempt.external_id is not None:
                # Stopped before RunPod said what it billed: reconciliation asks it.
                await asyncio.shield(self._release(attempt))
            else:
                await asyncio.shield(self._update(generation_id, JobStatus.CANCELLED, error=job.abort_reason))
        except Exception as exc:  # a bug must still end the job, not leave it running forever
            log.exception("job %s crashed", job.id)
            job.status, job.error = JobStatus.FAILED, f"internal error: {type(exc).__name__}"
            await self._update(generation_id, JobStatus.FAILED, error=job.error)
        finally:
            job.total_ms = job.total_ms or round((time.monotonic() - started) * 1000)
            # A finished job keeps what its view needs, not the megabytes of its init image.
            job.spec = dataclasses.replace(job.spec, init_image=None)
            job.finished.set()
            self._remember(job)

    async def _run_step(self, job: Job, step: RouteStep, attempt: Attempt) -> _Outcome:
        if step.target is Target.SERVER:
            return await self._run_server(job.spec)
        if step.target is Target.RUNPOD:
            return await self._run_runpod(job, attempt)
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

    async def _run_runpod(self, job: Job, attempt: Attempt) -> _Outcome:
        if self.runpod is None:
            raise JobFailed("no RunPod endpoint is configured")

        async def submitted(external_id: str) -> None:
            attempt.external_id = external_id
            try:
                await asyncio.to_thread(self.ledger.set_external_id, attempt.generation_id, external_id)
            except Exception:
                log.exception("could not record RunPod job %s on %s", external_id, attempt.generation_id)

        result = await self.runpod.run(
            runpod_input(job.spec),
            timeout_s=self.settings.runpod_timeout_s,
            abort=job.abort,
            on_submitted=submitted,
        )
        result = await self._settle(result)
        if not result.settled:
            raise JobFailed(
                f"RunPod job {result.job_id} never reported its final state; its cost is unknown",
                external_job_id=result.job_id,
            )
        if not result.ok or result.images is None:
            kind = result.error_kind.value if result.error_kind else "failed"
            raise JobFailed(
                f"{kind}: {result.error or 'no image in the output'}",
                execution_ms=result.execution_ms,
                billed_seconds=result.billed_seconds,
                external_job_id=result.job_id,
                cancelled=job.abort.is_set() and result.error_kind in (ErrorKind.ABORTED, ErrorKind.JOB_CANCELLED),
            )
        first = result.images.first
        try:
            png = await asyncio.to_thread(as_png, first.data, first.mime)
        except OSError as exc:
            raise JobFailed(
                f"bad_output: {exc}",
                execution_ms=result.execution_ms,
                billed_seconds=result.billed_seconds,
                external_job_id=result.job_id,
            ) from exc
        return _Outcome(
            png=png,
            delay_ms=result.delay_ms,
            execution_ms=result.execution_ms,
            billed_seconds=result.billed_seconds,
            cost_usd=float(result.cost_usd),
            external_job_id=result.job_id,
        )

    async def _settle(self, result: RunPodResult) -> RunPodResult:
        """Ask RunPod again, with backoff, until it reports the job's final state (or its result expired)."""
        if result.settled or result.job_id is None or self.runpod is None:
            return result
        log.warning("RunPod job %s: no final state yet (%s); asking again", result.job_id, result.error)
        give_up_at = time.monotonic() + RUNPOD_RESULT_RETENTION_S
        delay = SETTLE_FIRST_DELAY_S
        while not result.settled and time.monotonic() < give_up_at:
            await asyncio.sleep(delay)
            delay = min(delay * 2, SETTLE_MAX_DELAY_S)
            result = await self.runpod.settle(result.job_id, timeout_s=SETTLE_REQUEST_S)
        if not result.settled:
            log.error("RunPod job %s never reported its final state; its cost is not recorded", result.job_id)
        return result
