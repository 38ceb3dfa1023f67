"""Reconciliation: settle the jobs whose gateway died, so no money stays reserved and no billed second unrecorded.

A live ledger row (queued or running) names the gateway instance running it and a lease that instance renews
(LeaseKeeper). A row whose owner is not alive (instance.py: lease lapsed, or on this host its process gone) is
an orphan: on start and every `job_lease_s`, a gateway claims each orphan (one conditional UPDATE, so two
gateways never settle the same row), then

- a RunPod attempt with RunPod's job id is asked of RunPod (cancelled first when still running: nobody waits for
  it any more) and recorded as RunPod reports it: its state, its execution time rounded up to whole seconds at
  the row's rate, and its image when it completed within RunPod's result retention;
- anything else failed, stating that the gateway running it stopped.

Either way the row leaves queued/running, which releases its reservation. When RunPod does not answer, the row is
released again (its reservation held: the money may be spent) and the next pass asks again, until RunPod's
result retention has passed, when it is failed with its cost unknown (and logged as an error).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from turbodraft.gateway.instance import Instance
from turbodraft.gateway.jobs import as_png
from turbodraft.ledger import GenerationRow, JobStatus, Ledger
from turbodraft.pipeline.images import write_atomic
from turbodraft.providers.runpod_client import ErrorKind, RunPodClient, RunPodResult
from turbodraft.providers.runpod_types import JobState
from turbodraft.routing import Target

log = logging.getLogger(__name__)

#: How long one RunPod question may take during a pass.
SETTLE_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Settled:
    generation_id: str
    status: JobStatus
    billed_seconds: int


class Reconciler:
    def __init__(
        self,
        ledger: Ledger,
        instance: Instance,
        *,
        runpod: RunPodClient | None,
        runpod_endpoint: str | None,
        images_dir: Path,
        lease_s: float,
        give_up_after_s: float,
    ) -> None:
        self.ledger = ledger
        self.instance = instance
        self.runpod = runpod
        self.runpod_endpoint = runpod_endpoint
        self.images_dir = images_dir
        self.lease_s = lease_s
        self.give_up_after_s = give_up_after_s
        self._lock = asyncio.Lock()

    async def run_once(self) -> list[Settled]:
        """One pass over the orphans; what it settled."""
        async with self._lock:  # the start-up pass and the periodic one must not overlap
            rows = await asyncio.to_thread(self.ledger.live_rows_not_owned_by, self.instance.id)
            now = datetime.now(UTC)
            settled: list[Settled] = []
            for row in rows:
                if self.instance.owner_alive(row.owner_id, row.lease_expires_at, now):
                    continue
                until = now + timedelta(seconds=self.lease_s)
                claimed = await asyncio.to_thread(
                    self.ledger.claim, row.generation_id, row.owner_id, self.instance.id, until
                )
                if not claimed:
                    continue  # another gateway took it
                try:
                    outcome = await self._settle(row, now)
                except Exception:
                    log.exception("reconciling %s failed; it is retried on the next pass", row.generation_id)
                    outcome = None
                if outcome is None:
                    await asyncio.to_thread(self.ledger.release, row.generation_id, self.instance.id)
                else:
                    settled.append(outcome)
            return settled

    async def run_forever(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                settled = await self.run_once()
            except Exception:
                log.exception("a reconciliation pass failed; the next one retries")
                continue
            if settled:
                log.info("reconciled %d job attempt(s) left by stopped gateways", len(settled))

    async def _settle(self, row: GenerationRow, now: datetime) -> Settled | None:
        if row.target is Target.RUNPOD and row.external_job_id is not None:
            return await self._settle_runpod(row, now)
        why = "the gateway running this job stopped before it finished"
        if row.target is Target.RUNPOD and row.status is JobStatus.RUNNING and row.billed:
            # The /run answer may have been lost with the process: a job RunPod cannot look up without its id.
            log.warning("%s: stopped while submitting to RunPod; a job may exist there unrecorded", row.generation_id)
            why += " (while submitting to RunPod)"
        return await self._finish(row, JobStatus.FAILED, error=why)

    async def _settle_runpod(self, row: GenerationRow, now: datetime) -> Settled | None:
        external = row.external_job_id
        assert external is not None
        age_s = (now - row.created_at).total_seconds()
        if self.runpod is None or row.endpoint_id != self.runpod_endpoint:
            if age_s < self.give_up_after_s:
                return None  # maybe a gateway configured for that endpoint will ask
            log.error("%s: RunPod job %s cannot be asked here; its cost is unknown", row.generation_id, external)
            return await self._finish(row, JobStatus.FAILED, error="its RunPod endpoint is no longer configured")
        result = await self.runpod.settle(external, timeout_s=SETTLE_TIMEOUT_S)
        if not result.settled:
            if age_s < self.give_up_after_s:
                return None
            log.error("%s: RunPod job %s never reported its final state; cost unknown", row.generation_id, external)
            return await self._finish(row, JobStatus.FAILED, error="RunPod never reported the final state")
        if result.error_kind is ErrorKind.JOB_LOST:
            log.warning("%s: %s", row.generation_id, result.error)
            return await self._finish(row, JobStatus.FAILED, error=f"the gateway stopped; {result.error}")
        if result.ok and await self._save_image(row, result):
            return await self._finish(row, JobStatus.COMPLETED, result=result)
        status = JobStatus.CANCELLED if result.status is JobState.CANCELLED else JobStatus.FAILED
        error = f"the gateway running this job stopped; RunPod: {result.error or result.status}"
        return await self._finish(row, status, error=error, result=result)

    async def _save_image(self, row: GenerationRow, result: RunPodResult) -> bool:
        if result.images is None or row.job_id is None:
            return False
        first = result.images.first
        try:
            png = await asyncio.to_thread(as_png, first.data, first.mime)
            await asyncio.to_thread(write_atomic, self.images_dir / f"{row.job_id}.png", png)
        except OSError as exc:
            log.warning("%s: RunPod's image could not be kept: %s", row.generation_id, exc)
            return False
        return True

    async def _finish(
        self,
        row: GenerationRow,
        status: JobStatus,
        *,
        error: str | None = None,
        result: RunPodResult | None = None,
    ) -> Settled:
        await asyncio.to_thread(
            self.ledger.update_status,
            row.generation_id,
            status,
            error=error,
            delay_ms=result.delay_ms if result else None,
            execution_ms=result.execution_ms if result else None,
            billed_seconds=result.billed_seconds if result else None,
        )
        billed = result.billed_seconds if result else 0
        log.info("reconciled %s as %s (%d billed s)", row.generation_id, status.value, billed)
        return Settled(row.generation_id, status, billed)


class LeaseKeeper:
    """Renews this instance's leases on its live rows, well before they lapse."""

    def __init__(self, ledger: Ledger, instance: Instance, lease_s: float) -> None:
        self.ledger = ledger
        self.instance = instance
        self.lease_s = lease_s

    async def renew(self) -> int:
        until = datetime.now(UTC) + timedelta(seconds=self.lease_s)
        return await asyncio.to_thread(self.ledger.renew_leases, self.instance.id, until)

    async def run_forever(self) -> None:
        while True:
            await asyncio.sleep(self.lease_s / 3)
            try:
                await self.renew()
            except Exception:
                log.exception("renewing job leases failed; other gateways may reconcile this one's jobs")
