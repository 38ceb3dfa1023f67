"""Async client for RunPod Serverless endpoints: submit, poll, cancel, health, and one normalised result.

Retries and duplicates. Polling /status, /cancel and /health is idempotent, so those retry on 429, 5xx and any
transport error, with exponential backoff and jitter (honouring Retry-After). Submitting (/run, /runsync) is
not: a job whose response was lost still runs and is billed, and RunPod has no way to look a job up without
its id. So a submission is retried only when the request provably created nothing: a connection that
never opened (connect error/timeout, pool timeout) or an explicit refusal (429, 500, 503 by default). A
failure after the request may have reached RunPod (reset, read timeout, 502/504, garbled 200) raises
:class:`AmbiguousSubmissionError` instead of risking a second bill.

Billing. RunPod bills worker seconds, rounded up; a worker also bills its boot and idle time, which no job
reports. The result carries the per-job share the API exposes: ``billed_seconds`` is executionTime rounded
up to whole seconds (0 when the job never ran) and ``cost_usd`` is that times the endpoint's $/s rate. Cold
start time is reported (``delay_ms``, which also holds queueing) but not billed here.

Final states come from /status only. A /cancel reply says nothing of the output or the seconds billed, so after a
cancel the client reads /status; when RunPod stops answering, the result is *unsettled* (``settled`` is False:
the job may still run, or have completed and billed) and :meth:`RunPodClient.settle` asks again later.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

import httpx

from turbodraft.providers.outputs import (
    DEFAULT_MAX_IMAGE_BYTES,
    NormalizedOutput,
    OutputError,
    normalize_output,
)
from turbodraft.providers.runpod_types import JobState, billed_seconds

DEFAULT_BASE_URL = "https://api.runpod.ai/v2"
_MIN_SYNC_WAIT_MS, _MAX_SYNC_WAIT_MS = 1000, 300_000
_NO_OUTPUT: Any = object()


class RunPodError(Exception):
    """Base of the client's errors."""


class RunPodAuthError(RunPodError):
    """The API key was refused (HTTP 401/403)."""


class RunPodRequestError(RunPodError):
    """RunPod refused the request itself (a 4xx other than 401/403/404/429); retrying would not help."""

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


class JobNotFoundError(RunPodError):
    """The job id is unknown: never created, purged, past its TTL, or its result retention ran out."""


class RunPodUnavailableError(RunPodError):
    """Retries ran out (429, 5xx or transport errors) or the job's deadline came first."""


class AmbiguousSubmissionError(RunPodError):
    """A submission failed after it may have reached RunPod: a job may exist and run, so it is not re-sent."""


class ErrorKind(StrEnum):
    SUBMIT_FAILED = "submit_failed"
    AMBIGUOUS_SUBMISSION = "ambiguous_submission"
    JOB_FAILED = "job_failed"
    JOB_TIMED_OUT = "job_timed_out"
    JOB_CANCELLED = "job_cancelled"
    #: The client's own per-job timeout came first; the job was cancelled.
    CLIENT_TIMEOUT = "client_timeout"
    #: The caller superseded or aborted the job; it was cancelled.
    ABORTED = "aborted"
    JOB_LOST = "job_lost"
    STATUS_FAILED = "status_failed"
    BAD_OUTPUT = "bad_output"


@dataclass(frozen=True)
class RetryPolicy:
    """How each HTTP request is retried: ``max_attempts`` tries in all, delays doubling from the base."""

    max_attempts: int = 5
    base_delay_s: float = 0.25
    max_delay_s: float = 8.0
    #: Each delay is drawn from [delay * (1 - jitter), delay], spreading clients that failed together.
    jitter: float = 0.5
    retry_statuses: frozenset[int] = frozenset({429, 500, 502, 503, 504})
    #: Statuses that mean a submission was refused before any job existed (502/504 may come from a proxy
    #: after RunPod accepted the job, so they are not here).
    submit_retry_statuses: frozenset[int] = frozenset({429, 500, 503})


