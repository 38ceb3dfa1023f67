"""Auth, rate limits, budgets, body limits, and the RunPod key never leaving the gateway."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import WEB_DIST
from tests.runpod_support import API_KEY, StartEndpoint
from tests.test_api_v1 import api, finished, usage

pytest_plugins = ["tests.runpod_fixtures"]

TOKEN = "s3cret-token"


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[httpx.Client]:
    with api(tmp_path, api_tokens=[TOKEN]) as client:
        yield client


def test_without_a_token_the_api_answers_401(guarded: httpx.Client) -> None:
    answer = guarded.post("/v1/route", json={})
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"
    assert "Authorization: Bearer" in answer.json()["error"]["message"]


def test_a_wrong_token_is_refused(guarded: httpx.Client) -> None:
    answer = guarded.get("/v1/costs", headers={"Authorization": "Bearer nope"})
    assert answer.status_code == 401


def test_the_right_token_is_accepted(guarded: httpx.Client) -> None:
    answer = guarded.get("/v1/costs", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200


def test_the_legacy_api_needs_the_token_too(guarded: httpx.Client) -> None:
    assert guarded.get("/costs/summary").status_code == 401


BOUND = "alice:her-own-secret"
ROUTE = {"request": {"priority": "draft"}, "capabilities": None}


def test_a_user_bound_token_spends_as_its_user(tmp_path: Path) -> None:
    with api(tmp_path, api_tokens=[BOUND]) as client:
        headers = {"Authorization": f"Bearer {BOUND}"}
        assert client.post("/v1/route", json=ROUTE, headers=headers).status_code == 200
        assert client.post("/v1/route", json=ROUTE, headers={**headers, "X-User-Id": "alice"}).status_code == 200


def test_a_user_bound_token_cannot_act_for_another_user(tmp_path: Path) -> None:
    with api(tmp_path, api_tokens=[BOUND]) as client:
        answer = client.post(
            "/v1/route", json=ROUTE, headers={"Authorization": f"Bearer {BOUND}", "X-User-Id": "bob"}
        )
        assert answer.status_code == 403
        assert "belongs to user 'alice'" in answer.json()["error"]["message"]


def test_a_user_bound_token_cannot_name_another_user_in_the_legacy_body(tmp_path: Path) -> None:
    with api(tmp_path, api_tokens=[BOUND]) as client:
        answer = client.post(
            "/generate/image",
            json={"prompt": "x", "priority": "draft", "user_id": "bob"},
            headers={"Authorization": f"Bearer {BOUND}"},
        )
        assert answer.status_code == 403


def test_health_stays_open_behind_tokens(guarded: httpx.Client) -> None:
    assert guarded.get("/health").status_code == 200


def test_a_user_over_the_rate_limit_gets_429_with_retry_after(tmp_path: Path) -> None:
    with api(tmp_path, rate_limit_per_minute=3) as client:
        alice = {"X-User-Id": "alice"}
        codes = [client.post("/v1/route", json={}, headers=alice).status_code for _ in range(4)]
        refused = client.post("/v1/route", json={}, headers=alice)
        other = client.post("/v1/route", json={}, headers={"X-User-Id": "bob"})
    assert codes == [200, 200, 200, 429]
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert "more than 3 requests in a minute" in refused.json()["error"]["message"]
    assert other.status_code == 200


def test_reads_do_not_count_against_the_rate_limit(tmp_path: Path) -> None:
    with api(tmp_path, rate_limit_per_minute=1) as client:
        codes = {client.get("/v1/costs").status_code for _ in range(5)}
    assert codes == {200}


def test_an_invalid_user_id_is_refused(tmp_path: Path) -> None:
    with api(tmp_path) as client:
        answer = client.post("/v1/route", json={}, headers={"X-User-Id": "not valid!"})
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_user"


def cloud(tmp_path: Path, start_endpoint: StartEndpoint, **overrides: object) -> object:
    endpoint = start_endpoint()
    return api(
        tmp_path,
        runpod_api_key=API_KEY,
        runpod_endpoint_id="local",
        runpod_base_url=endpoint.base_url,
        **overrides,
    )


def test_a_final_over_the_daily_budget_is_refused_with_402(
    tmp_path: Path, start_endpoint: StartEndpoint
) -> None:
    with cloud(tmp_path, start_endpoint, daily_budget_usd=0.001) as client:  # type: ignore[attr-defined]
        answer = client.post(
            "/v1/jobs", json={"prompt": "x", "priority": "final", "width": 1024, "height": 1024}
        )
    assert answer.status_code == 402
    error = answer.json()["error"]
    assert error["code"] == "over-budget"
    assert "daily budget" in error["message"]


def test_browser_drafts_stay_free_of_the_budget(tmp_path: Path, start_endpoint: StartEndpoint) -> None:
    with cloud(tmp_path, start_endpoint, daily_budget_usd=0.0) as client:  # type: ignore[attr-defined]
        report = client.post("/v1/usage", json=usage("d-1"))
    assert report.status_code == 201


def test_the_budget_counts_finals_still_in_flight(tmp_path: Path, start_endpoint: StartEndpoint) -> None:
    # A 1024x1024 final is estimated at 8 billed seconds x $0.00019 = $0.00152: the budget holds one,
    # and the first one's estimate stays reserved while it runs.
    endpoint = start_endpoint(handler=_slow_handler)
    final = {"prompt": "x", "priority": "final", "width": 1024, "height": 1024}
    with api(
        tmp_path,
        runpod_api_key=API_KEY,
        runpod_endpoint_id="local",
        runpod_base_url=endpoint.base_url,
        daily_budget_usd=0.002,
    ) as client:
        first = client.post("/v1/jobs", json=final)
        second = client.post("/v1/jobs", json=final)
        client.post(f"/v1/jobs/{first.json()['id']}/cancel")
        third = client.post("/v1/jobs", json=final)
        client.post(f"/v1/jobs/{third.json()['id']}/cancel")
    assert first.status_code == 202
    assert second.status_code == 402
    assert third.status_code == 202  # the cancelled job's reservation was released


def _slow_handler(job_input: dict[str, object], cancelled: threading.Event) -> object:
    cancelled.wait(30)
    return {"images": []}


def test_a_body_over_the_limit_is_a_413_with_a_message(tmp_path: Path) -> None:
    with api(tmp_path, max_body_bytes=1000) as client:
        answer = client.post("/v1/jobs", content=b"{" + b" " * 2000 + b"}")
    assert answer.status_code == 413
    assert "1000-byte limit" in answer.json()["error"]["message"]


def test_a_chunked_body_over_the_limit_is_a_413(tmp_path: Path) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b" " * 100

    with api(tmp_path, max_body_bytes=1000) as client:
        answer = client.post("/v1/usage", content=chunks(), headers={"content-type": "application/json"})
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "body_too_large"


FAKE_KEY = "rpa_LEAKCHECK0123456789abcdefLEAK"


def test_the_runpod_key_is_in_no_api_response(tmp_path: Path, start_endpoint: StartEndpoint) -> None:
    endpoint = start_endpoint(api_key=FAKE_KEY)
    png = base64.b64encode(_png()).decode()
    with api(
        tmp_path, runpod_api_key=FAKE_KEY, runpod_endpoint_id="local", runpod_base_url=endpoint.base_url
    ) as client:
        job = client.post("/v1/jobs", json={"prompt": "x", "priority": "final"}).json()
        finished(client, job["id"])
        legacy = client.post("/generate/image", json={"prompt": "x", "wait": True}).json()
        answers = [
            client.post("/v1/route", json={"request": {"priority": "final"}}),
            client.post(
                "/v1/jobs", json={"prompt": "x", "priority": "final", "initImage": png, "strength": 0.5}
            ),
            client.post("/v1/usage", json=usage("u-1")),
            client.post("/v1/jobs", json={"prompt": ""}),
        ]
        paths = [p for p in client.get("/openapi.json").json()["paths"] if "{" not in p]
        paths += [
            f"/v1/jobs/{job['id']}",
            f"/v1/jobs/{job['id']}/image",
            f"/job/{legacy['job_id']}",
            "/docs",
            "/openapi.json",
            "/models/manifest.json",
            "/",
        ]
        answers += [client.get(p) for p in paths]
    assert job["status"] == "queued"
    for answer in answers:
        assert FAKE_KEY.encode() not in answer.content, answer.request.url
        assert b"LEAKCHECK" not in answer.content, answer.request.url
        assert FAKE_KEY not in str(answer.headers)


def test_the_built_web_bundle_holds_no_runpod_key_or_setting() -> None:
    assert (WEB_DIST / "index.html").is_file(), "build the web app first (make test does)"
    for path in WEB_DIST.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert b"TURBODRAFT_RUNPOD" not in data, path
            assert b"RUNPOD_API_KEY" not in data, path
            assert b"api.runpod.ai" not in data, path


def _png() -> bytes:
    from turbodraft.providers.handlers import tiny_png

    return tiny_png(1, 64, 64)
