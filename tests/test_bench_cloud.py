"""Smoke tests of `turbodraft bench cloud`: two finals each way (fake-sdxl handler); the JSON's shape."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def bench_cloud(*args: str, timeout: int = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "turbodraft", "bench", "cloud", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_bench_cloud_reports_the_gateway_overhead_over_direct_calls(tmp_path: Path) -> None:
    out = tmp_path / "cloud.json"
    done = bench_cloud("--handlers", "fake-sdxl", "--runs", "2", "--warmup", "1", "--out", str(out), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert json.loads(out.read_text()) == report
    figures = report["handlers"]["fake-sdxl"]
    assert figures["runs"] == 2
    gateway, direct = figures["gateway"]["median_ms"], figures["direct"]["median_ms"]
    assert figures["overhead_ms"] == round(gateway - direct, 3)
    assert report["overhead_ms"] == figures["overhead_ms"] and report["overhead_handler"] == "fake-sdxl"
    assert set(figures["gateway"]["median_parts_ms"]) == {"submit", "wait", "image"}
    assert figures["direct"]["median_http_requests"] >= 2  # a submission and at least one poll
    assert report["job_input"]["num_inference_steps"] == 1
    assert report["machine"]["gpu"] == "no GPU" and len(report["machine"]["load_average_at_start"]) == 3


def test_bench_cloud_refuses_an_unknown_handler(tmp_path: Path) -> None:
    done = bench_cloud("--handlers", "nope", "--out", str(tmp_path / "x.json"), timeout=60)
    assert done.returncode == 1
    assert "unknown handlers ['nope']" in done.stderr
    assert not (tmp_path / "x.json").exists()
