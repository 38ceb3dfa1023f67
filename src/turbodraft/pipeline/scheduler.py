"""diffusers' EulerDiscreteScheduler, reduced to what SD-Turbo uses, as pure functions on float32 arrays.

diffusers computes the noise schedule in torch float32 (linspace, cumprod) and the steps in float32 tensors;
every line below keeps float32 so that the timesteps and sigmas come out bit-equal to diffusers'.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from turbodraft.models.manifest import SchedulerConstants
from turbodraft.pipeline.errors import InvalidSteps, InvalidStrength

F32 = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Schedule:
    #: The UNet's timestep for each step (float32, integer-valued for trailing spacing).
    timesteps: F32
    #: One sigma per step plus the final 0.
    sigmas: F32

    @property
    def steps(self) -> int:
        return len(self.timesteps)


def _torch_linspace_f32(start: float, end: float, steps: int, lanes: int = 8) -> F32:
    """torch.linspace(dtype=float32) on CPU, bit for bit.

    The first half counts up from start, the second half down from end; torch's vectorized kernel computes
    one base per block of `lanes` values (8 floats with AVX2) and adds j * step to it, a second rounding that
    moves some betas by an ulp, and through cumprod the sigma at t=332 (3 steps).
    """
    start32, end32 = np.float32(start), np.float32(end)
    step = (end32 - start32) / np.float32(steps - 1)
    idx = np.arange(steps)
    vectorized = idx < (steps // lanes) * lanes
    base_idx = np.where(vectorized, idx - idx % lanes, idx)
    offset = (idx - base_idx).astype(np.float32)
    up = (start32 + step * base_idx.astype(np.float32)) + offset * step
    down = (end32 - step * (steps - base_idx - 1).astype(np.float32)) + offset * step
    return np.where(base_idx < steps // 2, up, down).astype(np.float32)


def alphas_cumprod(constants: SchedulerConstants) -> F32:
    n = constants.num_train_timesteps
    if constants.beta_schedule == "scaled_linear":
        betas = _torch_linspace_f32(constants.beta_start**0.5, constants.beta_end**0.5, n) ** 2
    else:
        betas = _torch_linspace_f32(constants.beta_start, constants.beta_end, n)
    # torch's CPU cumprod accumulates float32 inputs in double and rounds each output to float32.
    alphas = np.float32(1.0) - betas
    return np.cumprod(alphas.astype(np.float64)).astype(np.float32)


def train_sigmas(constants: SchedulerConstants) -> F32:
    acp = alphas_cumprod(constants)
    return ((np.float32(1.0) - acp) / acp) ** np.float32(0.5)


def spaced_timesteps(constants: SchedulerConstants, steps: int) -> npt.NDArray[np.float64]:
    """EulerDiscreteScheduler.set_timesteps' spacing, before interpolation."""
    n = constants.num_train_timesteps
    if constants.timestep_spacing == "trailing":
        ratio = n / steps
        return np.round(np.arange(n, 0, -ratio)).astype(np.float32).astype(np.float64) - 1
    if constants.timestep_spacing == "linspace":
        return np.linspace(0, n - 1, steps, dtype=np.float32)[::-1].astype(np.float64)
    ratio_int = n // steps
    return (np.arange(0, steps) * ratio_int).round()[::-1].astype(np.float64) + constants.steps_offset


def euler_schedule(constants: SchedulerConstants, steps: int) -> Schedule:
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise InvalidSteps(f"steps must be a positive integer, got {steps!r}")
    timesteps = spaced_timesteps(constants, steps)
    sigmas = train_sigmas(constants)
    interpolated = np.interp(timesteps, np.arange(len(sigmas)), sigmas)
    return Schedule(
        timesteps=timesteps.astype(np.float32),
        sigmas=np.concatenate([interpolated, [0.0]]).astype(np.float32),
    )


def init_noise_sigma(schedule: Schedule, constants: SchedulerConstants) -> np.float32:
    """The factor for pure-noise latents: sigma_max for trailing/linspace, else sqrt(sigma_max^2 + 1)."""
    sigma_max = schedule.sigmas.max()
    if constants.timestep_spacing in ("trailing", "linspace"):
        return np.float32(sigma_max)
    return np.float32((sigma_max**2 + np.float32(1.0)) ** np.float32(0.5))


def img2img_start(steps: int, strength: float) -> int:
    """StableDiffusionImg2ImgPipeline.get_timesteps: the index of the first step that runs."""
    if not 0.0 < strength <= 1.0:
        raise InvalidStrength(f"strength must be in (0, 1], got {strength!r}")
    init_timestep = min(int(steps * strength), steps)
    if init_timestep < 1:
        raise InvalidStrength(
            f"steps * strength must be at least 1 (got {steps} * {strength}); raise the steps or the strength"
        )
    return max(steps - init_timestep, 0)


def tail(schedule: Schedule, start: int) -> Schedule:
    """The schedule from step `start` on (diffusers' set_begin_index)."""
    return Schedule(timesteps=schedule.timesteps[start:], sigmas=schedule.sigmas[start:])
