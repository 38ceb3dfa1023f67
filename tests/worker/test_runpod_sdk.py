"""The module runs as a RunPod worker: the runpod SDK's local one-job mode calls our handler and succeeds."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_runpod_serverless_runs_one_job_through_the_handler(worker_env: Path) -> None:
    job = {"input": {"prompt": "a fox", "width": 64, "height": 64, "steps": 2, "seed": 3}}
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    result = subprocess.run(
        [sys.executable, "-m", "turbodraft.worker.handler", "--test_input", json.dumps(job)],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        cwd=REPO,
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    assert "Job local_test completed successfully." in log
    # The SDK logs the output cut in the middle: its start shows worker-sdxl's shape and a PNG signature.
    assert "Job result: {'output': {'images': ['data:image/png;base64,iVBORw0KGgo" in log


def isolated_pythonpath(first: Path) -> str:
    """``first``, then the current PYTHONPATH without any folder that holds another turbodraft package."""
    inherited = [entry for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep) if entry]
    kept = [entry for entry in inherited if not (Path(entry) / "turbodraft").exists()]
    return os.pathsep.join([str(first), *kept])


def test_worker_package_runs_without_the_rest_of_turbodraft(tmp_path: Path) -> None:
    # The Docker image copies only turbodraft/__init__.py and turbodraft/worker/: mirror that layout.
    package = tmp_path / "turbodraft"
    shutil.copytree(REPO / "src" / "turbodraft" / "worker", package / "worker")
    shutil.copy(REPO / "src" / "turbodraft" / "__init__.py", package / "__init__.py")
    script = (
        "from turbodraft.worker.handler import handle; import turbodraft.worker.bake; "
        "print(handle({'prompt': 'a fox', 'steps': 0}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": isolated_pythonpath(tmp_path)},
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "steps: Input should be greater than or equal to 1" in result.stdout