@dataclass(frozen=True)
class PollPolicy:
    """Delays between /status polls: from ``initial_s``, times ``multiplier`` each poll, up to ``max_s``."""

    initial_s: float = 0.5
    max_s: float = 5.0
    multiplier: float = 1.5
    jitter: float = 0.25


@dataclass(frozen=True)
class JobPolicy:
    """RunPod's per-job ``policy``: execution timeout and TTL (from submission) in milliseconds."""

    execution_timeout_ms: int | None = None
    ttl_ms: int | None = None
    low_priority: bool | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if self.execution_timeout_ms is not None:
            body["executionTimeout"] = self.execution_timeout_ms
        if self.ttl_ms is not None:
            body["ttl"] = self.ttl_ms
        if self.low_priority is not None:
            body["lowPriority"] = self.low_priority
        return body


@dataclass(frozen=True)
class JobStatus:
    """One /run, /runsync, /status or /cancel answer."""

    id: str
    state: JobState
    delay_ms: int | None = None
    execution_ms: int | None = None
    output: Any = _NO_OUTPUT
    error: str | None = None

    @property
    def has_output(self) -> bool:
        return self.output is not _NO_OUTPUT

    @classmethod
    def parse(cls, body: object) -> JobStatus:
        if not isinstance(body, dict) or not isinstance(body.get("id"), str) or not body["id"]:
            raise ValueError("a job status needs an 'id' string")
        state = JobState.parse(body.get("status"))
        error = body.get("error")
        return cls(
            id=body["id"],
            state=state,
            delay_ms=_optional_ms(body, "delayTime"),
            execution_ms=_optional_ms(body, "executionTime"),
            output=body.get("output", _NO_OUTPUT),
            error=None if error is None else error if isinstance(error, str) else repr(error),
        )


