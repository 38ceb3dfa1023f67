"""A job's final state and cost come from RunPod's /status: after a cancel, and when /status is rate-limited."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from tests.runpod_support import API_KEY, AUTH, StartEndpoint
from tests.test_api_v1 import api
from turbodraft.providers.handlers import JobCancelledError
from turbodraft.providers.runpod_local import Fault, FaultKind

pytest_plugins = ["tests.runpod_fixtures"]

RATE = 0.00019


def _until_cancelled(job_input: dict[str, object], cancelled: threading.Event) -> object:
    cancelled.wait(30)
    raise JobCancelledError("cancelled")


def ledger_row(tmp_path: Path, generation_id: str) -> dict[str, Any]:
    with sqlite3.connect(tmp_path / "data" / "ledger.sqlite") as db:
        db.row_factory = sqlite3.Row
        row = db.execute("SELECT * FROM generations WHERE generation_id = ?", (generation_id,)).fetchone()
    return dict(row)


def ended(client: httpx.Client, job_id: str, within_s: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + within_s
    while True:
        job: dict[str, Any] = client.get(f"/v1/jobs/{job_id}", params={"wait": 10000}).json()
        if job["status"] in ("completed", "failed", "cancelled") or time.monotonic() > deadline:
            return job


def test_a_cancel_mid_run_records_the_seconds_runpod_billed(tmp_path: Path, start_endpoint: StartEndpoint) -> None:
    endpoint = start_endpoint(handler=_until_cancelled)
    with api(tmp_path, runpod_api_key=API_KEY, runpod_endpoint_id="local", runpod_base_url=endpoint.base_url) as client:
        job_id = client.post("/v1/jobs", json={"prompt": "x", "priority": "final"}).json()["id"]
        deadline = time.monotonic() + 10
        while not endpoint.books().job_inputs and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(1.3)  # into the second billed second
        cancelled = client.post(f"/v1/jobs/{job_id}/cancel").json()
    (server_job,) = endpoint.books().job_inputs
    billed = endpoint.books().billed_seconds_for(server_job)
    row = ledger_row(tmp_path, job_id)
    assert billed == 2
    assert cancelled["status"] == "cancelled"
    assert cancelled["billedSeconds"] == billed and cancelled["costUsd"] == round(billed * RATE, 6)
    assert (row["status"], row["billed_seconds"], row["external_job_id"]) == ("cancelled", billed, server_job)
    assert row["cost_usd"] == round(billed * RATE, 6)
    assert row["reserved_usd"] == 0.0


def test_the_local_server_reports_the_execution_time_after_a_cancel(start_endpoint: StartEndpoint) -> None:
    endpoint = start_endpoint(handler=_until_cancelled)
    with httpx.Client(timeout=10) as http:
        job_id = http.post(f"{endpoint.url}/run", json={"input": {}}, headers=AUTH).json()["id"]
        deadline = time.monotonic() + 10
        while http.get(f"{endpoint.url}/status/{job_id}", headers=AUTH).json()["status"] != "IN_PROGRESS":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        time.sleep(1.2)
        reply = http.post(f"{endpoint.url}/cancel/{job_id}", headers=AUTH).json()
        status = http.get(f"{endpoint.url}/status/{job_id}", headers=AUTH).json()
    assert reply == {"id": job_id, "status": "CANCELLED"}  # as RunPod's: no timings in the cancel reply
    assert status["status"] == "CANCELLED"
    assert 1200 <= status["executionTime"] < 3000
    assert endpoint.books().billed_seconds_for(job_id) == 2


def test_a_job_whose_status_polls_all_get_429_ends_with_runpods_answer(
    tmp_path: Path, start_endpoint: StartEndpoint
) -> None:
    # RunPod completes (and bills) the job, but rate-limits every /status poll; the job must not end on the
    # /cancel reply (no output, no time). Once /status answers again, the job ends as RunPod says.
    limited = Fault(FaultKind.HTTP_429, ops=frozenset({"status"}), count=None)
    endpoint = start_endpoint(faults=[limited])
    with api(
        tmp_path,
        runpod_api_key=API_KEY,
        runpod_endpoint_id="local",
        runpod_base_url=endpoint.base_url,
        runpod_timeout_s=2.0,
    ) as client:
        job_id = client.post("/v1/jobs", json={"prompt": "x", "priority": "final"}).json()["id"]
        # Past the job's timeout, the cancel, and every retry of /status after it (10 s of cancel timeout),
        # with /status still refusing: RunPod has told nothing yet.
        time.sleep(14.0)
        during = client.get(f"/v1/jobs/{job_id}").json()
        endpoint.local.faults.clear()
        job = ended(client, job_id)
        image = client.get(job["imageUrl"]) if job["imageUrl"] else None
    (server_job,) = endpoint.books().job_inputs
    billed = endpoint.books().billed_seconds_for(server_job)
    row = ledger_row(tmp_path, job_id)
    assert during["status"] == "running"  # not ended on a guess
    assert job["status"] == "completed" and image is not None and image.content.startswith(b"\x89PNG")
    assert billed >= 1 and job["billedSeconds"] == billed
    assert (row["status"], row["billed_seconds"]) == ("completed", billed)
