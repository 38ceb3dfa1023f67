"""The local RunPod-compatible HTTP API: the serverless endpoints under /v2/{endpoint_id}/, faithfully enough
that a client differs only in its base URL, plus /_local/ endpoints for bookkeeping (always) and fault injection
(only with ``fault_injection``), both behind the same key as /v2/."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from turbodraft.providers.handlers import Handler, echo_handler
from turbodraft.providers.runpod_local.config import LocalRunPodConfig
from turbodraft.providers.runpod_local.faults import Fault, FaultKind, FaultPlan
from turbodraft.providers.runpod_local.jobs import Job, JobStore
from turbodraft.providers.runpod_local.transport import reset_connection
from turbodraft.providers.runpod_local.workers import WorkerPool
from turbodraft.providers.runpod_types import JobState

_MIN_WAIT_MS, _MAX_WAIT_MS = 1000, 300_000


class BadRequest(Exception):
    def __init__(self, message: str, status_code: int = 400) -> None:
        super().__init__(message)
        self.status_code = status_code


def _error(message: str, status_code: int) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status_code)


def _operation(path: str) -> str | None:
    parts = path.strip("/").split("/")
    return parts[2] if len(parts) >= 3 and parts[0] == "v2" else None


class LocalRunPod:
    """One local endpoint: its jobs, workers, faults and the ASGI app serving them (``.app``)."""

    def __init__(
        self,
        config: LocalRunPodConfig | None = None,
        handler: Handler = echo_handler,
        faults: FaultPlan | None = None,
    ) -> None:
        self.config = config or LocalRunPodConfig()
        self.handler = handler
        self.faults = faults or FaultPlan()
        self.store = JobStore(
            result_retention_s=self.config.result_retention_s,
            runsync_retention_s=self.config.runsync_retention_s,
            keep_inputs=self.config.keep_inputs,
            max_billing_records=self.config.max_billing_records,
        )
        self._pool: WorkerPool | None = None
        routes = [
            Route("/v2/{endpoint_id}/run", self._run, methods=["POST"]),
            Route("/v2/{endpoint_id}/runsync", self._runsync, methods=["POST"]),
            Route("/v2/{endpoint_id}/status/{job_id}", self._status, methods=["GET", "POST"]),
            Route("/v2/{endpoint_id}/cancel/{job_id}", self._cancel, methods=["POST"]),
            Route("/v2/{endpoint_id}/retry/{job_id}", self._retry, methods=["POST"]),
            Route("/v2/{endpoint_id}/purge-queue", self._purge_queue, methods=["POST"]),
            Route("/v2/{endpoint_id}/health", self._health, methods=["GET"]),
            Route("/_local/stats", self._stats, methods=["GET"]),
        ]
        if self.config.fault_injection:
            routes += [
                Route("/_local/faults", self._add_fault, methods=["POST"]),
                Route("/_local/faults", self._clear_faults, methods=["DELETE"]),
            ]
        inner = Starlette(routes=routes, lifespan=self._lifespan)
        self.app: ASGIApp = _FaultMiddleware(_AuthMiddleware(inner, self.config.api_key), self.faults)

    @property
    def pool(self) -> WorkerPool:
        if self._pool is None:
            raise RuntimeError("the local RunPod server is not running")
        return self._pool

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self._pool = WorkerPool(self.store, self.handler, self.config, self.faults)
        self._pool.start()
        sweeper = asyncio.create_task(self._sweep_forever())
        try:
            yield
        finally:
            sweeper.cancel()
            await self._pool.stop()

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.config.sweep_interval_s)
            self.store.sweep()

    async def _submit(self, request: Request, *, sync: bool) -> Job:
        self.store.count_submit_request("runsync" if sync else "run")
        limit = self.config.max_runsync_bytes if sync else self.config.max_run_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise BadRequest(f"payload over {limit} bytes", 413)
        body = await request.body()
        if len(body) > limit:
            raise BadRequest(f"payload over {limit} bytes", 413)
        try:
            payload = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BadRequest(f"body is not JSON: {exc}") from exc
        if not isinstance(payload, dict) or not isinstance(payload.get("input"), dict):
            raise BadRequest("body must be an object with an 'input' object")
        execution_timeout_ms, ttl_ms = self._policy(payload.get("policy"))
        job = self.store.create(
            payload["input"], execution_timeout_ms=execution_timeout_ms, ttl_ms=ttl_ms, sync=sync
        )
        self.pool.enqueue(job)
        return job

    def _policy(self, policy: object) -> tuple[int, int]:
        if policy is None:
            policy = {}
        if not isinstance(policy, dict):
            raise BadRequest("'policy' must be an object")
        timeout = policy.get("executionTimeout", self.config.default_execution_timeout_ms)
        ttl = policy.get("ttl", self.config.default_ttl_ms)
        for name, value in (("executionTimeout", timeout), ("ttl", ttl)):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise BadRequest(f"policy.{name} must be a positive integer (ms)")
        if timeout < self.config.min_execution_timeout_ms:
            raise BadRequest(
                f"policy.executionTimeout must be at least {self.config.min_execution_timeout_ms} ms"
            )
        return timeout, ttl

    async def _run(self, request: Request) -> Response:
        try:
            job = await self._submit(request, sync=False)
        except BadRequest as exc:
            return _error(str(exc), exc.status_code)
        return JSONResponse({"id": job.id, "status": job.status.value})

    async def _runsync(self, request: Request) -> Response:
        wait_ms = self.config.runsync_default_wait_ms
        if "wait" in request.query_params:
            try:
                wait_ms = int(request.query_params["wait"])
            except ValueError:
                return _error("wait must be an integer number of milliseconds", 400)
            wait_ms = min(max(wait_ms, _MIN_WAIT_MS), _MAX_WAIT_MS)
        try:
            job = await self._submit(request, sync=True)
        except BadRequest as exc:
            return _error(str(exc), exc.status_code)
        # An unfinished job is answered with its current state; the caller then polls /status like after /run.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(job.done.wait(), wait_ms / 1000)
        return JSONResponse(job.to_json())

    def _job(self, request: Request) -> Job | None:
        return self.store.get(request.path_params["job_id"])

    async def _status(self, request: Request) -> Response:
        job = self._job(request)
        if job is None:
            return _error("job not found", 404)
        return JSONResponse(job.to_json())

    async def _cancel(self, request: Request) -> Response:
        job = self._job(request)
        if job is None:
            return _error("job not found", 404)
        if not job.status.is_final:
            self.pool.cancel(job)
        return JSONResponse({"id": job.id, "status": job.status.value})

    async def _retry(self, request: Request) -> Response:
        job = self._job(request)
        if job is None:
            return _error("job not found", 404)
        if job.status not in (JobState.FAILED, JobState.TIMED_OUT):
            return _error(f"only FAILED or TIMED_OUT jobs can be retried, not {job.status.value}", 400)
        self.store.requeue(job)
        self.pool.enqueue(job)
        return JSONResponse({"id": job.id, "status": job.status.value})

    async def _purge_queue(self, request: Request) -> Response:
        queued = [job for job in self.store.jobs() if job.status is JobState.IN_QUEUE]
        for job in queued:
            self.store.remove(job)
        return JSONResponse({"removed": len(queued), "status": "completed"})

    async def _health(self, request: Request) -> Response:
        self.store.sweep()
        return JSONResponse(
            {
                "jobs": {
                    "completed": self.store.completed,
                    "failed": self.store.failed,
                    "inProgress": self.store.count(JobState.IN_PROGRESS),
                    "inQueue": self.store.count(JobState.IN_QUEUE),
                    "retried": self.store.retried,
                },
                "workers": {"idle": self.pool.idle, "running": self.pool.running},
            }
        )

    async def _stats(self, request: Request) -> Response:
        books = self.store.bookkeeping()
        return JSONResponse(
            {
                "submit_requests": books.submit_requests,
                "jobs_created": books.jobs_created,
                "billing": [
                    {
                        "job_id": record.job_id,
                        "status": record.status.value,
                        "execution_ms": record.execution_ms,
                        "billed_seconds": record.billed_seconds,
                    }
                    for record in books.billing
                ],
            }
        )

    async def _add_fault(self, request: Request) -> Response:
        # JSON only: a form or text/plain POST is what a web page can send without a CORS preflight.
        if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
            return _error("send the fault as application/json", 415)
        try:
            body: Any = await request.json()
            fault = Fault(
                kind=FaultKind(body["kind"]),
                ops=frozenset(body.get("ops", [])),
                first=int(body.get("first", 1)),
                count=None if body.get("count", 1) is None else int(body.get("count", 1)),
                delay_s=float(body.get("delay_s", 0.0)),
            )
        except (ValueError, KeyError, TypeError) as exc:
            return _error(f"bad fault: {exc!r}", 400)
        self.faults.add(fault)
        return JSONResponse({"faults": len(self.faults.faults)})

    async def _clear_faults(self, request: Request) -> Response:
        self.faults.clear()
        return JSONResponse({"faults": 0})


class _AuthMiddleware:
    """RunPod's auth: ``Authorization: Bearer <key>``, or the bare key as some of its docs show."""

    def __init__(self, app: ASGIApp, api_key: str | None) -> None:
        self._app = app
        self._key = api_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self._key is not None and scope["path"].startswith(("/v2/", "/_local/")):
            header = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1").strip()
            token = header[7:].strip() if header.lower().startswith("bearer ") else header
            if token != self._key:
                await _error("Unauthorized", 401)(scope, receive, send)
                return
        await self._app(scope, receive, send)


