"""The Python twin's behaviour on the tiny fixture: reuse, validation, output checks, PNG writing."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from turbodraft.models.manifest import REPO_ROOT
from turbodraft.pipeline import (
    BadOutput,
    GenerateRequest,
    InvalidInitImage,
    InvalidLatents,
    InvalidPrompt,
    InvalidSeed,
    InvalidSize,
    InvalidSteps,
    InvalidStrength,
    ModelFilesError,
    Pipeline,
    ProviderUnavailable,
    UnsupportedByModel,
)
from turbodraft.pipeline.checks import check_output
from turbodraft.pipeline.images import png_bytes, write_atomic, write_png
from turbodraft.pipeline.noise import randn
from turbodraft.pipeline.recipe import DIFFUSERS
from turbodraft.pipeline.sessions import ModelFiles

TINY = REPO_ROOT / "fixtures/tiny-sd-turbo"


@pytest.fixture(scope="module")
def pipe() -> Pipeline:
    return Pipeline.from_model("tiny-sd-turbo", Path("unused-models-dir"))


def request(**overrides: Any) -> GenerateRequest:
    fields: dict[str, Any] = {"prompt": "a red fox", "seed": 7, "steps": 1, "width": 64, "height": 64}
    return GenerateRequest(**{**fields, **overrides})


def test_generates_an_image_in_zero_to_one(pipe: Pipeline) -> None:
    result = pipe.generate(request())
    assert result.image.shape == (64, 64, 3)
    assert result.image.dtype == np.float32
    assert result.image.min() >= 0.0 and result.image.max() <= 1.0
    assert result.timesteps == [999]
    assert result.provider == "CPUExecutionProvider"


def test_reports_time_per_stage(pipe: Pipeline) -> None:
    timings = pipe.generate(request(steps=2)).timings_ms
    assert {"tokenize", "text_encoder", "unet", "vae_decoder", "total"} <= timings.keys()
    assert all(v >= 0 for v in timings.values())


def test_a_second_generation_creates_no_new_sessions(pipe: Pipeline) -> None:
    pipe.generate(request(seed=1))
    created = pipe.sessions_created
    pipe.generate(request(seed=2, steps=4, prompt="something else"))
    assert pipe.sessions_created == created == 3


def test_same_seed_gives_the_same_image_and_another_seed_does_not(pipe: Pipeline) -> None:
    a, b, c = (pipe.generate(request(seed=s)).image for s in (5, 5, 6))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_seed_latents_are_the_shared_noise_function(pipe: Pipeline) -> None:
    by_seed = pipe.generate(request(seed=11)).image
    explicit = pipe.generate(request(seed=0, latents=randn(11, (1, 4, 8, 8)))).image
    assert np.array_equal(by_seed, explicit)


def test_empty_prompt_is_allowed_as_unconditional(pipe: Pipeline) -> None:
    result = pipe.generate(request(prompt=""))
    assert result.prompt_tokens == 0
    assert not result.prompt_truncated


def test_a_long_prompt_is_truncated_and_says_so(pipe: Pipeline) -> None:
    result = pipe.generate(request(prompt="fox " * 100))
    assert result.prompt_truncated
    assert result.prompt_tokens == 100


@pytest.mark.parametrize("steps", [0, 5, -1, 1.5, True])
def test_rejects_steps_outside_one_to_four(pipe: Pipeline, steps: Any) -> None:
    with pytest.raises(InvalidSteps, match="steps must be an integer from 1 to 4"):
        pipe.generate(request(steps=steps))


@pytest.mark.parametrize(("width", "height"), [(60, 64), (64, 100), (72, 64), (64, 272), (48, 64), (0, 64)])
def test_rejects_sizes_off_the_grid_or_out_of_range(pipe: Pipeline, width: int, height: int) -> None:
    with pytest.raises(InvalidSize, match="multiple of 16 from 64 to 256"):
        pipe.generate(request(width=width, height=height))


@pytest.mark.parametrize("seed", [-1, 2**32, 1.0, "7", None, True])
def test_rejects_seeds_that_are_not_integers_in_u32(pipe: Pipeline, seed: Any) -> None:
    with pytest.raises(InvalidSeed, match=r"seed must be an integer in \[0, 2\*\*32\)"):
        pipe.generate(request(seed=seed))


def test_accepts_the_largest_seed(pipe: Pipeline) -> None:
    assert pipe.generate(request(seed=2**32 - 1)).seed == 2**32 - 1


def test_rejects_a_prompt_that_is_not_text(pipe: Pipeline) -> None:
    with pytest.raises(InvalidPrompt):
        pipe.generate(request(prompt=None))


def test_rejects_strength_without_an_init_image(pipe: Pipeline) -> None:
    with pytest.raises(InvalidStrength, match="only with an init image"):
        pipe.generate(request(strength=0.5))


def test_rejects_latents_of_the_wrong_shape(pipe: Pipeline) -> None:
    with pytest.raises(InvalidLatents, match=r"shape \[1, 4, 8, 8\]"):
        pipe.generate(request(latents=np.zeros((1, 4, 16, 16), np.float32)))


def test_rejects_latents_with_nan(pipe: Pipeline) -> None:
    latents = randn(1, (1, 4, 8, 8))
    latents[0, 0, 0, 0] = np.nan
    with pytest.raises(InvalidLatents, match="NaN"):
        pipe.generate(request(latents=latents))


def test_a_nan_from_a_stage_raises_instead_of_making_an_image() -> None:
    broken = Pipeline.from_dir(
        TINY, recipe=replace(DIFFUSERS, latents_to_vae=lambda x, s: x * np.float32(np.nan))
    )
    with pytest.raises(BadOutput, match="vae_decoder produced NaN"):
        broken.generate(request())


def test_an_all_black_image_raises_instead_of_being_returned() -> None:
    black = Pipeline.from_dir(
        TINY,
        recipe=replace(DIFFUSERS, decoder_output_to_pixels=lambda x: np.zeros((1, 64, 64, 3), np.float32)),
    )
    with pytest.raises(BadOutput, match="image produced all zeros"):
        black.generate(request())


@pytest.mark.parametrize(
    ("array", "reason"),
    [
        (np.zeros(4, np.float32), "all zeros"),
        (np.array([1, np.inf], np.float32), "Inf"),
        (np.array([np.nan, 1], np.float32), "NaN"),
    ],
)
def test_output_check_names_the_stage_and_reason(array: np.ndarray, reason: str) -> None:
    with pytest.raises(BadOutput, match=f"unet step 1 produced {reason}") as info:
        check_output("unet step 1", array)
    assert info.value.stage == "unet step 1"


def test_png_is_the_rounded_image(tmp_path: Path, pipe: Pipeline) -> None:
    from PIL import Image

    result = pipe.generate(request())
    out = tmp_path / "fox.png"
    write_png(out, result.image)
    with Image.open(out) as img:
        pixels = np.asarray(img)
    assert np.array_equal(pixels, (result.image * 255).round().astype(np.uint8))
    assert out.read_bytes() == png_bytes(result.image)


def test_a_failed_write_leaves_neither_a_partial_file_nor_a_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.mkdir()  # renaming a file onto a directory fails after the data was written
    with pytest.raises(OSError):
        write_atomic(target, b"png bytes")
    assert list(tmp_path.iterdir()) == [target]
    assert list(target.iterdir()) == []


def test_a_directory_without_the_graphs_is_a_model_files_error(tmp_path: Path) -> None:
    with pytest.raises(ModelFilesError, match=r"lacks text_encoder/model\.onnx"):
        ModelFiles.in_dir(tmp_path)


def test_an_unavailable_provider_is_refused_by_name() -> None:
    with pytest.raises(ProviderUnavailable, match="TensorrtExecutionProvider"):
        Pipeline.from_dir(TINY, providers=["TensorrtExecutionProvider"])


def gray(size: int = 64) -> np.ndarray:
    return np.full((size, size, 3), 0.5, np.float32)


def test_img2img_creates_the_vae_encoder_session_once(pipe: Pipeline) -> None:
    pipe.generate(request(init_image=gray(), strength=0.5, steps=2))
    created = pipe.sessions_created
    result = pipe.generate(request(init_image=gray(), strength=1.0, steps=2))
    assert pipe.sessions_created == created == 4
    assert result.mode == "img2img" and result.timesteps == [999, 499]


def test_img2img_runs_the_last_steps_times_strength(pipe: Pipeline) -> None:
    result = pipe.generate(request(init_image=gray(), strength=0.5, steps=4))
    assert result.timesteps == [499, 249]
    assert "vae_encoder" in result.timings_ms


@pytest.mark.parametrize("strength", [0.0, -0.5, 1.5, float("nan"), True])
def test_rejects_strength_outside_zero_one(pipe: Pipeline, strength: Any) -> None:
    with pytest.raises(InvalidStrength, match=r"strength must be a number in \(0, 1\]"):
        pipe.generate(request(init_image=gray(), strength=strength))


def test_rejects_img2img_without_a_strength(pipe: Pipeline) -> None:
    with pytest.raises(InvalidStrength, match="img2img needs a strength"):
        pipe.generate(request(init_image=gray()))


def test_rejects_a_strength_that_leaves_no_step(pipe: Pipeline) -> None:
    with pytest.raises(InvalidStrength, match=r"steps \* strength must be at least 1"):
        pipe.generate(request(init_image=gray(), strength=0.3, steps=2))


def test_rejects_init_pixels_outside_zero_one(pipe: Pipeline) -> None:
    with pytest.raises(InvalidInitImage, match=r"values must lie in \[0, 1\]"):
        pipe.generate(request(init_image=gray() * 255, strength=0.5, steps=2))


def test_rejects_img2img_on_a_model_without_a_vae_encoder(tmp_path: Path) -> None:
    for name in ("text_encoder", "unet", "vae_decoder"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "model.onnx").symlink_to(TINY / name / "model.onnx")
    (tmp_path / "tokenizer.json").symlink_to(TINY / "tokenizer.json")
    with pytest.raises(UnsupportedByModel, match=r"no vae_encoder/model\.onnx"):
        Pipeline.from_dir(tmp_path).generate(request(init_image=gray(), strength=0.5))


def test_rejects_an_init_image_of_the_wrong_size(pipe: Pipeline) -> None:
    with pytest.raises(InvalidInitImage, match=r"shape \[64, 64, 3\]"):
        pipe.generate(request(init_image=np.zeros((32, 32, 3), np.float32), strength=0.5, steps=2))
