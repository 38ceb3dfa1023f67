"""The versioned API: routing plans, server-side jobs with long-poll and cancel, usage reports, costs."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import WEB_DIST, start_server, stop_server
from turbodraft.config import Settings
from turbodraft.gateway import create_app

#: The fake worker-sdxl handler answers in milliseconds: these tests are about the API, not the model.
FAST = {"runpod_local_handler": "fake-sdxl", "server_model": "no-such-model"}


@contextlib.contextmanager
def api(tmp_path: Path, **overrides: Any) -> Iterator[httpx.Client]:
    settings = Settings(data_dir=tmp_path / "data", web_dir=WEB_DIST, **{**FAST, **overrides})
    running, thread = start_server(create_app(settings))
    try:
        with httpx.Client(base_url=running.url, timeout=30) as client:
            yield client
    finally:
        stop_server(running, thread)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[httpx.Client]:
    with api(tmp_path) as c:
        yield c


def finished(client: httpx.Client, job_id: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = client.get(f"/v1/jobs/{job_id}", params={"wait": 20000}, headers=headers).json()
    assert body["status"] in ("completed", "failed", "cancelled"), body
    return body


def usage(report_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": report_id,
        "backend": "webgpu-fp16",
        "variant": "sd-turbo-fp16",
        "width": 512,
        "height": 512,
        "stagesMs": {"text_encoder": 30.0, "unet": 600.0, "vae_decoder": 120.0},
        **fields,
    }


def test_route_plans_a_draft_for_a_capable_browser_and_reports_the_gateway(client: httpx.Client) -> None:
    caps = {
        "hasWebGPU": True,
        "shaderF16": True,
        "localModel": {"variant": "sd-turbo-fp16", "state": "ready"},
    }
    body = client.post("/v1/route", json={"request": {"priority": "draft"}, "capabilities": caps}).json()
    assert [s["target"] for s in body["plan"]["steps"]] == ["browser", "server", "runpod"]
    assert body["gateway"]["runpod"] == {"enabled": True, "mode": "local"}
    assert body["gateway"]["server"]["concurrency"] == 1


def test_route_refuses_an_impossible_local_request_with_reasons(client: httpx.Client) -> None:
    body = client.post("/v1/route", json={"request": {"mode": "local", "steps": 30}}).json()
    assert body["plan"]["steps"] == []
    assert body["plan"]["refusals"][0]["code"] == "local-unavailable"


def test_a_final_runs_on_the_local_runpod_server_and_serves_its_png(client: httpx.Client) -> None:
    created = client.post("/v1/jobs", json={"prompt": "a lighthouse", "priority": "final", "seed": 5})
    assert created.status_code == 202
    job = finished(client, created.json()["id"])
    assert job["status"] == "completed"
    assert job["target"] == "runpod" and job["billed"] is False and job["costUsd"] == 0.0
    assert job["attempts"] == [{"target": "runpod", "error": None, "ms": job["attempts"][0]["ms"]}]
    image = client.get(job["imageUrl"])
    assert image.headers["content-type"] == "image/png"
    assert image.content.startswith(b"\x89PNG")


def test_job_defaults_are_reported_back(client: httpx.Client) -> None:
    job = client.post("/v1/jobs", json={"prompt": "x", "priority": "final"}).json()
    assert job["steps"] == 25 and job["width"] == 512 and 0 <= job["seed"] < 2**32


def test_a_wait_of_zero_answers_at_once(client: httpx.Client) -> None:
    created = client.post("/v1/jobs", json={"prompt": "x", "priority": "final"}).json()
    answer = client.get(f"/v1/jobs/{created['id']}", params={"wait": 0})
    assert answer.status_code == 200 and answer.json()["id"] == created["id"]


def test_an_unknown_job_is_a_404_with_a_message(client: httpx.Client) -> None:
    answer = client.get("/v1/jobs/nope")
    assert answer.status_code == 404
    assert answer.json()["error"] == {"code": "not_found", "message": "no job 'nope'", "details": None}


def test_an_image_of_an_unknown_job_is_a_404(client: httpx.Client) -> None:
    assert client.get("/v1/jobs/nope/image").json()["error"]["code"] == "not_found"


def test_cancelling_a_finished_job_is_a_conflict(client: httpx.Client) -> None:
    job = client.post("/v1/jobs", json={"prompt": "x", "priority": "final"}).json()
    finished(client, job["id"])
    answer = client.post(f"/v1/jobs/{job['id']}/cancel")
    assert answer.status_code == 409
    assert "already completed" in answer.json()["error"]["message"]


def test_a_usage_report_is_recorded_once_per_id(client: httpx.Client) -> None:
    first = client.post("/v1/usage", json=usage("draft-1"))
    again = client.post("/v1/usage", json=usage("draft-1"))
    assert (first.status_code, first.json()["recorded"]) == (201, True)
    assert (again.status_code, again.json()["recorded"]) == (200, False)
    assert client.get("/v1/costs").json()["today"]["local_count"] == 1


def test_a_usage_report_with_a_server_backend_is_refused(client: httpx.Client) -> None:
    answer = client.post("/v1/usage", json=usage("d", backend="cpu"))
    assert answer.status_code == 422
    assert "browser reports" in answer.json()["error"]["message"]


def test_costs_give_a_series_of_the_days_asked(client: httpx.Client) -> None:
    body = client.get("/v1/costs", params={"days": 7}).json()
    assert len(body["days"]) == 7
    assert set(body["savings"]) == {"actual_cost_usd", "all_runpod_cost_usd", "saved_usd", "saved_fraction"}


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"prompt": ""}, "prompt"),
        ({"prompt": "x" * 2001}, "prompt"),
        ({"prompt": "x", "width": 100}, "width"),
        ({"prompt": "x", "width": 4096}, "width"),
        ({"prompt": "x", "steps": 0}, "steps"),
        ({"prompt": "x", "priority": "urgent"}, "priority"),
        ({"prompt": "x", "seed": -1}, "seed"),
        ({"prompt": "x", "strength": 0.5}, "strength applies only"),
    ],
)
def test_bad_job_input_is_a_422_naming_the_field(
    client: httpx.Client, body: dict[str, Any], where: str
) -> None:
    answer = client.post("/v1/jobs", json=body)
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "invalid_request" and where in error["message"]
    assert answer.json()["detail"] == error["message"]


def test_an_init_image_that_is_not_an_image_is_refused(client: httpx.Client) -> None:
    answer = client.post("/v1/jobs", json={"prompt": "x", "initImage": "aGVsbG8=", "strength": 0.5})
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "invalid_init_image"


def test_an_init_image_over_its_limit_is_a_413(tmp_path: Path) -> None:
    with api(tmp_path, max_init_image_bytes=100) as client:
        answer = client.post("/v1/jobs", json={"prompt": "x", "initImage": "A" * 400})
    assert answer.status_code == 413
    assert "max_init_image_bytes" in answer.json()["error"]["message"]


def test_openapi_is_published(client: httpx.Client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/route", "/v1/jobs", "/v1/jobs/{job_id}", "/v1/usage", "/v1/costs"} <= set(paths)
    assert client.get("/docs").status_code == 200