class _FaultMiddleware:
    """Outermost layer, so injected faults look like the network or RunPod's front end misbehaving."""

    def __init__(self, app: ASGIApp, faults: FaultPlan) -> None:
        self._app = app
        self._faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        op = _operation(scope["path"]) if scope["type"] == "http" else None
        if op is None:
            await self._app(scope, receive, send)
            return
        reset_after = False
        for fault in self._faults.for_request(op):
            if fault.kind is FaultKind.LATENCY:
                await asyncio.sleep(fault.delay_s)
            elif fault.kind is FaultKind.HTTP_429:
                retry_after = str(max(1, math.ceil(fault.delay_s)))
                response = JSONResponse({"error": "rate limited"}, 429, headers={"Retry-After": retry_after})
                await response(scope, receive, send)
                return
            elif fault.kind is FaultKind.HTTP_500:
                await _error("injected internal error", 500)(scope, receive, send)
                return
            elif fault.kind is FaultKind.RESET:
                if await reset_connection(scope, receive):
                    return
            elif fault.kind is FaultKind.RESET_AFTER:
                reset_after = True
        if not reset_after:
            await self._app(scope, receive, send)
            return

        async def swallow(message: Message) -> None:
            pass

        await self._app(scope, receive, swallow)
        await reset_connection(scope, receive)
