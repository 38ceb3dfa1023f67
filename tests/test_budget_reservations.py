"""No path spends past the budget: whatever can reach RunPod proper reserves its estimate before it is accepted."""

from __future__ import annotations

import concurrent.futures
import sqlite3
import threading
from pathlib import Path
from typing import Any

from tests.runpod_support import API_KEY, StartEndpoint
from tests.test_api_v1 import api, finished

pytest_plugins = ["tests.runpod_fixtures"]

#: 2048x2048, 150 steps: about 16 x 150 x 2 s = 4800 billed s on RunPod, far over a cent.
BIG_DRAFT = {"prompt": "x", "priority": "draft", "mode": "cloud", "width": 2048, "height": 2048, "steps": 150}
#: A 1024x1024 final is 8 billed s x $0.00019 = $0.00152.
FINAL = {"prompt": "x", "priority": "final", "width": 1024, "height": 1024}


def cloud(tmp_path: Path, start_endpoint: StartEndpoint, handler: Any = None, **overrides: Any) -> Any:
    endpoint = start_endpoint(handler=handler) if handler else start_endpoint()
    return api(
        tmp_path,
        runpod_api_key=API_KEY,
        runpod_endpoint_id="local",
        runpod_base_url=endpoint.base_url,
        rate_limit_per_minute=0,
        **overrides,
    )


def _until_cancelled(job_input: dict[str, object], cancelled: threading.Event) -> object:
    cancelled.wait(30)
    return {"images": []}


def test_a_billed_draft_over_the_budget_is_refused_with_402(tmp_path: Path, start_endpoint: StartEndpoint) -> None:
    with cloud(tmp_path, start_endpoint, daily_budget_usd=0.01) as client:
        draft = client.post("/v1/jobs", json=BIG_DRAFT)
        final = client.post("/v1/jobs", json={**BIG_DRAFT, "priority": "final"})
    assert (draft.status_code, final.status_code) == (402, 402)
    assert draft.json()["error"]["code"] == "over-budget"
    assert "daily budget" in draft.json()["error"]["message"]


def test_a_draft_whose_only_billed_step_is_a_fallback_leaves_it_out_when_over_budget(
    tmp_path: Path, start_endpoint: StartEndpoint
) -> None:
    # An auto draft plans server then RunPod; with no budget the billed fallback is not planned at all, so the
    # failing server step ends the job instead of spending.
    with cloud(tmp_path, start_endpoint, daily_budget_usd=0.0, server_model="no-such-model") as client:
        created = client.post("/v1/jobs", json={"prompt": "x", "width": 64, "height": 64})
        job = finished(client, created.json()["id"])
    assert created.status_code == 202
    assert [s["target"] for s in job["plan"]["steps"]] == ["server"]
    assert any("daily budget" in s["reason"] for s in job["plan"]["skipped"])
    assert job["status"] == "failed" and job["costUsd"] == 0.0


def test_a_billed_draft_holds_its_reservation_while_it_runs(tmp_path: Path, start_endpoint: StartEndpoint) -> None:
    with cloud(tmp_path, start_endpoint, _until_cancelled, daily_budget_usd=0.002) as client:
        draft = {"prompt": "x", "priority": "draft", "mode": "cloud", "width": 1024, "height": 1024, "steps": 2}
        first = client.post("/v1/jobs", json=draft)  # 4 x 2 x 2 s = 16 s estimated: $0.00304 > $0.002
        small = {**draft, "width": 512, "height": 512, "steps": 1}  # 2 s: $0.00038
        held = client.post("/v1/jobs", json=small)
        more = [client.post("/v1/jobs", json=small) for _ in range(5)]
        for answer in [held, *more]:
            if answer.status_code == 202:
                client.post(f"/v1/jobs/{answer.json()['id']}/cancel")
        refused = [answer.status_code for answer in more]
    assert first.status_code == 402
    assert held.status_code == 202
    # 0.002 / 0.00038 = 5.26: the held job and four more fit, the fifth does not.
    assert refused == [202, 202, 202, 202, 402]


def test_a_free_first_attempt_holds_what_its_billed_fallback_may_spend(
    tmp_path: Path, start_endpoint: StartEndpoint
) -> None:
    with cloud(tmp_path, start_endpoint, server_model="no-such-model") as client:
        job = client.post("/v1/jobs", json={"prompt": "x", "width": 64, "height": 64}).json()
        done = finished(client, job["id"])
    with sqlite3.connect(tmp_path / "data" / "ledger.sqlite") as db:
        rows = db.execute(
            "SELECT generation_id, target, status, reserved_usd FROM generations WHERE job_id = ? ORDER BY created_at",
            (job["id"],),
        ).fetchall()
    assert done["status"] == "completed"
    assert [(r[1], r[2]) for r in rows] == [("server", "failed"), ("runpod", "completed")]
    assert all(r[3] == 0.0 for r in rows)  # released once each ended
    assert job["plan"]["steps"][1]["billed"] is True


def test_the_first_attempt_row_reserves_the_billed_fallback_estimate(
    tmp_path: Path, start_endpoint: StartEndpoint
) -> None:
    # Seen while the job's server step has not ended: its row already holds the RunPod step's estimate.
    with cloud(tmp_path, start_endpoint, server_model="tiny-sd-turbo", daily_budget_usd=1.0) as client:
        job = client.post("/v1/jobs", json={"prompt": "x", "width": 64, "height": 64}).json()
        with sqlite3.connect(tmp_path / "data" / "ledger.sqlite") as db:
            reserved = db.execute(
                "SELECT reserved_usd FROM generations WHERE generation_id = ?", (job["id"],)
            ).fetchone()
        finished(client, job["id"])
    runpod_step = job["plan"]["steps"][-1]
    assert runpod_step["target"] == "runpod" and runpod_step["billed"] is True
    assert reserved[0] == runpod_step["estimatedCostUsd"] > 0


def test_concurrent_finals_cannot_share_one_remaining_budget(tmp_path: Path, start_endpoint: StartEndpoint) -> None:
    with cloud(tmp_path, start_endpoint, _until_cancelled, daily_budget_usd=0.005) as client:
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: client.post("/v1/jobs", json=FINAL), range(8)))
        accepted = [a.json()["id"] for a in answers if a.status_code == 202]
        for job_id in accepted:
            client.post(f"/v1/jobs/{job_id}/cancel")
    # $0.005 holds three $0.00152 finals, never four.
    assert len(accepted) == 3
    assert sorted(a.status_code for a in answers) == [202] * 3 + [402] * 5
