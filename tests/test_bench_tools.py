"""`turbodraft bench tools`, Python side only (the browser side is what tests/browser checks): JSON that names
the machine and has a warm figure per tool and for the sketch."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from turbodraft.cli import app


def test_bench_tools_writes_figures_per_tool_and_the_machine(tmp_path: Path) -> None:
    out = tmp_path / "tools.json"
    result = CliRunner().invoke(
        app,
        [
            "bench",
            "tools",
            "--backends",
            "python",
            "--runs",
            "1",
            "--warmup",
            "0",
            "--models",
            "tiny-realesrgan-x2plus,tiny-isnet-general-use",
            "--upscale-side",
            "33",
            "--out",
            str(out),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["benchmark"] == "tools"
    assert data["machine"]["cores"] >= 1 and "cpu_model" in data["machine"]
    assert set(data["python"]) == {"tiny-realesrgan-x2plus", "tiny-isnet-general-use", "sketch"}
    assert data["inputs"]["tiny-realesrgan-x2plus"]["input"] == [32, 32]  # an x2 model takes even sides
    assert data["python"]["tiny-isnet-general-use"]["warm"]["median_ms"] > 0


def test_bench_tools_names_a_model_that_is_not_here() -> None:
    result = CliRunner().invoke(app, ["bench", "tools", "--backends", "python", "--models", "u2netp"])
    assert result.exit_code == 1
    assert "turbodraft models pull u2netp" in result.output
