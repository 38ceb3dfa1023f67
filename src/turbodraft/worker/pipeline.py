"""SDXL txt2img and img2img through diffusers, loaded once per process and shared by every job.

torch and diffusers are imported inside the functions here, on the first job (or the warm-up before
``runpod.serverless.start``), so importing the worker for input validation costs neither.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from turbodraft.worker.schema import GenerateInput
from turbodraft.worker.settings import ModelSettings

#: worker-sdxl's scheduler names -> diffusers scheduler classes.
SCHEDULERS: dict[str, str] = {
    "PNDM": "PNDMScheduler",
    "KLMS": "LMSDiscreteScheduler",
    "DDIM": "DDIMScheduler",
    "K_EULER": "EulerDiscreteScheduler",
    "K_EULER_ANCESTRAL": "EulerAncestralDiscreteScheduler",
    "DPMSolverMultistep": "DPMSolverMultistepScheduler",
}


class GenerationCancelledError(Exception):
    """The job's cancellation flag was set; denoising stopped at the next step boundary."""


@dataclass
class Pipelines:
    """The txt2img pipeline and an img2img view sharing its weights, plus the lock that serialises jobs."""

    txt2img: Any
    img2img: Any
    device: str
    # The pipelines hold per-run state (scheduler timesteps, progress), so one job runs at a time.
    lock: threading.Lock = field(default_factory=threading.Lock)


_loaded: dict[ModelSettings, Pipelines] = {}
_load_lock = threading.Lock()


def get_pipelines(settings: ModelSettings) -> Pipelines:
    """The pipelines for ``settings``, loaded on first use and cached for the life of the process."""
    with _load_lock:
        pipelines = _loaded.get(settings)
        if pipelines is None:
            pipelines = _load(settings)
            _loaded[settings] = pipelines
        return pipelines


def _load(settings: ModelSettings) -> Pipelines:
    import torch
    from diffusers import AutoencoderKL, StableDiffusionXLImg2ImgPipeline, StableDiffusionXLPipeline

    device = settings.device or ("cuda" if torch.cuda.is_available() else "cpu")
    # Half precision only where it is fast and supported; CPU matmuls in fp16 are slow or missing.
    dtype = torch.float16 if device.startswith("cuda") else torch.float32
    extra: dict[str, Any] = {}
    if settings.vae is not None:
        extra["vae"] = AutoencoderKL.from_pretrained(settings.vae, dtype=dtype)
    txt2img = StableDiffusionXLPipeline.from_pretrained(
        settings.model, dtype=dtype, variant=settings.variant, use_safetensors=True, **extra
    )
    if device != "cpu":  # weights load onto the CPU; moving them there again only logs a dtype warning
        txt2img.to(device)
    txt2img.set_progress_bar_config(disable=True)
    img2img = StableDiffusionXLImg2ImgPipeline.from_pipe(txt2img)
    img2img.set_progress_bar_config(disable=True)
    return Pipelines(txt2img=txt2img, img2img=img2img, device=device)


def _fresh_scheduler(pipeline: Any, name: str | None) -> Any:
    """A new scheduler for one job: the model's own kind unless the job names one."""
    import diffusers

    base = pipeline.scheduler
    if name is None:
        return type(base).from_config(base.config)
    overrides: dict[str, Any] = {}
    if name == "PNDM":
        # PNDM's Runge-Kutta warm-up steps break at low step counts; Stable Diffusion's configs skip them too.
        overrides["skip_prk_steps"] = True
    return getattr(diffusers, SCHEDULERS[name]).from_config(base.config, **overrides)


def generate(
    pipelines: Pipelines,
    request: GenerateInput,
    seed: int,
    init_image: Image.Image | None,
    cancelled: threading.Event | None = None,
) -> list[Image.Image]:
    """Run one job: txt2img, or img2img from ``init_image`` resized to the requested size."""
    import torch

    def stop_if_cancelled(pipe: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
        # Raising (rather than diffusers' interrupt flag) also skips the VAE decode of a job nobody wants.
        if cancelled is not None and cancelled.is_set():
            raise GenerationCancelledError(f"cancelled after step {step + 1}")
        return tensors

    arguments: dict[str, Any] = {
        "prompt": request.prompt,
        "negative_prompt": request.negative_prompt,
        "num_inference_steps": request.num_inference_steps,
        "guidance_scale": request.guidance_scale,
        "num_images_per_prompt": request.num_images,
        # A CPU generator gives the same noise for a seed on any device, so a seed reproduces everywhere.
        "generator": torch.Generator("cpu").manual_seed(seed),
        "callback_on_step_end": stop_if_cancelled,
        "output_type": "pil",
    }
    if init_image is None:
        pipeline = pipelines.txt2img
        arguments.update(width=request.width, height=request.height)
    else:
        pipeline = pipelines.img2img
        size = (request.width, request.height)
        image = init_image if init_image.size == size else init_image.resize(size, Image.Resampling.LANCZOS)
        arguments.update(image=image, strength=request.strength)

    with pipelines.lock:
        if cancelled is not None and cancelled.is_set():
            raise GenerationCancelledError("cancelled before the first step")
        pipeline.scheduler = _fresh_scheduler(pipeline, request.scheduler)
        output = pipeline(**arguments)
    images: list[Image.Image] = list(output.images)
    return images