def _optional_ms(body: dict[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{key} is not a non-negative number")
    return math.ceil(value)


@dataclass(frozen=True)
class EndpointHealth:
    """GET /health: job counts and worker counts, feeding the routing policy's provider health."""

    completed: int
    failed: int
    in_progress: int
    in_queue: int
    retried: int
    workers_idle: int
    workers_running: int

    @classmethod
    def parse(cls, body: object) -> EndpointHealth:
        if not isinstance(body, dict):
            raise ValueError("health is not an object")
        jobs, workers = body.get("jobs"), body.get("workers")
        if not isinstance(jobs, dict) or not isinstance(workers, dict):
            raise ValueError("health needs 'jobs' and 'workers' objects")

        def count(source: dict[str, Any], key: str) -> int:
            value = source.get(key, 0)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"health count {key} is not a non-negative integer")
            return value

        return cls(
            completed=count(jobs, "completed"),
            failed=count(jobs, "failed"),
            in_progress=count(jobs, "inProgress"),
            in_queue=count(jobs, "inQueue"),
            retried=count(jobs, "retried"),
            workers_idle=count(workers, "idle"),
            workers_running=count(workers, "running"),
        )


@dataclass(frozen=True)
class RunPodResult:
    """How one job ended, with what the ledger needs.

    ``status`` is the job's last known RunPod state: None when no job is known to exist (submission failed or
    was ambiguous), and not final only when RunPod stopped answering so the final state is unknown.
    ``ok`` means COMPLETED with at least one decoded image in ``images``.
    """

    job_id: str | None
    status: JobState | None
    images: NormalizedOutput | None
    raw_output: Any
    error: str | None
    error_kind: ErrorKind | None
    delay_ms: int | None
    execution_ms: int | None
    billed_seconds: int
    cost_usd: Decimal
    #: POSTs of /run or /runsync made for this job (1 unless a submission was provably refused).
    attempts: int
    #: Every HTTP request made for this job (submissions, polls, cancels, retries of those).
    requests: int
    elapsed_s: float

    @property
    def ok(self) -> bool:
        return self.status is JobState.COMPLETED and self.images is not None and self.error_kind is None

    @property
    def settled(self) -> bool:
        """False while RunPod has not told the job's final state: it may still run, or have run and billed."""
        if self.status is None or self.status.is_final:
            return True
        return self.error_kind is ErrorKind.JOB_LOST


@dataclass
class _Trace:
    started: float = field(default_factory=time.monotonic)
    attempts: int = 0
    requests: int = 0


class RunPodClient:
    """One RunPod Serverless endpoint over the caller's ``httpx.AsyncClient`` (shared pool, loopback tests).

    The key is sent per request, never set on the shared client, so fetching result URLs (S3) cannot leak it.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        endpoint_id: str,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        rate_usd_per_s: Decimal | str | float = Decimal("0"),
        retry: RetryPolicy | None = None,
        poll: PollPolicy | None = None,
        request_timeout_s: float = 30.0,
        cancel_timeout_s: float = 10.0,
        max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES,
        rng: random.Random | None = None,
    ) -> None:
        if not endpoint_id or "/" in endpoint_id:
            raise ValueError("endpoint_id must be a non-empty id without '/'")
        self._http = http
        self._endpoint_url = f"{base_url.rstrip('/')}/{endpoint_id}"
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self.rate_usd_per_s = Decimal(str(rate_usd_per_s))
        self._retry = retry or RetryPolicy()
        self._poll = poll or PollPolicy()
        self._request_timeout_s = request_timeout_s
        self._cancel_timeout_s = cancel_timeout_s
        self._max_image_bytes = max_image_bytes
        self._rng = rng or random.Random()

    # Low-level operations: each raises RunPodError subclasses.

    async def submit(
        self,
        job_input: dict[str, Any],
        *,
        policy: JobPolicy | None = None,
        sync_wait_ms: int | None = None,
        _trace: _Trace | None = None,
    ) -> JobStatus:
        """POST /run (or /runsync?wait= when ``sync_wait_ms`` is given); never sends the same job twice."""
        body: dict[str, Any] = {"input": job_input}
        if policy is not None and (policy_json := policy.to_json()):
            body["policy"] = policy_json
        if sync_wait_ms is None:
            op, params, timeout_s = "run", None, self._request_timeout_s
        else:
            wait_ms = min(max(sync_wait_ms, _MIN_SYNC_WAIT_MS), _MAX_SYNC_WAIT_MS)
            op, params, timeout_s = (
                "runsync",
                {"wait": str(wait_ms)},
                wait_ms / 1000 + self._request_timeout_s,
            )
        response = await self._request(
            "POST", op, json=body, params=params, submit=True, timeout_s=timeout_s, trace=_trace
        )
        try:
            return JobStatus.parse(response)
        except ValueError as exc:
            raise AmbiguousSubmissionError(f"/{op} answered something that is not a job: {exc}") from exc

    async def status(
        self, job_id: str, *, deadline: float | None = None, _trace: _Trace | None = None
    ) -> JobStatus:
        body = await self._request("GET", f"status/{job_id}", deadline=deadline, trace=_trace)
        return self._parse_status(body, "status")

    async def cancel(
        self, job_id: str, *, deadline: float | None = None, _trace: _Trace | None = None
    ) -> JobStatus:
        body = await self._request("POST", f"cancel/{job_id}", deadline=deadline, trace=_trace)
        return self._parse_status(body, "cancel")

    async def health(self, *, deadline: float | None = None) -> EndpointHealth:
        body = await self._request("GET", "health", deadline=deadline)
        try:
            return EndpointHealth.parse(body)
        except ValueError as exc:
            raise RunPodUnavailableError(f"/health answered an unexpected body: {exc}") from exc

    @staticmethod
    def _parse_status(body: object, op: str) -> JobStatus:
        try:
            return JobStatus.parse(body)
        except ValueError as exc:
            raise RunPodUnavailableError(f"/{op} answered something that is not a job status: {exc}") from exc

    # The whole job.

    def default_policy(self, timeout_s: float) -> JobPolicy:
        """Server-side limits matching the client's timeout: if this client dies, RunPod still stops the job
        (executionTimeout) and drops it from the queue (ttl) instead of holding it for the default 24 h."""
        timeout_ms = math.ceil(timeout_s * 1000)
        return JobPolicy(execution_timeout_ms=max(5000, timeout_ms), ttl_ms=max(10_000, timeout_ms + 30_000))

    async def run(
        self,
        job_input: dict[str, Any],
        *,
        timeout_s: float = 300.0,
        policy: JobPolicy | None = None,
        sync_wait_ms: int | None = None,
        abort: asyncio.Event | None = None,
        on_submitted: Callable[[str], Awaitable[None]] | None = None,
    ) -> RunPodResult:
        """Submit, follow to a final state within ``timeout_s``, and normalise the output. Never raises for
        the job's own failures: they come back as a result with ``error_kind`` set.

        ``abort`` (set when the user supersedes the request) cancels the job and returns its CANCELLED result,
        with the execution time RunPod reports after the cancel. ``on_submitted`` is awaited with RunPod's job id
        as soon as the submission is answered (so a caller can record it before the job ends). Cancelling the
        calling task also cancels the job on RunPod before the CancelledError propagates.
        """
        trace = _Trace()
        deadline = trace.started + timeout_s
        try:
            if sync_wait_ms is not None:
                sync_wait_ms = min(sync_wait_ms, max(_MIN_SYNC_WAIT_MS, math.floor(timeout_s * 1000)))
            job = await self.submit(
                job_input,
                policy=policy or self.default_policy(timeout_s),
                sync_wait_ms=sync_wait_ms,
                _trace=trace,
            )
        except AmbiguousSubmissionError as exc:
            return self._result(trace, None, ErrorKind.AMBIGUOUS_SUBMISSION, str(exc))
        except RunPodError as exc:
            return self._result(trace, None, ErrorKind.SUBMIT_FAILED, str(exc))
        try:
            if on_submitted is not None:
                await on_submitted(job.id)
            final, kind, error = await self._follow(job, deadline, abort, trace)
        except asyncio.CancelledError:
            await asyncio.shield(self._cancel_quietly(job.id, trace))
            raise
        return await self._conclude(trace, final, kind, error)

    async def _follow(
        self, job: JobStatus, deadline: float, abort: asyncio.Event | None, trace: _Trace
    ) -> tuple[JobStatus, ErrorKind | None, str | None]:
        current = job
        delay = self._poll.initial_s
        while not current.state.is_final:
            if abort is not None and abort.is_set():
                return await self._stop(current, ErrorKind.ABORTED, "aborted by the caller", trace)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return await self._stop(current, ErrorKind.CLIENT_TIMEOUT, "client timeout reached", trace)
            pause = min(self._jittered(delay, self._poll.jitter), remaining)
            if abort is None:
                await asyncio.sleep(pause)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(abort.wait(), pause)
                if abort.is_set():
                    continue
            delay = min(delay * self._poll.multiplier, self._poll.max_s)
            if time.monotonic() >= deadline:
                continue
            try:
                current = await self.status(current.id, deadline=deadline, _trace=trace)
            except JobNotFoundError as exc:
                return (
                    current,
                    ErrorKind.JOB_LOST,
                    f"job {current.id} vanished ({exc}): TTL, purge or retention",
                )
            except RunPodUnavailableError:
                continue  # transient; keep polling until the deadline
            except RunPodError as exc:
                return current, ErrorKind.STATUS_FAILED, str(exc)
        return current, None, None

    async def _stop(
        self, current: JobStatus, kind: ErrorKind, reason: str, trace: _Trace
    ) -> tuple[JobStatus, ErrorKind | None, str | None]:
        """Cancel the job, then read its final state from /status: it may have completed meanwhile (a success
        then). The /cancel reply is never taken as the answer: it carries no output and no execution time."""
        cancelled = await self._cancel_quietly(current.id, trace)
        if cancelled is None:
            return current, kind, f"{reason}; the cancel was not confirmed, the job may still run"
        final = await self._final_status(current.id, time.monotonic() + self._cancel_timeout_s, trace)
        if final is None:
            return current, kind, f"{reason}; RunPod did not report the final state after the cancel"
        if final.state is JobState.COMPLETED:
            return final, None, None
        return final, kind, reason

    async def _final_status(self, job_id: str, deadline: float, trace: _Trace) -> JobStatus | None:
        """/status until it reports a final state, or None when the deadline comes first."""
        delay = self._poll.initial_s
        while True:
            try:
                answer = await self.status(job_id, deadline=deadline, _trace=trace)
            except JobNotFoundError:
                return None
            except RunPodError:
                answer = None
            if answer is not None and answer.state.is_final:
                return answer
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            await asyncio.sleep(min(self._jittered(delay, self._poll.jitter), remaining))
            delay = min(delay * self._poll.multiplier, self._poll.max_s)

    async def settle(self, job_id: str, *, timeout_s: float, cancel: bool = True) -> RunPodResult:
        """The final state of a job known by id (one whose follower gave up, or whose gateway died).

        Asks /status; a job still queued or running is cancelled first when ``cancel`` (nobody is waiting for
        it any more). Unsettled again when RunPod does not answer within ``timeout_s``.
        """
        trace = _Trace()
        deadline = trace.started + timeout_s
        try:
            current = await self.status(job_id, deadline=deadline, _trace=trace)
        except JobNotFoundError as exc:
            return self._lost(trace, job_id, f"job {job_id} is unknown to RunPod ({exc}): TTL, purge or retention")
        except RunPodError as exc:
            unknown = JobStatus(id=job_id, state=JobState.IN_PROGRESS)
            return self._result(trace, unknown, ErrorKind.STATUS_FAILED, f"no final state from RunPod: {exc}")
        if current.state.is_final:
            return await self._conclude(trace, current, None, None)
        if cancel:
            final, kind, error = await self._stop(current, ErrorKind.ABORTED, "settled by cancelling", trace)
            return await self._conclude(trace, final, kind, error)
        final_status = await self._final_status(job_id, deadline, trace)
        if final_status is None:
            return self._result(trace, current, ErrorKind.STATUS_FAILED, "RunPod did not report a final state")
        return await self._conclude(trace, final_status, None, None)

    def _lost(self, trace: _Trace, job_id: str, error: str) -> RunPodResult:
        return RunPodResult(
            job_id=job_id,
            status=None,
            images=None,
            raw_output=None,
            error=error,
            error_kind=ErrorKind.JOB_LOST,
            delay_ms=None,
            execution_ms=None,
            billed_seconds=0,
            cost_usd=Decimal("0"),
            attempts=trace.attempts,
            requests=trace.requests,
            elapsed_s=time.monotonic() - trace.started,
        )

    async def _cancel_quietly(self, job_id: str, trace: _Trace) -> JobStatus | None:
        deadline = time.monotonic() + self._cancel_timeout_s
        try:
            return await self.cancel(job_id, deadline=deadline, _trace=trace)
        except RunPodError:
            return None

    async def _conclude(
        self, trace: _Trace, final: JobStatus, kind: ErrorKind | None, error: str | None
    ) -> RunPodResult:
        images = None
        if kind is None:
            if final.state is JobState.COMPLETED:
                try:
                    images = await normalize_output(final.output, self._http, max_bytes=self._max_image_bytes)
                except OutputError as exc:
                    kind, error = ErrorKind.BAD_OUTPUT, f"{type(exc).__name__}: {exc}"
            else:
                kind = {
                    JobState.FAILED: ErrorKind.JOB_FAILED,
                    JobState.TIMED_OUT: ErrorKind.JOB_TIMED_OUT,
                    JobState.CANCELLED: ErrorKind.JOB_CANCELLED,
                }[final.state]
                error = final.error or f"the job ended {final.state.value}"
        return self._result(trace, final, kind, error, images)

    def _result(
        self,
        trace: _Trace,
        final: JobStatus | None,
        kind: ErrorKind | None,
        error: str | None,
        images: NormalizedOutput | None = None,
    ) -> RunPodResult:
        execution_ms = final.execution_ms if final else None
        billed = billed_seconds(execution_ms)
        return RunPodResult(
            job_id=final.id if final else None,
            status=final.state if final else None,
            images=images,
            raw_output=final.output if final and final.has_output else None,
            error=error,
            error_kind=kind,
            delay_ms=final.delay_ms if final else None,
            execution_ms=execution_ms,
            billed_seconds=billed,
            cost_usd=self.rate_usd_per_s * billed,
            attempts=trace.attempts,
            requests=trace.requests,
            elapsed_s=time.monotonic() - trace.started,
        )

    # HTTP with retries.

    def _jittered(self, delay: float, jitter: float) -> float:
        return self._rng.uniform(delay * (1 - jitter), delay)

    def _backoff(self, attempt: int, response: httpx.Response | None) -> float:
        delay = min(self._retry.base_delay_s * 2 ** (attempt - 1), self._retry.max_delay_s)
        delay = self._jittered(delay, self._retry.jitter)
        retry_after = response.headers.get("retry-after") if response is not None else None
        if retry_after is not None:
            with contextlib.suppress(ValueError):
                delay = max(delay, min(float(retry_after), self._retry.max_delay_s))
        return delay

    async def _request(
        self,
        method: str,
        op: str,
        *,
        json: Any = None,
        params: dict[str, str] | None = None,
        submit: bool = False,
        timeout_s: float | None = None,
        deadline: float | None = None,
        trace: _Trace | None = None,
    ) -> Any:
        trace = trace or _Trace()
        url = f"{self._endpoint_url}/{op}"
        name = "/" + op.split("/")[0]
        retry_statuses = self._retry.submit_retry_statuses if submit else self._retry.retry_statuses
        last_problem = "no attempt made"
        for attempt in range(1, self._retry.max_attempts + 1):
            timeout = timeout_s or self._request_timeout_s
            if deadline is not None:
                timeout = min(timeout, max(deadline - time.monotonic(), 0.001))
            response: httpx.Response | None = None
            trace.requests += 1
            if submit:
                trace.attempts += 1
            try:
                response = await self._http.request(
                    method, url, json=json, params=params, headers=self._headers, timeout=timeout
                )
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                last_problem = f"{name}: {type(exc).__name__}: {exc}"  # never sent: safe to retry
            except httpx.TransportError as exc:
                if submit:
                    raise AmbiguousSubmissionError(
                        f"{name} failed after the request was sent ({type(exc).__name__}: {exc}); "
                        "a job may have been created, so it was not submitted again"
                    ) from exc
                last_problem = f"{name}: {type(exc).__name__}: {exc}"
            else:
                code = response.status_code
                if code in (401, 403):
                    raise RunPodAuthError(f"{name}: HTTP {code}: the API key was refused")
                if code == 404 and not submit and op != "health":
                    raise JobNotFoundError(f"{name}: HTTP 404")
                if code < 300:
                    try:
                        return response.json()
                    except ValueError as exc:
                        if submit:
                            raise AmbiguousSubmissionError(f"{name} answered {code} without JSON") from exc
                        last_problem = f"{name}: HTTP {code} without JSON"
                elif code in retry_statuses:
                    last_problem = f"{name}: HTTP {code}"
                elif submit and code >= 500:
                    raise AmbiguousSubmissionError(
                        f"{name}: HTTP {code} may come after the job was accepted; it was not submitted again"
                    )
                elif code >= 500:
                    last_problem = f"{name}: HTTP {code}"
                    if code not in self._retry.retry_statuses:
                        break
                else:
                    raise RunPodRequestError(f"{name}: HTTP {code}: {response.text[:300]}", code)
            if attempt == self._retry.max_attempts:
                break
            pause = self._backoff(attempt, response)
            if deadline is not None and time.monotonic() + pause >= deadline:
                raise RunPodUnavailableError(f"{last_problem}; no time left before the deadline")
            await asyncio.sleep(pause)
        raise RunPodUnavailableError(f"{last_problem} (after {self._retry.max_attempts} attempts)")
