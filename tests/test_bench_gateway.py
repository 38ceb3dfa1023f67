"""Smoke test of `turbodraft bench gateway`: a one-second run against a gateway in another process; the JSON's shape."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def test_bench_gateway_reports_throughput_and_latency_to_stdout_and_file(tmp_path: Path) -> None:
    out = tmp_path / "results" / "gateway.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "turbodraft",
            "bench",
            "gateway",
            "--connections",
            "2",
            "--duration",
            "1",
            "--json",
            "--out",
            str(out),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert json.loads(out.read_text()) == report
    assert report["req_per_s"] > 0 and report["p50_ms"] <= report["p99_ms"]
    assert report["machine"]["cores"] >= 1
