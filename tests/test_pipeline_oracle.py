"""The Python twin against diffusers (fixtures/oracle, made by diffusers' own pipelines on the tiny models).

Done means: every oracle image is reproduced within PSNR >= 45 dB, and each known mistake (timestep 1000,
pad id 49407, no UNet input scaling, no VAE unscaling) falls far below that, so the comparison can fail.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from turbodraft.models.manifest import REPO_ROOT, Family
from turbodraft.pipeline import GenerateRequest, Pipeline
from turbodraft.pipeline.compare import psnr
from turbodraft.pipeline.images import load_init_image
from turbodraft.pipeline.noise import randn
from turbodraft.pipeline.recipe import DIFFUSERS, Recipe
from turbodraft.pipeline.sessions import ModelFiles

ORACLE = REPO_ROOT / "fixtures/oracle"
CASES: list[dict[str, Any]] = json.loads((ORACLE / "cases.json").read_text())["cases"]
TXT2IMG = [c for c in CASES if c["mode"] == "txt2img"]
IMG2IMG = [c for c in CASES if c["mode"] == "img2img"]
THRESHOLD_DB = 45.0
#: A mistake must cost this much more than the threshold allows ("well below").
MISTAKE_MARGIN_DB = 10.0


def load(name: str) -> npt.NDArray[np.float32]:
    return np.asarray(np.load(ORACLE / name), dtype=np.float32)


def init_pixels(case: dict[str, Any]) -> npt.NDArray[np.float32]:
    name = case["init_image"]
    if not name.endswith(".npy"):
        return load_init_image(ORACLE / name, case["width"], case["height"])
    pixels = load(name)
    return pixels[0] if pixels.ndim == 4 else pixels


def as_request(case: dict[str, Any], *, explicit_noise: bool = True) -> GenerateRequest:
    img2img = case["mode"] == "img2img"
    noise_file = case["noise"] if img2img else case["latents"]
    return GenerateRequest(
        prompt=case["prompt"],
        seed=case["seed"],
        steps=case["steps"],
        width=case["width"],
        height=case["height"],
        init_image=init_pixels(case) if img2img else None,
        strength=case["strength"],
        latents=load(noise_file) if explicit_noise and noise_file else None,
    )


def case_id(case: dict[str, Any]) -> str:
    return str(case["id"])


@pytest.fixture(scope="module")
def tiny() -> Pipeline:
    return Pipeline.from_model("tiny-sd-turbo", Path("unused"))


def twin_psnr(pipe: Pipeline, case: dict[str, Any]) -> float:
    return psnr(pipe.generate(as_request(case)).image, load(case["image"]))


def test_oracle_covers_one_two_and_four_steps_and_img2img() -> None:
    assert {1, 2, 4} <= {c["steps"] for c in TXT2IMG}
    assert IMG2IMG, "the oracle must include img2img cases"


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_matches_diffusers_within_45_db(tiny: Pipeline, case: dict[str, Any]) -> None:
    db = twin_psnr(tiny, case)
    print(f"PSNR {case['id']}: {db:.1f} dB")
    assert db >= THRESHOLD_DB


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_oracle_noise_is_the_shared_noise_of_the_seed(case: dict[str, Any]) -> None:
    noise_file = case["noise"] if case["mode"] == "img2img" else case["latents"]
    noise = load(noise_file)
    assert np.array_equal(noise, randn(case["seed"], noise.shape))


@pytest.mark.parametrize("case", TXT2IMG[:1], ids=case_id)
def test_seed_alone_reproduces_the_oracle(tiny: Pipeline, case: dict[str, Any]) -> None:
    image = tiny.generate(as_request(case, explicit_noise=False)).image
    assert psnr(image, load(case["image"])) >= THRESHOLD_DB


def with_pad_id(family: Family, pad: int) -> Family:
    return family.model_copy(update={"tokenizer": family.tokenizer.model_copy(update={"pad_token_id": pad})})


MISTAKES: dict[str, tuple[Recipe, int]] = {
    "timestep_1000": (
        replace(DIFFUSERS, unet_timestep=lambda t: np.asarray([round(float(t)) + 1], np.int64)),
        0,
    ),
    "pad_id_49407": (DIFFUSERS, 49407),
    "no_unet_input_scaling": (replace(DIFFUSERS, scale_model_input=lambda x, sigma: x), 0),
    "no_vae_unscaling": (replace(DIFFUSERS, latents_to_vae=lambda x, factor: x), 0),
}
ONE_STEP = [c for c in TXT2IMG if c["steps"] == 1]


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_each_deliberate_mistake_falls_well_below_the_threshold(tiny: Pipeline, mistake: str) -> None:
    recipe, pad = MISTAKES[mistake]
    wrong = Pipeline(
        ModelFiles.in_dir(tiny.files.root),
        with_pad_id(tiny.family, pad) if pad else tiny.family,
        tiny.limits,
        recipe=recipe,
    )
    worst = max(twin_psnr(wrong, case) for case in ONE_STEP)
    print(f"PSNR with {mistake}: worst case {worst:.1f} dB")
    assert worst < THRESHOLD_DB - MISTAKE_MARGIN_DB


def test_fp16_fixture_stays_close_to_the_fp32_oracle() -> None:
    fp16 = Pipeline.from_model("tiny-sd-turbo-fp16", Path("unused"))
    worst = min(twin_psnr(fp16, case) for case in TXT2IMG)
    print(f"PSNR fp16 fixture vs fp32 oracle: worst case {worst:.1f} dB")
    assert worst >= 30.0
