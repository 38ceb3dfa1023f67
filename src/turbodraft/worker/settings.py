"""Which weights the worker loads, from ``TURBODRAFT_WORKER_*`` environment variables (no torch here)."""

from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULT_MODEL = "stabilityai/stable-diffusion-xl-base-1.0"


@dataclass(frozen=True)
class ModelSettings:
    """Which weights to load and where, from ``TURBODRAFT_WORKER_*`` environment variables."""

    model: str = DEFAULT_MODEL
    #: Weight file variant, e.g. ``fp16`` for the half-precision files the Docker image bakes in.
    variant: str | None = None
    #: A replacement VAE (path or id), e.g. madebyollin/sdxl-vae-fp16-fix, whose fp16 output has no NaNs.
    vae: str | None = None
    #: ``cuda``, ``cpu``, ...; ``None`` picks CUDA when torch sees a GPU.
    device: str | None = None

    @classmethod
    def from_env(cls) -> ModelSettings:
        env = os.environ
        return cls(
            model=env.get("TURBODRAFT_WORKER_MODEL") or DEFAULT_MODEL,
            variant=env.get("TURBODRAFT_WORKER_VARIANT") or None,
            vae=env.get("TURBODRAFT_WORKER_VAE") or None,
            device=env.get("TURBODRAFT_WORKER_DEVICE") or None,
        )
