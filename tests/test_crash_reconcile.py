"""A gateway killed with kill -9 leaves no money reserved and no billed second unrecorded once it restarts.

The gateway runs as a real process (`python -m turbodraft serve`) against a local RunPod-compatible endpoint that
plays RunPod proper (billed); the test kills it mid-job and starts a new one on the same data dir.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.conftest import REPO, WEB_DIST, free_port
from tests.runpod_support import API_KEY, RunningEndpoint, StartEndpoint
from turbodraft.providers.handlers import JobCancelledError, fake_sdxl_handler
from turbodraft.providers.runpod_local import Fault, FaultKind

pytest_plugins = ["tests.runpod_fixtures"]

RATE = 0.00019
FINAL = {"prompt": "a harbour", "priority": "final", "width": 1024, "height": 1024}  # $0.00152 reserved


#: Seeds choose what the worker does: finish 2.5 s after it starts, or run until it is cancelled.
FINISHES, RUNS_ON = 1, 2


def _worker(job_input: dict[str, object], cancelled: threading.Event) -> object:
    if job_input.get("seed") == FINISHES:
        if cancelled.wait(2.5):
            raise JobCancelledError("cancelled")
        return fake_sdxl_handler({"seed": FINISHES}, threading.Event())
    cancelled.wait(60)
    raise JobCancelledError("cancelled")


@contextlib.contextmanager
def gateway_process(data_dir: Path, endpoint: RunningEndpoint) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TURBODRAFT_")},
        "TURBODRAFT_RUNPOD_API_KEY": API_KEY,
        "TURBODRAFT_RUNPOD_ENDPOINT_ID": "local",
        "TURBODRAFT_RUNPOD_BASE_URL": endpoint.base_url,
        "TURBODRAFT_SERVER_MODEL": "no-such-model",
        "TURBODRAFT_DAILY_BUDGET_USD": "0.0031",  # two finals' estimates, not three
        "TURBODRAFT_RATE_LIMIT_PER_MINUTE": "0",
        "TURBODRAFT_WEB_DIR": str(WEB_DIST),
    }
    command = [sys.executable, "-m", "turbodraft", "serve", "--port", str(port), "--data-dir", str(data_dir)]
    process = subprocess.Popen([*command, "--log-level", "warning", "--no-access-log"], cwd=REPO, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, "the gateway exited at start"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            assert time.monotonic() < deadline, "the gateway did not start"
            time.sleep(0.1)
        yield process, url
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_for(condition: object, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def live_rows(ledger: Path) -> list[tuple[str, str, str | None]]:
    with sqlite3.connect(ledger) as db:
        return db.execute(
            "SELECT generation_id, status, external_job_id FROM generations "
            "WHERE status IN ('queued', 'running') ORDER BY created_at"
        ).fetchall()


def test_after_kill_9_a_restart_settles_every_job_and_releases_its_reservation(
    tmp_path: Path, start_endpoint: StartEndpoint
) -> None:
    # Three jobs in flight when the gateway dies: one that RunPod completes while no gateway runs, one that
    # would run on forever (carol's, so her spend does not touch the default user's budget), and one whose /run
    # is held up long enough to be in flight at the kill, so its row has no RunPod id.
    endpoint = start_endpoint(
        handler=_worker, faults=[Fault(FaultKind.LATENCY, ops=frozenset({"run"}), first=3, delay_s=20)]
    )
    carol = {"X-User-Id": "carol"}
    data_dir = tmp_path / "data"
    with gateway_process(data_dir, endpoint) as (process, url), httpx.Client(base_url=url, timeout=30) as client:
        completes = client.post("/v1/jobs", json={**FINAL, "seed": FINISHES}).json()["id"]
        runs_on = client.post("/v1/jobs", json={**FINAL, "seed": RUNS_ON}, headers=carol).json()["id"]
        wait_for(lambda: len(endpoint.books().job_inputs) == 2)
        time.sleep(1.2)  # carol's job has run into its second billed second
        submitting = client.post("/v1/jobs", json={**FINAL, "seed": RUNS_ON}).json()["id"]
        time.sleep(0.3)
        over = client.post("/v1/jobs", json=FINAL)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    assert over.status_code == 402  # two estimates were held against a budget of two and a bit
    rows = live_rows(data_dir / "ledger.sqlite")
    assert [r[0] for r in rows] == [completes, runs_on, submitting]  # the crash left them all in flight
    ids = {job_input["seed"]: job_id for job_id, job_input in endpoint.books().job_inputs.items()}
    assert [r[2] for r in rows] == [ids[FINISHES], ids[RUNS_ON], None]
    wait_for(lambda: endpoint.books().billed_seconds_for(ids[FINISHES]) > 0)  # RunPod finished it meanwhile

    with gateway_process(data_dir, endpoint) as (_, url), httpx.Client(base_url=url, timeout=30) as client:
        done = client.get(f"/v1/jobs/{completes}").json()
        image = client.get(f"/v1/jobs/{completes}/image")
        cancelled = client.get(f"/v1/jobs/{runs_on}", headers=carol).json()
        lost = client.get(f"/v1/jobs/{submitting}").json()
        fresh = client.post("/v1/jobs", json=FINAL)
        if fresh.status_code == 202:
            client.post(f"/v1/jobs/{fresh.json()['id']}/cancel")

    books = endpoint.books()
    assert done["status"] == "completed" and image.content.startswith(b"\x89PNG")
    assert done["billedSeconds"] == books.billed_seconds_for(ids[FINISHES]) == 3
    assert done["costUsd"] == round(3 * RATE, 6)
    # Nobody waited for carol's job any more: cancelled on RunPod, and what RunPod billed recorded.
    carols = books.billed_seconds_for(ids[RUNS_ON])
    assert cancelled["status"] == "cancelled" and carols >= 2
    assert cancelled["billedSeconds"] == carols and cancelled["costUsd"] == round(carols * RATE, 6)
    assert lost["status"] == "failed" and "stopped" in lost["error"]
    assert live_rows(data_dir / "ledger.sqlite") == []
    assert fresh.status_code == 202, fresh.text  # 3 billed s spent, no reservation left: a final fits again
