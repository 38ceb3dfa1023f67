"""Bad job input is answered with ``{"error": ...}`` before any model is loaded, and never raises."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any

import pytest

from tests.worker.support import as_base64, png_bytes
from turbodraft.worker.handler import handle, handler
from turbodraft.worker.pipeline import Pipelines
from turbodraft.worker.settings import ModelSettings

VALID: dict[str, Any] = {"prompt": "a red fox", "width": 64, "height": 64, "steps": 2}


def error_of(**changes: Any) -> str:
    job_input = {**VALID, **changes}
    job_input = {key: value for key, value in job_input.items() if value is not None}
    output = handle(job_input)
    assert set(output) == {"error"}, output
    message: str = output["error"]
    return message


@pytest.fixture(autouse=True)
def no_model_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Validation must not need the model: loading it here fails the test."""

    def refuse(settings: ModelSettings) -> Pipelines:
        raise AssertionError("bad input reached the model")

    monkeypatch.setattr("turbodraft.worker.handler.get_pipelines", refuse)


def test_width_must_be_a_multiple_of_8() -> None:
    assert "width: Value error, must be a multiple of 8" in error_of(width=100)


def test_height_must_be_within_limits() -> None:
    assert "height" in error_of(height=4096)
    assert "height" in error_of(height=32)


def test_steps_must_be_between_1_and_100() -> None:
    assert "steps" in error_of(steps=0)
    assert "steps" in error_of(steps=101)


def test_num_inference_steps_is_the_same_field_as_steps() -> None:
    assert "steps" in error_of(steps=None, num_inference_steps=0)


def test_strength_must_be_above_0_and_at_most_1() -> None:
    assert "strength" in error_of(strength=0)
    assert "strength" in error_of(strength=1.5)


def test_guidance_scale_must_not_be_negative() -> None:
    assert "guidance_scale" in error_of(guidance_scale=-1)


def test_seed_must_be_an_integer() -> None:
    assert "seed" in error_of(seed="42")
    assert "seed" in error_of(seed=1.5)
    assert "seed" in error_of(seed=True)


def test_prompt_is_required_and_bounded() -> None:
    assert "prompt: Field required" in error_of(prompt=None)
    assert "prompt" in error_of(prompt="")
    assert "prompt" in error_of(prompt="x" * 2001)


def test_unknown_fields_are_refused() -> None:
    assert "widht: Extra inputs are not permitted" in error_of(widht=64)


def test_worker_sdxl_refiner_fields_are_accepted() -> None:
    # They pass validation and so reach the (refusing) model loader.
    with pytest.raises(AssertionError, match="reached the model"):
        handle({**VALID, "refiner_inference_steps": 50, "high_noise_frac": 0.8, "scheduler": "DDIM"})


def test_unknown_scheduler_is_refused() -> None:
    assert "scheduler" in error_of(scheduler="LCM")


def test_num_images_is_bounded() -> None:
    assert "num_images" in error_of(num_images=0)
    assert "num_images" in error_of(num_images=5)


def test_two_init_images_are_refused() -> None:
    image = as_base64(png_bytes())
    assert "not both" in error_of(image_url=image, init_image=image)


def test_img2img_needs_at_least_one_denoising_step() -> None:
    assert "steps * strength" in error_of(init_image=as_base64(png_bytes()), steps=2, strength=0.3)


def test_input_must_be_an_object() -> None:
    assert handle(["prompt"]) == {"error": "input must be a JSON object"}  # type: ignore[arg-type]
    assert handler({"id": "job-1", "input": "a red fox"}) == {"error": "input must be a JSON object"}


def test_errors_do_not_echo_the_input() -> None:
    secret_prompt = "y" * 2001
    assert secret_prompt not in error_of(prompt=secret_prompt)


def test_handler_module_validates_without_torch(tmp_path: Any) -> None:
    script = textwrap.dedent(
        """
        import sys
        for name in ("torch", "diffusers", "transformers"):
            sys.modules[name] = None  # any import of them now raises ImportError
        from turbodraft.worker.handler import handle
        print(handle({"prompt": "a red fox", "width": 100}))
        assert "torch" not in [m for m in sys.modules if sys.modules[m] is not None]
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "'error': 'width: Value error, must be a multiple of 8'" in result.stdout
