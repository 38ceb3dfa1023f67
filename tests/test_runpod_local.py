"""The local RunPod-compatible server behaves like RunPod Serverless's HTTP API."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import httpx
import pytest

from tests.runpod_support import AUTH, RunningEndpoint, StartEndpoint
from turbodraft.providers.handlers import HandlerError, echo_handler, resolve_handler
from turbodraft.providers.runpod_local import Fault, FaultKind

pytest_plugins = ["tests.runpod_fixtures"]


async def submit(
    http: httpx.AsyncClient, ep: RunningEndpoint, job_input: dict[str, Any], **extra: Any
) -> str:
    response = await http.post(f"{ep.url}/run", json={"input": job_input, **extra}, headers=AUTH)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "IN_QUEUE"
    job_id: str = body["id"]
    return job_id


async def status(http: httpx.AsyncClient, ep: RunningEndpoint, job_id: str) -> httpx.Response:
    return await http.get(f"{ep.url}/status/{job_id}", headers=AUTH)


async def wait_final(
    http: httpx.AsyncClient, ep: RunningEndpoint, job_id: str, timeout_s: float = 5
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    seen: list[str] = []
    while time.monotonic() < deadline:
        body: dict[str, Any] = (await status(http, ep, job_id)).json()
        seen.append(body["status"])
        if body["status"] in ("COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"):
            body["_seen"] = seen
            return body
        await asyncio.sleep(0.01)
    raise AssertionError(f"job {job_id} not final in {timeout_s} s: {seen[-3:]}")


async def test_run_queues_a_job_that_a_worker_completes_with_timings(
    http: httpx.AsyncClient, endpoint: RunningEndpoint
) -> None:
    job_id = await submit(http, endpoint, {"seed": 3, "sleep_s": 0.1})
    body = await wait_final(http, endpoint, job_id)
    assert body["status"] == "COMPLETED"
    assert "IN_PROGRESS" in body["_seen"]
    assert body["executionTime"] >= 100
    assert body["delayTime"] >= 0
    assert body["output"]["seed"] == 3
    assert body["output"]["images"][0].startswith("data:image/png;base64,")


async def test_any_endpoint_id_serves_the_same_queue(
    http: httpx.AsyncClient, endpoint: RunningEndpoint
) -> None:
    response = await http.post(f"{endpoint.base_url}/abc123/run", json={"input": {}}, headers=AUTH)
    job_id = response.json()["id"]
    assert (await http.get(f"{endpoint.url}/status/{job_id}", headers=AUTH)).status_code == 200


async def test_runsync_answers_the_finished_job(http: httpx.AsyncClient, endpoint: RunningEndpoint) -> None:
    response = await http.post(f"{endpoint.url}/runsync", json={"input": {"seed": 1}}, headers=AUTH)
    body = response.json()
    assert body["status"] == "COMPLETED"
    assert {"id", "delayTime", "executionTime", "output"} <= body.keys()


async def test_runsync_answers_the_current_state_when_the_wait_runs_out(
    http: httpx.AsyncClient, endpoint: RunningEndpoint
) -> None:
    # wait is clamped to RunPod's minimum of 1000 ms, so the job must run longer than that.
    response = await http.post(
        f"{endpoint.url}/runsync?wait=1", json={"input": {"sleep_s": 1.3}}, headers=AUTH, timeout=5
    )
    body = response.json()
    assert body["status"] == "IN_PROGRESS"
    assert (await wait_final(http, endpoint, body["id"]))["status"] == "COMPLETED"


async def test_runsync_result_is_kept_for_the_shorter_runsync_retention(
    http: httpx.AsyncClient, start_endpoint: StartEndpoint
) -> None:
    ep = start_endpoint(runsync_retention_s=0.1, result_retention_s=60)
    sync_id = (await http.post(f"{ep.url}/runsync", json={"input": {}}, headers=AUTH)).json()["id"]
    async_id = await submit(http, ep, {})
    await wait_final(http, ep, async_id)
    await asyncio.sleep(0.2)
    assert (await status(http, ep, sync_id)).status_code == 404
    assert (await status(http, ep, async_id)).status_code == 200


async def test_finished_results_expire_after_the_retention(
    http: httpx.AsyncClient, start_endpoint: StartEndpoint
) -> None:
    ep = start_endpoint(result_retention_s=0.1)
    job_id = await submit(http, ep, {})
    await wait_final(http, ep, job_id)
    await asyncio.sleep(0.2)
    assert (await status(http, ep, job_id)).status_code == 404


async def test_a_job_past_its_ttl_is_dropped_even_from_the_queue(
    http: httpx.AsyncClient, start_endpoint: StartEndpoint
) -> None:
    ep = start_endpoint(workers=1)
    await submit(http, ep, {"sleep_s": 0.5})
    waiting = await submit(http, ep, {}, policy={"ttl": 100})
    await asyncio.sleep(0.25)
    assert (await status(http, ep, waiting)).status_code == 404


async def test_execution_timeout_ends_the_job_timed_out_and_stops_the_handler(
    http: httpx.AsyncClient, endpoint: RunningEndpoint
) -> None:
    job_id = await submit(http, endpoint, {"sleep_s": 5}, policy={"executionTimeout": 150})
    body = await wait_final(http, endpoint, job_id)
    assert body["status"] == "TIMED_OUT"
    assert 150 <= body["executionTime"] < 1000
    await asyncio.sleep(0.05)
    assert (await http.get(f"{endpoint.url}/health", headers=AUTH)).json()["workers"]["running"] == 0


async def test_execution_timeout_under_the_minimum_is_refused(
    http: httpx.AsyncClient, start_endpoint: StartEndpoint
) -> None:
    ep = start_endpoint(min_execution_timeout_ms=5000)
    body = {"input": {}, "policy": {"executionTimeout": 1000}}
    response = await http.post(f"{ep.url}/run", json=body, headers=AUTH)
    assert response.status_code == 400
    assert "executionTimeout" in response.json()["error"]


async def test_cancelling_a_queued_job_ends_it_cancelled_without_running_it(
    http: httpx.AsyncClient, start_endpoint: StartEndpoint
) -> None:
    ep = start_endpoint(workers=1)
    await submit(http, ep, {"sleep_s": 0.3})
    queued = await submit(http, ep, {})
    answer = await http.post(f"{ep.url}/cancel/{queued}", headers=AUTH)
    assert answer.json() == {"id": queued, "status": "CANCELLED"}
    await asyncio.sleep(0.4)
    assert (await status(http, ep, queued)).json()["status"] == "CANCELLED"
    assert ep.books().billed_seconds_for(queued) == 0


async def test_cancelling_a_running_job_sets_the_handler_flag_and_stops_billing(
    http: httpx.AsyncClient, start_endpoint: StartEndpoint
) -> None:
    saw_flag = threading.Event()

    def handler(job_input: dict[str, Any], cancelled: threading.Event) -> object:
        if cancelled.wait(5):
            saw_flag.set()
            return None
        return {"image": "never"}

    ep = start_endpoint(handler=handler)
    job_id = await submit(http, ep, {})
    while (await status(http, ep, job_id)).json()["status"] != "IN_PROGRESS":
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)
    await http.post(f"{ep.url}/cancel/{job_id}", headers=AUTH)
    body = await wait_final(http, ep, job_id)
    assert body["status"] == "CANCELLED"
    assert saw_flag.wait(1)
    assert 100 <= body["executionTime"] < 1000
    assert [r.execution_ms for r in ep.books().billing if r.job_id == job_id] == [body["executionTime"]]


async def test_retry_requeues_a_failed_job_and_counts_it(
    http: httpx.AsyncClient, start_endpoint: StartEndpoint
) -> None:
    ep = start_endpoint(faults=[Fault(FaultKind.FAILED)])
    job_id = await submit(http, ep, {})
    assert (await wait_final(http, ep, job_id))["status"] == "FAILED"
    answer = await http.post(f"{ep.url}/retry/{job_id}", headers=AUTH)
    assert answer.json() == {"id": job_id, "status": "IN_QUEUE"}
    assert (await wait_final(http, ep, job_id))["status"] == "COMPLETED"
    health = (await http.get(f"{ep.url}/health", headers=AUTH)).json()
    assert health["jobs"]["retried"] == 1


async def test_retry_refuses_a_completed_job(http: httpx.AsyncClient, endpoint: RunningEndpoint) -> None:
    job_id = await submit(http, endpoint, {})
    await wait_final(http, endpoint, job_id)
    assert (await http.post(f"{endpoint.url}/retry/{job_id}", headers=AUTH)).status_code == 400


async def test_purge_queue_removes_only_queued_jobs(
    http: httpx.AsyncClient, start_endpoint: StartEndpoint
) -> None:
    ep = start_endpoint(workers=1)
    running = await submit(http, ep, {"sleep_s": 0.3})
    await asyncio.sleep(0.05)
    queued = [await submit(http, ep, {}) for _ in range(3)]
    answer = (await http.post(f"{ep.url}/purge-queue", headers=AUTH)).json()
    assert answer == {"removed": 3, "status": "completed"}
    assert [(await status(http, ep, job_id)).status_code for job_id in queued] == [404, 404, 404]
    assert (await wait_final(http, ep, running))["status"] == "COMPLETED"


async def test_health_reports_jobs_and_workers(
    http: httpx.AsyncClient, start_endpoint: StartEndpoint
) -> None:
    ep = start_endpoint(workers=1)
    await submit(http, ep, {"sleep_s": 0.3})
    await submit(http, ep, {})
    await asyncio.sleep(0.1)
    health = (await http.get(f"{ep.url}/health", headers=AUTH)).json()
    assert health == {
        "jobs": {"completed": 0, "failed": 0, "inProgress": 1, "inQueue": 1, "retried": 0},
        "workers": {"idle": 0, "running": 1},
    }


async def test_handlers_never_run_more_concurrently_than_the_workers(
    http: httpx.AsyncClient, start_endpoint: StartEndpoint
) -> None:
    active, peak, lock = [0], [0], threading.Lock()

    def handler(job_input: dict[str, Any], cancelled: threading.Event) -> object:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        cancelled.wait(0.05)
        with lock:
            active[0] -= 1
        return {"ok": True}

    ep = start_endpoint(handler=handler, workers=2)
    ids = [await submit(http, ep, {}) for _ in range(6)]
    for job_id in ids:
        await wait_final(http, ep, job_id)
    assert peak[0] == 2


async def test_cold_start_shows_in_the_delay_of_an_idle_workers_first_job(
    http: httpx.AsyncClient, start_endpoint: StartEndpoint
) -> None:
    ep = start_endpoint(workers=1, cold_start_s=0.3, idle_timeout_s=60)
    first = await wait_final(http, ep, await submit(http, ep, {}))
    second = await wait_final(http, ep, await submit(http, ep, {}))
    assert first["delayTime"] >= 300
    assert second["delayTime"] < 200


@pytest.mark.parametrize("header", [f"Bearer {AUTH['Authorization'][7:]}", AUTH["Authorization"][7:]])
async def test_the_key_is_accepted_as_bearer_or_bare(
    http: httpx.AsyncClient, endpoint: RunningEndpoint, header: str
) -> None:
    response = await http.get(f"{endpoint.url}/health", headers={"Authorization": header})
    assert response.status_code == 200


@pytest.mark.parametrize("header", [None, "Bearer wrong", "wrong"])
async def test_a_missing_or_wrong_key_is_unauthorized(
    http: httpx.AsyncClient, endpoint: RunningEndpoint, header: str | None
) -> None:
    headers = {} if header is None else {"Authorization": header}
    assert (await http.post(f"{endpoint.url}/run", json={"input": {}}, headers=headers)).status_code == 401
    assert endpoint.books().jobs_created == 0


@pytest.mark.parametrize(
    "content",
    [b"not json", b"[]", b'{"inputs": {}}', b'{"input": "text"}', b'{"input": {}, "policy": {"ttl": -1}}'],
)
async def test_malformed_submissions_are_refused_with_400(
    http: httpx.AsyncClient, endpoint: RunningEndpoint, content: bytes
) -> None:
    response = await http.post(f"{endpoint.url}/run", content=content, headers=AUTH)
    assert response.status_code == 400
    assert response.json()["error"]


async def test_payloads_over_the_run_limit_are_refused_with_413(
    http: httpx.AsyncClient, start_endpoint: StartEndpoint
) -> None:
    ep = start_endpoint(max_run_bytes=1000)
    response = await http.post(f"{ep.url}/run", json={"input": {"x": "a" * 2000}}, headers=AUTH)
    assert response.status_code == 413


async def test_unknown_jobs_are_404(http: httpx.AsyncClient, endpoint: RunningEndpoint) -> None:
    assert (await status(http, endpoint, "nope")).status_code == 404
    assert (await http.post(f"{endpoint.url}/cancel/nope", headers=AUTH)).status_code == 404


async def test_a_handler_returning_an_error_fails_the_job(
    http: httpx.AsyncClient, start_endpoint: StartEndpoint
) -> None:
    ep = start_endpoint(handler=echo_handler)
    job_id = await submit(http, ep, {"output": {"error": "out of memory"}})
    body = await wait_final(http, ep, job_id)
    assert body["status"] == "FAILED"
    assert body["error"] == "out of memory"


async def test_a_handler_exception_fails_the_job_with_its_message(
    http: httpx.AsyncClient, endpoint: RunningEndpoint
) -> None:
    body = await wait_final(http, endpoint, await submit(http, endpoint, {"fail": "bad prompt"}))
    assert body["status"] == "FAILED"
    assert "bad prompt" in body["error"]


async def test_injected_timed_out_fault_times_the_job_out(
    http: httpx.AsyncClient, start_endpoint: StartEndpoint
) -> None:
    ep = start_endpoint(faults=[Fault(FaultKind.TIMED_OUT, delay_s=0.1)])
    body = await wait_final(http, ep, await submit(http, ep, {}))
    assert body["status"] == "TIMED_OUT"
    assert body["executionTime"] >= 100


async def test_injected_malformed_output_replaces_the_output(
    http: httpx.AsyncClient, start_endpoint: StartEndpoint
) -> None:
    ep = start_endpoint(faults=[Fault(FaultKind.MALFORMED_OUTPUT)])
    body = await wait_final(http, ep, await submit(http, ep, {}))
    assert body["status"] == "COMPLETED"
    assert "not base64" in body["output"]["images"][0]


async def test_injected_reset_drops_the_connection_without_a_response(
    http: httpx.AsyncClient, start_endpoint: StartEndpoint
) -> None:
    ep = start_endpoint(faults=[Fault(FaultKind.RESET, ops=frozenset({"run"}))])
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        await http.post(f"{ep.url}/run", json={"input": {}}, headers=AUTH)
    assert ep.books().jobs_created == 0


async def test_injected_reset_after_creates_the_job_but_loses_the_answer(
    http: httpx.AsyncClient, start_endpoint: StartEndpoint
) -> None:
    ep = start_endpoint(faults=[Fault(FaultKind.RESET_AFTER, ops=frozenset({"run"}))])
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        await http.post(f"{ep.url}/run", json={"input": {}}, headers=AUTH)
    assert ep.books().jobs_created == 1


async def test_http_faults_hit_only_the_counted_requests(
    http: httpx.AsyncClient, start_endpoint: StartEndpoint
) -> None:
    ep = start_endpoint(faults=[Fault(FaultKind.HTTP_429, ops=frozenset({"health"}), first=2, count=1)])
    codes = [(await http.get(f"{ep.url}/health", headers=AUTH)).status_code for _ in range(3)]
    assert codes == [200, 429, 200]


async def test_faults_can_be_added_over_http_while_running(
    http: httpx.AsyncClient, endpoint: RunningEndpoint
) -> None:
    added = await http.post(
        f"{endpoint.origin}/_local/faults", json={"kind": "http_500", "ops": ["health"]}, headers=AUTH
    )
    assert added.status_code == 200
    assert (await http.get(f"{endpoint.url}/health", headers=AUTH)).status_code == 500


async def test_stats_endpoint_reports_submissions_and_billing(
    http: httpx.AsyncClient, endpoint: RunningEndpoint
) -> None:
    job_id = await submit(http, endpoint, {"sleep_s": 0.05})
    await wait_final(http, endpoint, job_id)
    stats = (await http.get(f"{endpoint.origin}/_local/stats", headers=AUTH)).json()
    assert stats["submit_requests"] == {"run": 1}
    assert stats["jobs_created"] == 1
    assert stats["billing"][0]["job_id"] == job_id
    assert stats["billing"][0]["billed_seconds"] == 1


def test_handlers_resolve_by_name_or_import_path() -> None:
    assert resolve_handler("echo") is echo_handler
    assert resolve_handler("turbodraft.providers.handlers:echo_handler") is echo_handler


@pytest.mark.parametrize(
    "name", ["nope", "turbodraft.nope:handler", "turbodraft.providers.handlers:HANDLERS"]
)
def test_unresolvable_handlers_raise_a_handler_error(name: str) -> None:
    with pytest.raises(HandlerError):
        resolve_handler(name)
