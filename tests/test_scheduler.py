"""The Euler schedule equals diffusers' EulerDiscreteScheduler with SD-Turbo's configuration."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from turbodraft.models.manifest import REPO_ROOT, load_manifest
from turbodraft.pipeline.errors import InvalidStrength
from turbodraft.pipeline.recipe import add_noise, euler_step, scale_model_input
from turbodraft.pipeline.scheduler import alphas_cumprod, euler_schedule, img2img_start, init_noise_sigma

REFERENCE: dict[str, Any] = json.loads((REPO_ROOT / "fixtures/oracle/scheduler.json").read_text())
CONSTANTS = load_manifest().families["sd-turbo"].scheduler


@pytest.mark.parametrize("steps", [1, 2, 3, 4])
def test_timesteps_equal_diffusers(steps: int) -> None:
    expected = REFERENCE["steps"][str(steps)]["timesteps"]
    assert euler_schedule(CONSTANTS, steps).timesteps.tolist() == expected


@pytest.mark.parametrize("steps", [1, 2, 3, 4])
def test_sigmas_equal_diffusers_bit_for_bit(steps: int) -> None:
    expected = np.asarray(REFERENCE["steps"][str(steps)]["sigmas"], dtype=np.float32)
    assert np.array_equal(euler_schedule(CONSTANTS, steps).sigmas, expected)


@pytest.mark.parametrize("steps", [1, 2, 3, 4])
def test_init_noise_sigma_is_sigma_max_for_trailing_spacing(steps: int) -> None:
    schedule = euler_schedule(CONSTANTS, steps)
    expected = np.float32(REFERENCE["steps"][str(steps)]["init_noise_sigma"])
    assert init_noise_sigma(schedule, CONSTANTS) == expected == schedule.sigmas[0]


def test_alphas_cumprod_equal_diffusers_at_both_ends() -> None:
    acp = alphas_cumprod(CONSTANTS)
    assert acp[0] == np.float32(REFERENCE["alphas_cumprod_0"])
    assert acp[999] == np.float32(REFERENCE["alphas_cumprod_999"])


def test_one_step_is_t999_at_sigma_14_6146() -> None:
    schedule = euler_schedule(CONSTANTS, 1)
    assert schedule.timesteps.tolist() == [999.0]
    assert schedule.sigmas[0] == pytest.approx(14.6146, abs=1e-4)
    assert schedule.sigmas[-1] == 0.0


def test_leading_spacing_scales_init_noise_to_unit_variance_plus_sigma() -> None:
    leading = CONSTANTS.model_copy(update={"timestep_spacing": "leading"})
    schedule = euler_schedule(leading, 4)
    sigma_max = schedule.sigmas.max()
    assert init_noise_sigma(schedule, leading) == pytest.approx(float(np.sqrt(sigma_max**2 + 1)), rel=1e-6)


@pytest.mark.parametrize(("steps", "strength", "start"), [(4, 0.5, 2), (4, 1.0, 0), (2, 0.5, 1), (4, 0.3, 3)])
def test_img2img_runs_the_last_int_steps_times_strength(steps: int, strength: float, start: int) -> None:
    assert img2img_start(steps, strength) == start


@pytest.mark.parametrize("strength", [0.0, -0.1, 1.01, float("nan")])
def test_strength_outside_zero_one_is_rejected(strength: float) -> None:
    with pytest.raises(InvalidStrength, match=r"strength must be in \(0, 1\]"):
        img2img_start(4, strength)


def test_strength_too_small_for_one_step_is_rejected() -> None:
    with pytest.raises(InvalidStrength, match="at least 1"):
        img2img_start(2, 0.4)


def test_last_euler_step_lands_on_the_predicted_clean_latents() -> None:
    latents = np.full((1, 4, 2, 2), 3.0, np.float32)
    eps = np.full((1, 4, 2, 2), 0.5, np.float32)
    sigma = np.float32(2.0)
    assert np.allclose(euler_step(latents, eps, sigma, np.float32(0.0)), latents - sigma * eps)


def test_model_input_is_scaled_to_unit_variance() -> None:
    x = np.ones((1, 4, 1, 1), np.float32)
    assert np.allclose(scale_model_input(x, np.float32(np.sqrt(3.0))), 0.5)


def test_add_noise_uses_the_first_sigma() -> None:
    x = np.zeros((1, 1, 1, 1), np.float32)
    assert add_noise(x, np.ones_like(x), np.float32(4.0)).item() == 4.0
