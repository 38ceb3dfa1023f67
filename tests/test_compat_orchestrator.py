"""The canvas app's orchestrator client, replayed as HTTP: every response has the shape it parses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.test_api_v1 import api

JOB_FIELDS = {"job_id", "status", "result", "cost", "provider", "processing_time", "error"}
STATUSES = {"queued", "processing", "completed", "failed"}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[httpx.Client]:
    with api(tmp_path) as c:
        yield c


def test_generate_with_wait_answers_a_completed_job_with_a_fetchable_image(client: httpx.Client) -> None:
    body = client.post(
        "/generate/image",
        json={
            "prompt": "a castle",
            "model": "sdxl",
            "priority": "high",
            "size": "1024x1024",
            "user_id": "u1",
            "wait": True,
        },
    ).json()
    assert set(body) == JOB_FIELDS
    assert body["status"] == "completed" and body["error"] is None
    assert body["provider"] == "local" and body["cost"] == 0.0
    assert isinstance(body["processing_time"], float)
    assert httpx.get(body["result"]).content.startswith(b"\x89PNG")


def test_generate_without_wait_answers_at_once_and_the_job_can_be_polled(client: httpx.Client) -> None:
    body = client.post("/generate/image", json={"prompt": "a castle", "user_id": "u1", "wait": False}).json()
    assert body["status"] in STATUSES
    polled = client.get(f"/job/{body['job_id']}").json()
    assert set(polled) == JOB_FIELDS and polled["status"] in STATUSES


def test_a_draft_model_fails_over_and_still_reads_as_one_job(client: httpx.Client) -> None:
    body = client.post(
        "/generate/image", json={"prompt": "x", "model": "sd-turbo", "size": 512, "wait": True}
    ).json()
    assert body["status"] == "completed"


def test_queue_status_counts_jobs(client: httpx.Client) -> None:
    client.post("/generate/image", json={"prompt": "x", "wait": True})
    body = client.get("/queue/status").json()
    assert body["completed"] == 1 and body["queue_length"] == 0


def test_costs_summary_has_the_orchestrator_shape(client: httpx.Client) -> None:
    body = client.get("/costs/summary").json()
    assert set(body) == {"today", "this_month", "breakdown"}
    assert set(body["today"]) == set(body["this_month"]) == {"local", "runpod", "total"}
    assert set(body["breakdown"]) == {"text", "image", "video", "code"}


def test_health_answers_ok(client: httpx.Client) -> None:
    assert client.get("/health").json()["status"] == "ok"


def test_an_unknown_job_is_a_404_with_detail(client: httpx.Client) -> None:
    answer = client.get("/job/unknown")
    assert answer.status_code == 404 and answer.json()["detail"] == "no job 'unknown'"


@pytest.mark.parametrize("size", ["huge", "1001x1001", "0x0", "9000x9000"])
def test_a_bad_size_is_a_422_saying_so(client: httpx.Client, size: str) -> None:
    answer = client.post("/generate/image", json={"prompt": "x", "size": size})
    assert answer.status_code == 422 and "size" in answer.json()["detail"]
