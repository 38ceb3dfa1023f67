"""The RunPod client against a real local endpoint, with and without injected faults."""

from __future__ import annotations

import asyncio
import threading
import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.runpod_support import RunningEndpoint, StartEndpoint, make_client
from turbodraft.providers.runpod_client import EndpointHealth, ErrorKind, JobPolicy, RetryPolicy, RunPodResult
from turbodraft.providers.runpod_local import Fault, FaultKind
from turbodraft.providers.runpod_types import JobState

pytest_plugins = ["tests.runpod_fixtures"]

SUBMIT_OPS = frozenset({"run", "runsync"})
TIMEOUT_S = 3.0


def assert_billing_matches(result: RunPodResult, ep: RunningEndpoint) -> None:
    assert result.job_id is not None
    assert result.billed_seconds == ep.books().billed_seconds_for(result.job_id)
    assert result.cost_usd == Decimal("0.00019") * result.billed_seconds


#: fault -> the outcome the client must reach: None for success, else the error kind.
FAULT_SUITE: dict[str, tuple[list[Fault], ErrorKind | None]] = {
    "none": ([], None),
    "latency": ([Fault(FaultKind.LATENCY, delay_s=0.1, count=None)], None),
    "429-on-submit": ([Fault(FaultKind.HTTP_429, ops=SUBMIT_OPS, count=2)], None),
    "500-on-submit": ([Fault(FaultKind.HTTP_500, ops=SUBMIT_OPS, count=2)], None),
    "429-on-status": ([Fault(FaultKind.HTTP_429, ops=frozenset({"status"}), count=2)], None),
    "500-on-status": ([Fault(FaultKind.HTTP_500, ops=frozenset({"status"}), count=2)], None),
    "reset-on-status": ([Fault(FaultKind.RESET, ops=frozenset({"status"}), count=2)], None),
    "reset-on-submit": ([Fault(FaultKind.RESET, ops=SUBMIT_OPS)], ErrorKind.AMBIGUOUS_SUBMISSION),
    "reset-after-submit": ([Fault(FaultKind.RESET_AFTER, ops=SUBMIT_OPS)], ErrorKind.AMBIGUOUS_SUBMISSION),
    "timed-out": ([Fault(FaultKind.TIMED_OUT, delay_s=0.1)], ErrorKind.JOB_TIMED_OUT),
    "failed": ([Fault(FaultKind.FAILED)], ErrorKind.JOB_FAILED),
    "malformed-output": ([Fault(FaultKind.MALFORMED_OUTPUT)], ErrorKind.BAD_OUTPUT),
}


@pytest.mark.parametrize("mode", ["run", "runsync"])
@pytest.mark.parametrize("fault_name", list(FAULT_SUITE))
async def test_every_job_ends_clearly_once_and_billed_as_the_server_billed(
    http: httpx.AsyncClient, start_endpoint: StartEndpoint, fault_name: str, mode: str
) -> None:
    faults, expected = FAULT_SUITE[fault_name]
    ep = start_endpoint(faults=faults)
    client = make_client(http, ep)
    nonce = str(uuid.uuid4())

    result = await client.run(
        {"nonce": nonce, "seed": 7, "sleep_s": 0.05},
        timeout_s=TIMEOUT_S,
        sync_wait_ms=2000 if mode == "runsync" else None,
    )

    assert result.elapsed_s < TIMEOUT_S
    assert result.error_kind is expected, result.error
    created = ep.books().jobs_with_input("nonce", nonce)
    assert len(created) <= 1, "a job was submitted twice"
    if expected is ErrorKind.AMBIGUOUS_SUBMISSION:
        assert result.status is None and result.attempts == 1
        assert "not submitted again" in (result.error or "")
        return
    assert created == [result.job_id]
    assert result.status is not None and result.status.is_final
    assert_billing_matches(result, ep)
    if expected is None:
        assert result.ok
        assert result.images is not None and result.images.first.mime == "image/png"
        assert result.images.seed == 7
        assert result.execution_ms is not None and result.execution_ms >= 50
        assert result.delay_ms is not None
    else:
        assert not result.ok and result.error


async def test_submission_retries_stop_at_the_limit_without_creating_a_job(
    http: httpx.AsyncClient, start_endpoint: StartEndpoint
) -> None:
    ep = start_endpoint(faults=[Fault(FaultKind.HTTP_429, ops=SUBMIT_OPS, count=None)])
    result = await make_client(http, ep).run({}, timeout_s=TIMEOUT_S)
    assert result.error_kind is ErrorKind.SUBMIT_FAILED
    assert result.attempts == 4
    assert ep.books().jobs_created == 0


async def test_a_5xx_not_known_as_a_refusal_is_ambiguous_and_not_retried(
    http: httpx.AsyncClient, start_endpoint: StartEndpoint
) -> None:
    ep = start_endpoint(faults=[Fault(FaultKind.HTTP_500, ops=SUBMIT_OPS)])
    retry = RetryPolicy(max_attempts=4, base_delay_s=0.01, submit_retry_statuses=frozenset({429}))
    result = await make_client(http, ep, retry=retry).run({}, timeout_s=TIMEOUT_S)
    assert result.error_kind is ErrorKind.AMBIGUOUS_SUBMISSION
    assert result.attempts == 1


