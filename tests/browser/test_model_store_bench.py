"""Smoke test of `turbodraft bench download` on a small file (the committed 1 GiB figure is not run in tests).

In a subprocess: the benchmark drives its own Playwright, which cannot share a process with the tests' one.
"""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO

CLI = """
import typer
from turbodraft.cli.bench_download import register
app = typer.Typer()
register(app)
app.command("noop")(lambda: None)  # two commands, so `download` stays a subcommand
app()
"""


def test_bench_download_reports_browser_and_curl_rates_and_their_ratio() -> None:
    args = ["download", "--size-mb", "8", "--chunk-mb", "2", "--hash-chunk-mb", "1", "--runs", "1", "--json"]
    done = subprocess.run(
        [sys.executable, "-c", CLI, *args], cwd=REPO, capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["size_bytes"] == 8 * 1024 * 1024
    assert report["browser"]["verified_sha256"] is True
    assert report["chunk_hash_bytes"] == 1024 * 1024 and "per-chunk sha256" in report["browser"]["verification"]
    assert report["browser"]["rate_mb_s"] > 0 and report["curl"]["best_rate_mb_s"] > 0
    assert report["ratio_vs_curl"] == round(report["browser"]["rate_mb_s"] / report["curl"]["best_rate_mb_s"], 3)
    assert report["machine"]["cores"] >= 1
