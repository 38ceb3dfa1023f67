"""The tiny-autoencoder draft path: the Python twin against diffusers' StableDiffusionPipeline and
StableDiffusionImg2ImgPipeline with vae=AutoencoderTiny (fixtures/oracle-taesd, made by
`python -m turbodraft.models.taesd fixture`).

The TAESD graphs keep SD's VAE interface (decoder input x0 / 0.18215, output in [-1, 1]; encoder input in
[-1, 1], output the mean the pipeline scales by 0.18215), so the twin runs them unchanged; these tests prove
that interface against diffusers, txt2img and img2img (Refine), and that the likely mistakes would show.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from turbodraft.models.manifest import REPO_ROOT
from turbodraft.pipeline import GenerateRequest, Pipeline
from turbodraft.pipeline.compare import psnr
from turbodraft.pipeline.images import load_init_image

ORACLE = REPO_ROOT / "fixtures/oracle-taesd"
ORACLE_DATA: dict[str, Any] = json.loads((ORACLE / "cases.json").read_text())
CASES: list[dict[str, Any]] = ORACLE_DATA["cases"]
THRESHOLD_DB = 45.0
MISTAKE_CEILING_DB = 35.0


@pytest.fixture(scope="module")
def pipe() -> Pipeline:
    return Pipeline.from_model("tiny-sd-turbo-taesd", Path("unused-models-dir"))


def oracle_request(case: dict[str, Any]) -> GenerateRequest:
    init = None
    if case["mode"] == "img2img":
        init = load_init_image(ORACLE / case["init_image"], case["width"], case["height"])
    return GenerateRequest(
        prompt=case["prompt"],
        seed=case["seed"],
        steps=case["steps"],
        width=case["width"],
        height=case["height"],
        init_image=init,
        strength=case["strength"],
    )


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_reproduces_diffusers_with_autoencoder_tiny_from_the_seed(pipe: Pipeline, case: dict[str, Any]) -> None:
    result = pipe.generate(oracle_request(case))
    want = np.load(ORACLE / case["image"])[0]
    assert psnr(result.image, want) >= THRESHOLD_DB


def test_the_oracle_covers_refine_with_the_tiny_encoder() -> None:
    assert {c["mode"] for c in CASES} == {"txt2img", "img2img"}


def test_the_oracle_images_have_structure() -> None:
    assert min(c["image_std"] for c in CASES) > 0.02


@pytest.mark.parametrize("mistake", ["unscaled_latents", "output_range", "encoder_unscaled", "encoder_input_range"])
def test_decoder_mistakes_fall_far_below_the_threshold(mistake: str) -> None:
    assert ORACLE_DATA["sensitivity"][mistake] < MISTAKE_CEILING_DB


def test_the_tiny_decoder_image_differs_from_the_full_vae_image() -> None:
    full = Pipeline.from_model("tiny-sd-turbo", Path("unused-models-dir"))
    tiny = Pipeline.from_model("tiny-sd-turbo-taesd", Path("unused-models-dir"))
    request = GenerateRequest(prompt="a photo of a cat", seed=42, steps=1, width=64, height=64)
    assert psnr(full.generate(request).image, tiny.generate(request).image) < MISTAKE_CEILING_DB
