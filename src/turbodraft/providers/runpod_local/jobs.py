"""Jobs of the local RunPod server, their lifecycle, retention, and the billing bookkeeping tests audit.

All mutation happens on the server's event loop; the lock only makes snapshots taken from another thread
(a test reading the bookkeeping) consistent.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from turbodraft.providers.runpod_types import JobState, billed_seconds

_NO_OUTPUT: Any = object()


@dataclass
class Job:
    id: str
    input: dict[str, Any]
    execution_timeout_ms: int
    ttl_ms: int
    sync: bool
    submitted_at: float
    queued_at: float
    status: JobState = JobState.IN_QUEUE
    started_at: float | None = None
    finished_at: float | None = None
    delay_ms: int | None = None
    execution_ms: int | None = None
    output: Any = _NO_OUTPUT
    error: str | None = None
    retries: int = 0
    worker_id: str | None = None
    #: Seen by the handler thread; set on cancel, timeout or TTL expiry.
    cancel_flag: threading.Event = field(default_factory=threading.Event)
    #: Wakes the worker waiting on the handler when the job ends from outside (cancel, TTL).
    stopped: asyncio.Event = field(default_factory=asyncio.Event)
    #: Set when the job reaches a final state; /runsync waits on it.
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.id, "status": self.status.value}
        if self.delay_ms is not None:
            body["delayTime"] = self.delay_ms
        if self.execution_ms is not None:
            body["executionTime"] = self.execution_ms
        if self.output is not _NO_OUTPUT:
            body["output"] = self.output
        if self.error is not None:
            body["error"] = self.error
        if self.retries:
            body["retries"] = self.retries
        if self.worker_id is not None:
            body["workerId"] = self.worker_id
        return body


@dataclass(frozen=True)
class BillingRecord:
    """One execution of a job as the server billed it: executionTime rounded up to whole seconds."""

    job_id: str
    status: JobState
    execution_ms: int
    billed_seconds: int


@dataclass(frozen=True)
class Bookkeeping:
    """A consistent copy of the server's counters, for tests and the /_local/stats endpoint."""

    submit_requests: dict[str, int]
    jobs_created: int
    job_inputs: dict[str, dict[str, Any]]
    billing: tuple[BillingRecord, ...]

    def billed_seconds_for(self, job_id: str) -> int:
        return sum(record.billed_seconds for record in self.billing if record.job_id == job_id)

    def jobs_with_input(self, key: str, value: object) -> list[str]:
        return [job_id for job_id, job_input in self.job_inputs.items() if job_input.get(key) == value]


class JobStore:
    def __init__(
        self,
        *,
        result_retention_s: float,
        runsync_retention_s: float,
        clock: Callable[[], float] = time.monotonic,
        keep_inputs: bool = False,
        max_billing_records: int = 10_000,
    ) -> None:
        self._jobs: dict[str, Job] = {}
        self._retention_s = result_retention_s
        self._runsync_retention_s = runsync_retention_s
        self._clock = clock
        self._lock = threading.Lock()
        self._submit_requests: dict[str, int] = {}
        self._keep_inputs = keep_inputs
        self._job_inputs: dict[str, dict[str, Any]] = {}
        self._jobs_created = 0
        self._billing: deque[BillingRecord] = deque(maxlen=max_billing_records)
        self.completed = 0
        self.failed = 0
        self.retried = 0

    def now(self) -> float:
        return self._clock()

    def count_submit_request(self, op: str) -> None:
        with self._lock:
            self._submit_requests[op] = self._submit_requests.get(op, 0) + 1

    def create(self, job_input: dict[str, Any], *, execution_timeout_ms: int, ttl_ms: int, sync: bool) -> Job:
        now = self.now()
        job = Job(
            id=f"local-{uuid.uuid4()}",
            input=job_input,
            execution_timeout_ms=execution_timeout_ms,
            ttl_ms=ttl_ms,
            sync=sync,
            submitted_at=now,
            queued_at=now,
        )
        with self._lock:
            self._jobs[job.id] = job
            self._jobs_created += 1
            if self._keep_inputs:
                self._job_inputs[job.id] = job_input
        return job

    def get(self, job_id: str) -> Job | None:
        self.sweep()
        return self._jobs.get(job_id)

    def jobs(self) -> list[Job]:
        return list(self._jobs.values())

    def count(self, state: JobState) -> int:
        return sum(1 for job in self._jobs.values() if job.status is state)

    def start(self, job: Job, worker_id: str) -> None:
        now = self.now()
        job.status = JobState.IN_PROGRESS
        job.started_at = now
        job.delay_ms = round((now - job.queued_at) * 1000)
        job.worker_id = worker_id

    def finish(
        self, job: Job, status: JobState, *, output: Any = _NO_OUTPUT, error: str | None = None
    ) -> None:
        """Move a job to a final state once, billing the time it ran; later calls are ignored."""
        if job.status.is_final:
            return
        now = self.now()
        # Rounded up so a job that ran at all bills at least its first second, as RunPod does.
        ran_ms = math.ceil((now - job.started_at) * 1000) if job.started_at is not None else 0
        job.status = status
        job.finished_at = now
        job.execution_ms = ran_ms
        job.output = output
        job.error = error
        if status is JobState.COMPLETED:
            self.completed += 1
        elif status in (JobState.FAILED, JobState.TIMED_OUT):
            self.failed += 1
        record = BillingRecord(job.id, status, ran_ms, billed_seconds(ran_ms))
        with self._lock:
            self._billing.append(record)
        if status is not JobState.COMPLETED:
            # Tell a still-running handler to stop: nothing after this moment is billed.
            job.cancel_flag.set()
        if status in (JobState.COMPLETED, JobState.CANCELLED):
            # Only /retry (of FAILED or TIMED_OUT jobs) needs the input again; an img2img input is megabytes.
            job.input = {}
        job.stopped.set()
        job.done.set()

    def requeue(self, job: Job) -> None:
        """Put a FAILED or TIMED_OUT job back in the queue (/retry), keeping its id and TTL."""
        job.status = JobState.IN_QUEUE
        job.queued_at = self.now()
        job.started_at = job.finished_at = None
        job.delay_ms = job.execution_ms = None
        job.output = _NO_OUTPUT
        job.error = job.worker_id = None
        job.retries += 1
        job.cancel_flag = threading.Event()
        job.stopped = asyncio.Event()
        job.done = asyncio.Event()
        self.retried += 1

    def remove(self, job: Job) -> None:
        with self._lock:
            self._jobs.pop(job.id, None)

    def sweep(self) -> None:
        """Drop finished jobs past their retention and end jobs past their TTL (counted from submission)."""
        now = self.now()
        for job in list(self._jobs.values()):
            if now - job.submitted_at >= job.ttl_ms / 1000:
                if not job.status.is_final:
                    self.finish(job, JobState.TIMED_OUT, error="job TTL expired")
                self.remove(job)
            elif job.finished_at is not None:
                retention = self._runsync_retention_s if job.sync else self._retention_s
                if now - job.finished_at >= retention:
                    self.remove(job)

    def bookkeeping(self) -> Bookkeeping:
        with self._lock:
            return Bookkeeping(
                submit_requests=dict(self._submit_requests),
                jobs_created=self._jobs_created,
                job_inputs=dict(self._job_inputs),
                billing=tuple(self._billing),
            )
