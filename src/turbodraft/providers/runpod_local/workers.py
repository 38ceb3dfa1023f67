"""The worker pool: asyncio tasks that take queued jobs and run the handler in a bounded thread pool."""

from __future__ import annotations

import asyncio
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from turbodraft.providers.handlers import Handler, JobCancelledError
from turbodraft.providers.runpod_local.config import LocalRunPodConfig
from turbodraft.providers.runpod_local.faults import MALFORMED_OUTPUT, Fault, FaultKind, FaultPlan
from turbodraft.providers.runpod_local.jobs import Job, JobStore
from turbodraft.providers.runpod_types import JobState

log = logging.getLogger(__name__)


@dataclass
class _Worker:
    id: str
    running: bool = False
    #: When it last finished a job; None until its first, so the first job pays the cold start.
    last_active: float | None = None


def _hang_until_cancelled(job_input: dict[str, Any], cancelled: Any) -> object:
    cancelled.wait()
    raise JobCancelledError("stopped by its timeout")


class WorkerPool:
    def __init__(
        self, store: JobStore, handler: Handler, config: LocalRunPodConfig, faults: FaultPlan
    ) -> None:
        self._store = store
        self._handler = handler
        self._config = config
        self._faults = faults
        self._queue: asyncio.Queue[Job] = asyncio.Queue()
        self._workers = [_Worker(id=f"local-worker-{index}") for index in range(config.workers)]
        self._executor = ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="runpod-local")
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def running(self) -> int:
        return sum(1 for worker in self._workers if worker.running)

    @property
    def idle(self) -> int:
        return len(self._workers) - self.running

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._work(worker)) for worker in self._workers]

    async def stop(self) -> None:
        for job in self._store.jobs():
            job.cancel_flag.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        # Handler threads see their flags; do not block shutdown on one that ignores it.
        self._executor.shutdown(wait=False, cancel_futures=True)

    def enqueue(self, job: Job) -> None:
        self._queue.put_nowait(job)

    def cancel(self, job: Job) -> None:
        """End a queued or running job CANCELLED now; a running handler sees its flag and stops."""
        self._store.finish(job, JobState.CANCELLED)

    async def _work(self, worker: _Worker) -> None:
        while True:
            job = await self._queue.get()
            # Cancelled, purged or expired while it waited: nothing to run.
            if job.status is not JobState.IN_QUEUE or self._store.get(job.id) is not job:
                continue
            worker.running = True
            try:
                await self._cold_start(worker)
                if job.status is JobState.IN_QUEUE and self._store.get(job.id) is job:
                    await self._execute(job, worker)
            except Exception:  # a bug here must not kill the worker and strand the queue
                log.exception("worker %s failed on job %s", worker.id, job.id)
                self._store.finish(job, JobState.FAILED, error="local worker error")
            finally:
                worker.running = False
                worker.last_active = self._store.now()

    async def _cold_start(self, worker: _Worker) -> None:
        idle_for = None if worker.last_active is None else self._store.now() - worker.last_active
        if self._config.cold_start_s and (idle_for is None or idle_for >= self._config.idle_timeout_s):
            await asyncio.sleep(self._config.cold_start_s)

    async def _execute(self, job: Job, worker: _Worker) -> None:
        fault = self._faults.for_execution()
        handler = _hang_until_cancelled if fault and fault.kind is FaultKind.TIMED_OUT else self._handler
        timeout_s = job.execution_timeout_ms / 1000
        if fault and fault.kind is FaultKind.TIMED_OUT:
            timeout_s = min(timeout_s, fault.delay_s)
        self._store.start(job, worker.id)
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, handler, job.input, job.cancel_flag)
        stopped = asyncio.ensure_future(job.stopped.wait())
        waiters: set[asyncio.Future[Any]] = {future, stopped}
        try:
            done, _ = await asyncio.wait(waiters, timeout=timeout_s, return_when="FIRST_COMPLETED")
        finally:
            stopped.cancel()
        if future in done:
            self._record_result(job, future, fault)
        elif not job.status.is_final:
            self._store.finish(
                job, JobState.TIMED_OUT, error=f"execution timeout of {timeout_s:g} s exceeded"
            )
        # The slot stays taken until the handler thread returns, so at most `workers` handlers ever run.
        await asyncio.wait({future})
        if not future.cancelled():
            future.exception()  # retrieved so asyncio does not log it as never retrieved

    def _record_result(self, job: Job, future: asyncio.Future[object], fault: Fault | None) -> None:
        if job.status.is_final:
            return
        exc = future.exception()
        if isinstance(exc, JobCancelledError):
            self._store.finish(job, JobState.CANCELLED, error=str(exc))
            return
        if fault and fault.kind is FaultKind.FAILED:
            self._store.finish(job, JobState.FAILED, error="injected failure")
            return
        if exc is not None:
            self._store.finish(job, JobState.FAILED, error=f"{type(exc).__name__}: {exc}")
            return
        output = MALFORMED_OUTPUT if fault and fault.kind is FaultKind.MALFORMED_OUTPUT else future.result()
        # The runpod SDK turns a returned {"error": ...} into a FAILED job; so does RunPod, so do we.
        if isinstance(output, dict) and isinstance(output.get("error"), str):
            self._store.finish(job, JobState.FAILED, error=output["error"])
            return
        try:
            json.dumps(output)
        except (TypeError, ValueError) as err:
            self._store.finish(job, JobState.FAILED, error=f"output is not JSON-serialisable: {err}")
            return
        self._store.finish(job, JobState.COMPLETED, output=output)
