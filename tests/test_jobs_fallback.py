"""The fallback chain: a failing target hands the job on, and the job and the ledger say what happened."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tests.runpod_support import API_KEY, StartEndpoint
from tests.test_api_v1 import api, finished
from turbodraft.ledger import JobStatus, Ledger
from turbodraft.models.manifest import REPO_ROOT

pytest_plugins = ["tests.runpod_fixtures"]
TINY = REPO_ROOT / "fixtures" / "tiny-sd-turbo"


def test_a_failing_server_target_falls_back_to_runpod_and_says_so(tmp_path: Path) -> None:
    with api(tmp_path, server_model="no-such-model") as client:
        job = finished(
            client, client.post("/v1/jobs", json={"prompt": "a fox", "width": 64, "height": 64}).json()["id"]
        )
    assert job["status"] == "completed"
    assert job["target"] == "runpod"
    assert [a["target"] for a in job["attempts"]] == ["server", "runpod"]
    assert "no-such-model" in job["attempts"][0]["error"]
    assert job["attempts"][1]["error"] is None
    assert job["fallbackReason"].startswith("server failed: ")


def test_each_attempt_is_a_ledger_row_with_its_outcome(tmp_path: Path) -> None:
    with api(tmp_path, server_model="no-such-model") as client:
        job_id = client.post("/v1/jobs", json={"prompt": "a fox", "width": 64, "height": 64}).json()["id"]
        finished(client, job_id)
    with Ledger.open(f"sqlite:///{tmp_path / 'data' / 'ledger.sqlite'}") as ledger:
        first, second = ledger.get(job_id), ledger.get(f"{job_id}-2")
    assert first is not None and second is not None
    assert (first.target.value, first.status) == ("server", JobStatus.FAILED)
    assert first.error is not None and "no-such-model" in first.error
    assert (second.target.value, second.status) == ("runpod", JobStatus.COMPLETED)


def test_when_every_target_fails_the_job_fails_with_each_reason(
    tmp_path: Path, start_endpoint: StartEndpoint
) -> None:
    endpoint = start_endpoint(handler=_failing_handler)
    with api(
        tmp_path,
        server_model="no-such-model",
        runpod_api_key=API_KEY,
        runpod_endpoint_id="local",
        runpod_base_url=endpoint.base_url,
    ) as client:
        job = finished(
            client, client.post("/v1/jobs", json={"prompt": "x", "width": 64, "height": 64}).json()["id"]
        )
    assert job["status"] == "failed" and job["imageUrl"] is None
    assert [a["target"] for a in job["attempts"]] == ["server", "runpod"]
    assert "GPU on fire" in job["attempts"][1]["error"]
    assert job["error"].startswith("every target failed: server: ")


def test_a_timed_out_target_falls_back(tmp_path: Path, start_endpoint: StartEndpoint) -> None:
    endpoint = start_endpoint()
    with api(
        tmp_path,
        server_model="tiny-sd-turbo",
        server_timeout_s=0.000001,
        runpod_api_key=API_KEY,
        runpod_endpoint_id="local",
        runpod_base_url=endpoint.base_url,
    ) as client:
        job = finished(
            client, client.post("/v1/jobs", json={"prompt": "x", "width": 64, "height": 64}).json()["id"]
        )
    assert job["attempts"][0]["target"] == "server"
    assert "timed out" in job["attempts"][0]["error"]
    assert job["target"] == "runpod" and job["status"] == "completed"


def test_a_cloud_final_is_billed_in_the_job_and_the_ledger(
    tmp_path: Path, start_endpoint: StartEndpoint
) -> None:
    endpoint = start_endpoint()
    with api(
        tmp_path, runpod_api_key=API_KEY, runpod_endpoint_id="local", runpod_base_url=endpoint.base_url
    ) as client:
        job = finished(
            client, client.post("/v1/jobs", json={"prompt": "x", "priority": "final"}).json()["id"]
        )
        costs = client.get("/v1/costs").json()
    assert job["status"] == "completed" and job["billed"] is True
    assert job["billedSeconds"] == (1 if job["executionMs"] else 0)
    assert costs["today"]["cloud_count"] == 1
    assert costs["today"]["cloud_cost_usd"] == pytest.approx(job["costUsd"])


def test_cancelling_a_running_job_records_it_cancelled(tmp_path: Path, start_endpoint: StartEndpoint) -> None:
    endpoint = start_endpoint(handler=_slow_handler)
    with api(
        tmp_path, runpod_api_key=API_KEY, runpod_endpoint_id="local", runpod_base_url=endpoint.base_url
    ) as client:
        job_id = client.post("/v1/jobs", json={"prompt": "x", "priority": "final"}).json()["id"]
        cancelled = client.post(f"/v1/jobs/{job_id}/cancel").json()
    assert cancelled["status"] == "cancelled"
    with Ledger.open(f"sqlite:///{tmp_path / 'data' / 'ledger.sqlite'}") as ledger:
        row = ledger.get(job_id)
    assert row is not None and row.status is JobStatus.CANCELLED


def test_a_cancelled_final_is_cancelled_on_the_server_and_billed_no_more_than_ran(
    tmp_path: Path, start_endpoint: StartEndpoint
) -> None:
    endpoint = start_endpoint(handler=_slow_handler)
    with api(
        tmp_path, runpod_api_key=API_KEY, runpod_endpoint_id="local", runpod_base_url=endpoint.base_url
    ) as client:
        job_id = client.post("/v1/jobs", json={"prompt": "x", "priority": "final"}).json()["id"]
        deadline = time.monotonic() + 10
        while not endpoint.books().job_inputs and time.monotonic() < deadline:
            time.sleep(0.02)  # wait until the server holds the job
        client.post(f"/v1/jobs/{job_id}/cancel")
        while not endpoint.books().billing and time.monotonic() < deadline:
            time.sleep(0.02)  # the handler saw its cancel flag and returned
    books = endpoint.books()
    (server_job,) = books.job_inputs
    (record,) = books.billing
    assert record.job_id == server_job and record.status.value == "CANCELLED"
    with Ledger.open(f"sqlite:///{tmp_path / 'data' / 'ledger.sqlite'}") as ledger:
        row = ledger.get(job_id)
    assert row is not None and row.status is JobStatus.CANCELLED
    assert (row.billed_seconds or 0) <= books.billed_seconds_for(server_job)


def _slow_handler(job_input: dict[str, object], cancelled: threading.Event) -> object:
    cancelled.wait(30)
    return {"images": []}


def _failing_handler(job_input: dict[str, object], cancelled: threading.Event) -> object:
    raise RuntimeError("GPU on fire")