async def test_a_refused_connection_is_retried_then_reported(
    http: httpx.AsyncClient, endpoint: RunningEndpoint
) -> None:
    client = make_client(http, endpoint, base_url="http://127.0.0.1:9/v2")
    result = await client.run({}, timeout_s=TIMEOUT_S)
    assert result.error_kind is ErrorKind.SUBMIT_FAILED
    assert result.attempts == 4
    assert "ConnectError" in (result.error or "")


async def test_a_wrong_key_fails_the_submission_at_once(
    http: httpx.AsyncClient, endpoint: RunningEndpoint
) -> None:
    result = await make_client(http, endpoint, api_key="wrong").run({}, timeout_s=TIMEOUT_S)
    assert result.error_kind is ErrorKind.SUBMIT_FAILED
    assert result.attempts == 1
    assert "API key" in (result.error or "")


async def test_the_client_timeout_cancels_the_job_and_bills_what_ran(
    http: httpx.AsyncClient, endpoint: RunningEndpoint
) -> None:
    result = await make_client(http, endpoint).run({"sleep_s": 5}, timeout_s=0.4)
    assert result.status is JobState.CANCELLED
    assert result.error_kind is ErrorKind.CLIENT_TIMEOUT
    assert result.elapsed_s < 1.5
    assert_billing_matches(result, endpoint)
    assert result.billed_seconds == 1


async def test_a_job_longer_than_its_execution_timeout_ends_timed_out(
    http: httpx.AsyncClient, endpoint: RunningEndpoint
) -> None:
    policy = JobPolicy(execution_timeout_ms=150)
    result = await make_client(http, endpoint).run({"sleep_s": 5}, timeout_s=TIMEOUT_S, policy=policy)
    assert result.status is JobState.TIMED_OUT
    assert result.error_kind is ErrorKind.JOB_TIMED_OUT
    assert_billing_matches(result, endpoint)


async def test_aborting_cancels_a_running_job_and_the_handler_sees_its_flag(
    http: httpx.AsyncClient, start_endpoint: StartEndpoint
) -> None:
    started, saw_flag = threading.Event(), threading.Event()

    def handler(job_input: dict[str, Any], cancelled: threading.Event) -> object:
        started.set()
        if cancelled.wait(5):
            saw_flag.set()
        return {"image": "unused"}

    ep = start_endpoint(handler=handler)
    abort = asyncio.Event()
    task = asyncio.create_task(make_client(http, ep).run({}, timeout_s=TIMEOUT_S, abort=abort))
    await asyncio.to_thread(started.wait, 2)
    await asyncio.sleep(0.1)
    abort.set()
    result = await task

    assert result.status is JobState.CANCELLED
    assert result.error_kind is ErrorKind.ABORTED
    assert saw_flag.wait(1)
    assert result.execution_ms is not None and 100 <= result.execution_ms < 1000
    assert_billing_matches(result, ep)


async def test_cancelling_the_calling_task_cancels_the_job(
    http: httpx.AsyncClient, endpoint: RunningEndpoint
) -> None:
    task = asyncio.create_task(make_client(http, endpoint).run({"sleep_s": 5}, timeout_s=TIMEOUT_S))
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    [job] = endpoint.local.store.jobs()
    assert job.status is JobState.CANCELLED


async def test_a_job_dropped_by_its_ttl_is_reported_lost(
    http: httpx.AsyncClient, start_endpoint: StartEndpoint
) -> None:
    ep = start_endpoint(workers=1)
    client = make_client(http, ep)
    blocker = asyncio.create_task(client.run({"sleep_s": 0.6}, timeout_s=TIMEOUT_S))
    await asyncio.sleep(0.05)
    result = await client.run({}, timeout_s=TIMEOUT_S, policy=JobPolicy(ttl_ms=150))
    assert result.error_kind is ErrorKind.JOB_LOST
    assert result.billed_seconds == 0
    assert (await blocker).ok


async def test_health_reports_the_endpoint(http: httpx.AsyncClient, endpoint: RunningEndpoint) -> None:
    client = make_client(http, endpoint)
    await client.run({}, timeout_s=TIMEOUT_S)
    health = await client.health()
    assert health == EndpointHealth(
        completed=1, failed=0, in_progress=0, in_queue=0, retried=0, workers_idle=2, workers_running=0
    )


async def test_health_retries_through_transient_errors(
    http: httpx.AsyncClient, start_endpoint: StartEndpoint
) -> None:
    ep = start_endpoint(faults=[Fault(FaultKind.HTTP_500, ops=frozenset({"health"}), count=2)])
    assert (await make_client(http, ep).health()).workers_idle == 2


async def test_runsync_with_a_short_wait_falls_back_to_polling(
    http: httpx.AsyncClient, endpoint: RunningEndpoint
) -> None:
    result = await make_client(http, endpoint).run({"sleep_s": 1.2}, timeout_s=TIMEOUT_S, sync_wait_ms=1000)
    assert result.ok
    assert result.requests > 1
