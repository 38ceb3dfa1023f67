"""Smoke tests of `turbodraft bench engine`: a cold and a warm run per engine; the JSON's shape, no timings.

In a subprocess: the benchmark drives its own Playwright, which cannot share a process with the tests' one.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

STAGES = {"tokenize", "text_encoder", "unet", "unet_per_step", "vae_decoder", "png", "other", "total"}


def bench_engine(*args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "turbodraft", "bench", "engine", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.browser
def test_bench_engine_writes_cold_and_warm_stages_of_the_twin_wasm_and_webgpu(tmp_path: Path) -> None:
    out = tmp_path / "engine.json"
    done = bench_engine(
        "--runs", "1", "--warmup", "0", "--webgpu-runs", "1", "--webgpu-warmup", "0",
        "--out", str(out), "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert json.loads(out.read_text()) == report
    assert report["model"] == "tiny-sd-turbo"
    assert report["request"]["width"] == report["request"]["height"] == 64
    assert report["machine"]["gpu"] == "no GPU" and report["machine"]["cores"] >= 1
    assert len(report["machine"]["load_average_at_start"]) == 3
    for engine in ("python_twin", "wasm", "webgpu"):
        figures = report[engine]
        assert set(figures["cold_ms"]) == STAGES | {"load"}, engine
        assert set(figures["warm"]["median_ms"]) == STAGES, engine
        assert figures["warm"]["runs"] == 1
        assert figures["sessions_created"] == 3
    assert report["wasm"]["backend"] == "wasm"
    assert report["webgpu"]["backend"] == "webgpu"
    assert report["webgpu"]["adapter"]["architecture"]
    assert isinstance(report["webgpu"]["software"], bool)
    assert set(report["summary_warm_total_ms"]) == {"python_twin", "wasm", "webgpu"}


def test_bench_engine_python_twin_alone_needs_no_browser(tmp_path: Path) -> None:
    out = tmp_path / "engine.json"
    done = bench_engine("--backends", "python", "--runs", "2", "--warmup", "0", "--out", str(out))
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert report["python_twin"]["warm"]["runs"] == 2
    assert report["python_twin"]["provider"] == "CPUExecutionProvider"
    assert "wasm" not in report and "webgpu" not in report
    assert "python_twin" in done.stdout and "no GPU" in done.stdout


def test_bench_engine_refuses_an_unknown_model_by_name(tmp_path: Path) -> None:
    done = bench_engine("--model", "no-such-model", "--out", str(tmp_path / "x.json"), timeout=60)
    assert done.returncode == 1
    assert "unknown model 'no-such-model'" in done.stderr and "tiny-sd-turbo" in done.stderr
    assert not (tmp_path / "x.json").exists()


def test_bench_engine_refuses_an_unknown_backend(tmp_path: Path) -> None:
    done = bench_engine("--backends", "python,cuda", "--out", str(tmp_path / "x.json"), timeout=60)
    assert done.returncode == 1
    assert "cuda" in done.stderr
