"""Sketch-to-image's engine side: a frame's RGBA rendering as img2img's init image at a low strength, against
diffusers' StableDiffusionImg2ImgPipeline on the tiny fixture (fixtures/tools/sketch)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.tools_support import TOOLS
from turbodraft.pipeline import GenerateRequest, Pipeline
from turbodraft.pipeline.compare import psnr
from turbodraft.tools.sketch import sketch_init_image

SKETCH = TOOLS / "sketch"
CASES: list[dict[str, Any]] = json.loads((SKETCH / "cases.json").read_text())["cases"]


def sketch_pixels(case: dict[str, Any]) -> np.ndarray:
    with Image.open(SKETCH / case["sketch"]) as image:
        return np.asarray(image).copy()


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_the_sketch_becomes_the_init_image_torch_made(case: dict[str, Any]) -> None:
    got = sketch_init_image(sketch_pixels(case), case["width"], case["height"])
    np.testing.assert_allclose(got, np.load(SKETCH / case["init_image"]), atol=2e-6)


def test_transparent_paper_turns_white() -> None:
    clear = np.zeros((8, 8, 4), np.uint8)
    assert (sketch_init_image(clear, 8, 8) == 1.0).all()


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_low_strength_img2img_from_a_sketch_matches_diffusers(case: dict[str, Any], tmp_path: Path) -> None:
    pipe = Pipeline.from_model(case["model"], tmp_path)
    result = pipe.generate(
        GenerateRequest(
            prompt=case["prompt"],
            seed=case["seed"],
            steps=case["steps"],
            width=case["width"],
            height=case["height"],
            init_image=sketch_init_image(sketch_pixels(case), case["width"], case["height"]),
            strength=case["strength"],
        )
    )
    assert list(result.timesteps) == [int(t) for t in case["unet_timesteps"]]
    db = psnr(result.image, np.load(SKETCH / case["image"]))
    print(f"{case['id']}: {db:.1f} dB")
    assert db >= 45.0
