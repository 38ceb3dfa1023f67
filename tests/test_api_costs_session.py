"""A scripted session: 10 browser drafts and 1 final, seen in /v1/costs and `turbodraft costs`, and kept
across a gateway restart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.test_api_v1 import api, finished, usage
from turbodraft.cli import app as cli

#: 8 s at $0.00019/s: what the final would have cost on RunPod; a draft 2 s.
FINAL_AVOIDED = 8 * 0.00019
DRAFT_AVOIDED = 2 * 0.00019
ADA = {"X-User-Id": "ada"}


def session(tmp_path: Path) -> None:
    with api(tmp_path) as client:
        for i in range(10):
            assert (
                client.post("/v1/usage", json=usage(f"draft-{i}"), headers={"X-User-Id": "ada"}).status_code
                == 201
            )
        job = client.post(
            "/v1/jobs", json={"prompt": "a harbour", "priority": "final"}, headers={"X-User-Id": "ada"}
        )
        assert finished(client, job.json()["id"], ADA)["status"] == "completed"


def check(summary: dict[str, object]) -> None:
    today = summary["today"]
    assert isinstance(today, dict)
    assert today["total_count"] == 11
    assert (today["local_count"], today["cloud_count"]) == (11, 0)  # the local RunPod server is free
    assert today["total_cost_usd"] == 0.0
    savings = summary["savings"]
    assert isinstance(savings, dict)
    assert savings["all_runpod_cost_usd"] == pytest.approx(10 * DRAFT_AVOIDED + FINAL_AVOIDED)
    assert savings["saved_fraction"] == 1.0


def test_the_session_shows_in_v1_costs_and_survives_a_restart(tmp_path: Path) -> None:
    session(tmp_path)
    with api(tmp_path) as client:  # a new app on the same data dir
        check(client.get("/v1/costs", headers=ADA).json())


def test_the_session_shows_in_turbodraft_costs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    session(tmp_path)
    monkeypatch.setenv("TURBODRAFT_DATA_DIR", str(tmp_path / "data"))
    result = CliRunner().invoke(cli, ["costs", "--json"])
    assert result.exit_code == 0, result.output
    check(json.loads(result.output))
