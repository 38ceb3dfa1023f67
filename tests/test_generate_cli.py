"""`turbodraft generate` on the tiny fixture: files, JSON, and exit status 2 with a message on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from turbodraft.cli.generate import register
from turbodraft.models.manifest import REPO_ROOT
from turbodraft.pipeline.compare import psnr
from turbodraft.pipeline.noise import randn

TINY = REPO_ROOT / "fixtures/tiny-sd-turbo"
ORACLE = REPO_ROOT / "fixtures/oracle"


def make_app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """Group, so `generate` is a subcommand as in the real CLI."""

    register(app)
    return app


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(make_app(), ["generate", *args])
    return result.exit_code, result.stdout, result.stderr


def base(out: Path, *extra: str) -> list[str]:
    return ["--model", "tiny-sd-turbo", "--prompt", "a red fox", "--seed", "7", "--out", str(out), *extra]


def test_writes_a_png_of_the_requested_size(tmp_path: Path) -> None:
    out = tmp_path / "fox.png"
    code, _, _ = run(*base(out, "--size", "80x64", "--steps", "2"))
    assert code == 0
    with Image.open(out) as img:
        assert img.size == (80, 64)
    assert [p.name for p in tmp_path.iterdir()] == ["fox.png"]


def test_json_reports_timings_per_stage_and_the_provider(tmp_path: Path) -> None:
    code, stdout, _ = run(*base(tmp_path / "fox.png", "--json"))
    assert code == 0
    summary = json.loads(stdout)
    assert summary["provider"] == "CPUExecutionProvider"
    assert {"tokenize", "text_encoder", "unet", "vae_decoder", "png", "total"} <= summary["timings_ms"].keys()
    assert (summary["width"], summary["height"], summary["steps"], summary["seed"]) == (64, 64, 1, 7)


def test_model_may_be_a_directory_in_the_web_layout(tmp_path: Path) -> None:
    out = tmp_path / "fox.png"
    code, _, _ = run("--model", str(TINY), "--prompt", "a fox", "--out", str(out), "--size", "64x64")
    assert code == 0 and out.is_file()


def test_explicit_latents_equal_the_seed_s_latents(tmp_path: Path) -> None:
    latents = tmp_path / "latents.npy"
    np.save(latents, randn(7, (1, 4, 8, 8)))
    run(*base(tmp_path / "a.png"))
    run(*base(tmp_path / "b.png", "--seed", "0", "--latents", str(latents)))
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


def test_img2img_from_a_png_reproduces_the_diffusers_oracle(tmp_path: Path) -> None:
    cases = json.loads((ORACLE / "cases.json").read_text())["cases"]
    case = next(c for c in cases if c["mode"] == "img2img")
    out = tmp_path / "img2img.png"
    args = ["--model", "tiny-sd-turbo", "--prompt", case["prompt"], "--seed", str(case["seed"])]
    args += ["--steps", str(case["steps"]), "--init-image", str(ORACLE / case["init_image"])]
    code, _, _ = run(*args, "--strength", str(case["strength"]), "--size", "64x64", "--out", str(out))
    assert code == 0
    with Image.open(out) as img:
        pixels = np.asarray(img, dtype=np.float32) / 255
    assert psnr(pixels, np.load(ORACLE / case["image"])) >= 45.0


def test_a_truncated_prompt_is_reported(tmp_path: Path) -> None:
    code, stdout, _ = run(
        "--model", "tiny-sd-turbo", "--prompt", "fox " * 90, "--out", str(tmp_path / "f.png"), "--json"
    )
    assert code == 0
    assert json.loads(stdout)["prompt_truncated"] is True


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--steps", "0"], "steps must be an integer from 1 to 4"),
        (["--steps", "5"], "steps must be an integer from 1 to 4"),
        (["--size", "65x64"], "width must be a multiple of 16"),
        (["--size", "64x512"], "height must be a multiple of 16 from 64 to 256"),
        (["--size", "big"], "size must look like WIDTHxHEIGHT"),
        (["--seed", "-1"], "seed must be an integer in [0, 2**32)"),
        (["--seed", str(2**32)], "seed must be an integer in [0, 2**32)"),
        (["--seed", "1.5"], "Invalid value for '--seed'"),
        (["--strength", "0.5"], "strength applies only with an init image"),
        (["--latents", "missing.npy"], "cannot read latents"),
        (
            ["--init-image", str(ORACLE / "init.png"), "--strength", "1.5"],
            "strength must be a number in (0, 1]",
        ),
        (["--init-image", str(ORACLE / "init.png")], "img2img needs a strength in (0, 1]"),
        (
            ["--init-image", str(ORACLE / "init.png"), "--strength", "0.2"],
            "steps * strength must be at least 1",
        ),
        (["--init-image", str(ORACLE / "cases.json"), "--strength", "0.5"], "cannot read init image"),
    ],
)
def test_bad_input_exits_2_with_the_reason_and_no_traceback(
    tmp_path: Path, extra: list[str], message: str
) -> None:
    out = tmp_path / "fox.png"
    code, stdout, stderr = run(*base(out, *extra))
    assert code == 2
    assert message in " ".join((stdout + stderr).split())
    assert "Traceback" not in stdout + stderr
    assert not out.exists()


def test_unknown_model_exits_2_naming_the_known_ones(tmp_path: Path) -> None:
    code, _, stderr = run("--model", "sd-xl", "--prompt", "x", "--out", str(tmp_path / "x.png"))
    assert code == 2
    assert "unknown model 'sd-xl'" in stderr and "tiny-sd-turbo" in stderr


def test_a_manifest_model_not_yet_pulled_exits_2_with_the_pull_hint(tmp_path: Path) -> None:
    args = [
        "--model",
        "sd-turbo-fp16",
        "--prompt",
        "x",
        "--out",
        str(tmp_path / "x.png"),
        "--data-dir",
        str(tmp_path),
    ]
    code, _, stderr = run(*args)
    assert code == 2
    assert "turbodraft models pull sd-turbo-fp16" in " ".join(stderr.split())
