"""The arithmetic between the graphs, one small pure function per step of diffusers' pipeline.

`Recipe` bundles them so a test can swap one for a deliberate mistake (a wrong timestep, a skipped scaling)
and prove the oracle comparison catches it; production code always uses `DIFFUSERS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from turbodraft.models.manifest import SchedulerConstants
from turbodraft.pipeline import scheduler
from turbodraft.pipeline.scheduler import Schedule

F32 = npt.NDArray[np.float32]


def scale_model_input(latents: F32, sigma: np.float32) -> F32:
    """EulerDiscreteScheduler.scale_model_input: the UNet sees latents at unit variance."""
    return latents / ((sigma**2 + np.float32(1.0)) ** np.float32(0.5))


def euler_step(latents: F32, noise_pred: F32, sigma: np.float32, sigma_next: np.float32) -> F32:
    """EulerDiscreteScheduler.step for epsilon prediction with s_churn 0 (so sigma_hat == sigma)."""
    pred_original = latents - sigma * noise_pred
    derivative = (latents - pred_original) / sigma
    return latents + derivative * (sigma_next - sigma)


def add_noise(init_latents: F32, noise: F32, sigma: np.float32) -> F32:
    """EulerDiscreteScheduler.add_noise at the first step that runs (img2img)."""
    return init_latents + noise * sigma


def unet_timestep(timestep: np.float32) -> npt.NDArray[np.int64]:
    """The web layout's UNet takes the timestep as int64 [1]."""
    return np.asarray([round(float(timestep))], dtype=np.int64)


def latents_to_vae(latents: F32, scaling_factor: float) -> F32:
    """Undo the VAE's latent scaling before decoding."""
    return latents / np.float32(scaling_factor)


def image_to_latents(mean: F32, scaling_factor: float) -> F32:
    """The VAE encoder's posterior mean, scaled as the UNet's latent space expects."""
    return mean * np.float32(scaling_factor)


def decoder_output_to_pixels(decoded: F32) -> F32:
    """VAE output in [-1, 1] to pixels [1, H, W, 3] in [0, 1] (diffusers' postprocess, before uint8)."""
    pixels = np.clip(decoded / np.float32(2.0) + np.float32(0.5), 0.0, 1.0)
    return np.ascontiguousarray(pixels.transpose(0, 2, 3, 1), dtype=np.float32)


def pixels_to_vae_input(pixels: F32) -> F32:
    """Pixels [1, H, W, 3] in [0, 1] to the encoder's NCHW input in [-1, 1] (diffusers' preprocess)."""
    return np.ascontiguousarray((pixels * np.float32(2.0) - np.float32(1.0)).transpose(0, 3, 1, 2))


@dataclass(frozen=True)
class Recipe:
    schedule: Callable[[SchedulerConstants, int], Schedule]
    init_noise_sigma: Callable[[Schedule, SchedulerConstants], np.float32]
    scale_model_input: Callable[[F32, np.float32], F32]
    unet_timestep: Callable[[np.float32], npt.NDArray[np.int64]]
    euler_step: Callable[[F32, F32, np.float32, np.float32], F32]
    add_noise: Callable[[F32, F32, np.float32], F32]
    latents_to_vae: Callable[[F32, float], F32]
    image_to_latents: Callable[[F32, float], F32]
    decoder_output_to_pixels: Callable[[F32], F32]
    pixels_to_vae_input: Callable[[F32], F32]


DIFFUSERS = Recipe(
    schedule=scheduler.euler_schedule,
    init_noise_sigma=scheduler.init_noise_sigma,
    scale_model_input=scale_model_input,
    unet_timestep=unet_timestep,
    euler_step=euler_step,
    add_noise=add_noise,
    latents_to_vae=latents_to_vae,
    image_to_latents=image_to_latents,
    decoder_output_to_pixels=decoder_output_to_pixels,
    pixels_to_vae_input=pixels_to_vae_input,
)
