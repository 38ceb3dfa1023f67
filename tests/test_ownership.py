"""Every job, image, usage row and figure belongs to the user who made it; others get the 404 of an unknown id."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.test_api_v1 import api, finished, usage
from turbodraft.providers.handlers import JobCancelledError

ALICE_TOKEN = "alice:alice-secret"
BOB_TOKEN = "bob:bob-secret"
SERVICE_TOKEN = "orchestrator-secret"
TOKENS = [ALICE_TOKEN, BOB_TOKEN, SERVICE_TOKEN]
ALICE = {"Authorization": f"Bearer {ALICE_TOKEN}"}
BOB = {"Authorization": f"Bearer {BOB_TOKEN}"}
FINAL = {"prompt": "a lighthouse", "priority": "final"}


def service(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {SERVICE_TOKEN}", "X-User-Id": user}


@contextlib.contextmanager
def team(tmp_path: Path, **overrides: Any) -> Iterator[httpx.Client]:
    with api(tmp_path, api_tokens=TOKENS, **overrides) as client:
        yield client


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[httpx.Client]:
    with team(tmp_path) as client:
        yield client


def alices_job(client: httpx.Client) -> dict[str, Any]:
    created = client.post("/v1/jobs", json=FINAL, headers=ALICE)
    assert created.status_code == 202, created.text
    return finished(client, created.json()["id"], ALICE)


def unknown(job_id: str) -> dict[str, Any]:
    message = f"no job {job_id!r}"
    return {"error": {"code": "not_found", "message": message, "details": None}, "detail": message}


def slow_handler(job_input: dict[str, Any], cancelled: threading.Event) -> object:
    """Runs until cancelled: a job that is still running when another user tries it."""
    cancelled.wait(30)
    raise JobCancelledError("cancelled")


def test_another_user_cannot_read_a_job(gateway: httpx.Client) -> None:
    job = alices_job(gateway)
    never = "0" * 32
    assert gateway.get(f"/v1/jobs/{never}", headers=BOB).json() == unknown(never)
    answer = gateway.get(f"/v1/jobs/{job['id']}", headers=BOB)
    assert answer.status_code == 404 and answer.json() == unknown(job["id"])
    assert gateway.get(f"/v1/jobs/{job['id']}", headers=ALICE).status_code == 200


def test_another_user_cannot_download_a_jobs_image(gateway: httpx.Client) -> None:
    job = alices_job(gateway)
    assert gateway.get(job["imageUrl"], headers=ALICE).content.startswith(b"\x89PNG")
    answer = gateway.get(job["imageUrl"], headers=BOB)
    assert answer.status_code == 404 and answer.json() == unknown(job["id"])


def test_another_user_cannot_read_a_job_through_the_legacy_api(gateway: httpx.Client) -> None:
    job = alices_job(gateway)
    answer = gateway.get(f"/job/{job['id']}", headers=BOB)
    assert answer.status_code == 404 and answer.json() == unknown(job["id"])
    assert gateway.get(f"/job/{job['id']}", headers=ALICE).json()["status"] == "completed"


def test_another_user_cannot_cancel_a_job(tmp_path: Path) -> None:
    with team(tmp_path, runpod_local_handler="tests.test_ownership:slow_handler") as client:
        job = client.post("/v1/jobs", json=FINAL, headers=ALICE).json()
        answer = client.post(f"/v1/jobs/{job['id']}/cancel", headers=BOB)
        state = client.get(f"/v1/jobs/{job['id']}", headers=ALICE).json()["status"]
        own = client.post(f"/v1/jobs/{job['id']}/cancel", headers=ALICE).json()["status"]
    assert answer.status_code == 404 and answer.json() == unknown(job["id"])
    assert state in ("queued", "running")
    assert own == "cancelled"


def test_a_job_from_before_a_restart_still_belongs_to_its_user(tmp_path: Path) -> None:
    with team(tmp_path) as client:
        job = alices_job(client)
    with team(tmp_path) as client:  # a new process on the same data dir answers from the ledger
        bobs = client.get(f"/v1/jobs/{job['id']}", headers=BOB)
        bobs_image = client.get(job["imageUrl"], headers=BOB)
        alices = client.get(f"/v1/jobs/{job['id']}", headers=ALICE)
        alices_image = client.get(job["imageUrl"], headers=ALICE)
    assert (bobs.status_code, bobs_image.status_code) == (404, 404)
    assert alices.json()["status"] == "completed" and alices_image.content.startswith(b"\x89PNG")


def test_a_service_token_acts_for_the_user_it_names(gateway: httpx.Client) -> None:
    job = alices_job(gateway)
    assert gateway.get(f"/v1/jobs/{job['id']}", headers=service("alice")).status_code == 200
    assert gateway.get(f"/v1/jobs/{job['id']}", headers=service("bob")).status_code == 404
    assert gateway.get(f"/v1/jobs/{job['id']}", headers=service("anonymous")).status_code == 404


def test_costs_are_the_callers_own_by_default(gateway: httpx.Client) -> None:
    assert gateway.post("/v1/usage", json=usage("d-1"), headers=ALICE).status_code == 201
    alices = gateway.get("/v1/costs", headers=ALICE).json()["today"]
    bobs = gateway.get("/v1/costs", headers=BOB).json()["today"]
    legacy_bob = gateway.get("/costs/summary", headers=BOB).json()
    assert alices["local_count"] == 1
    assert bobs["total_count"] == 0
    assert legacy_bob["this_month"] == {"local": 0.0, "runpod": 0.0, "total": 0.0}


def test_gateway_wide_costs_need_a_service_token(gateway: httpx.Client) -> None:
    gateway.post("/v1/usage", json=usage("d-1"), headers=ALICE)
    gateway.post("/v1/usage", json=usage("d-2"), headers=BOB)
    refused = gateway.get("/v1/costs", params={"scope": "all"}, headers=BOB)
    legacy_refused = gateway.get("/costs/summary", params={"scope": "all"}, headers=BOB)
    everyone = gateway.get("/v1/costs", params={"scope": "all"}, headers=service("ops")).json()
    assert refused.status_code == 403 and "service token" in refused.json()["error"]["message"]
    assert legacy_refused.status_code == 403
    assert everyone["today"]["local_count"] == 2


def test_the_openapi_description_says_who_sees_what(gateway: httpx.Client) -> None:
    spec = gateway.get("/openapi.json").json()
    costs = spec["paths"]["/v1/costs"]["get"]
    scope = next(p for p in costs["parameters"] if p["name"] == "scope")
    assert "service token" in scope["description"]
    assert "service token" in spec["info"]["description"]


def test_queue_counts_are_the_callers_own(gateway: httpx.Client) -> None:
    alices_job(gateway)
    bobs = gateway.get("/queue/status", headers=BOB).json()
    alices = gateway.get("/queue/status", headers=ALICE).json()
    assert bobs["completed"] == 0 and alices["completed"] == 1


def test_usage_ids_are_each_users_own(gateway: httpx.Client) -> None:
    # The same client id from two users is two images, and neither report can see the other's.
    first = gateway.post("/v1/usage", json=usage("shared-id"), headers=ALICE)
    second = gateway.post("/v1/usage", json=usage("shared-id"), headers=BOB)
    assert (first.status_code, second.status_code) == (201, 201)
    assert gateway.get("/v1/costs", headers=BOB).json()["today"]["local_count"] == 1


def test_a_legacy_job_handle_reads_its_job_and_image_without_naming_the_user(gateway: httpx.Client) -> None:
    made = gateway.post("/generate/image", json={"prompt": "x", "user_id": "alice", "wait": True}, headers=ALICE).json()
    polled = gateway.get(f"/job/{made['job_id']}", headers=BOB)
    image = gateway.get(made["result"], headers=BOB)
    bare_id = made["job_id"].split(".")[0]
    assert polled.status_code == 200 and polled.json()["status"] == "completed"
    assert image.content.startswith(b"\x89PNG")
    assert gateway.get(f"/job/{bare_id}", headers=BOB).status_code == 404
    forged = f"{bare_id}.{'A' * 22}"
    assert gateway.get(f"/job/{forged}", headers=BOB).status_code == 404


def test_a_usage_report_never_takes_a_gateway_attempt_id(tmp_path: Path) -> None:
    # The id a fallback attempt of this job would get: a report under it must land in its own id space.
    with api(tmp_path) as client:
        job = client.post("/v1/jobs", json=FINAL).json()
        finished(client, job["id"])
        claimed = f"{job['id']}-2"
        answer = client.post("/v1/usage", json=usage(claimed))
    assert answer.status_code == 201 and answer.json() == {"id": claimed, "recorded": True}
    with sqlite3.connect(tmp_path / "data" / "ledger.sqlite") as db:
        taken = db.execute("SELECT count(*) FROM generations WHERE generation_id = ?", (claimed,)).fetchone()[0]
        report = db.execute("SELECT generation_id FROM generations WHERE client_id = ?", (claimed,)).fetchone()
    assert taken == 0
    assert report is not None and report[0].startswith("b:")
