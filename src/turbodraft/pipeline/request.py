"""What a caller asks for, and the checks that turn a bad request into a clear `InvalidRequest`."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from turbodraft.models.manifest import ModelVariant, SizeRange
from turbodraft.pipeline.errors import (
    InvalidInitImage,
    InvalidLatents,
    InvalidPrompt,
    InvalidSeed,
    InvalidSize,
    InvalidSteps,
    InvalidStrength,
    UnsupportedByModel,
)
from turbodraft.pipeline.scheduler import img2img_start

SEED_LIMIT = 2**32


@dataclass(frozen=True)
class ModelLimits:
    image: SizeRange
    max_steps: int
    #: The model directory has a VAE encoder (img2img possible).
    img2img: bool

    @classmethod
    def of(cls, variant: ModelVariant, *, img2img: bool) -> ModelLimits:
        return cls(image=variant.image, max_steps=variant.max_steps, img2img=img2img)


#: For a bare directory in the web layout: anything the SD-Turbo graphs can take in a test or a browser.
DIRECTORY_LIMITS_IMAGE = SizeRange(default=512, min=64, max=1024, multiple_of=8)


@dataclass(frozen=True)
class GenerateRequest:
    prompt: str
    seed: int
    steps: int = 1
    width: int = 512
    height: int = 512
    #: img2img source, float32 [H, W, 3] (or [1, H, W, 3]) in [0, 1], already at width x height.
    init_image: npt.NDArray[np.float32] | None = None
    #: img2img only: the share of the schedule that runs, in (0, 1].
    strength: float | None = None
    #: Unscaled standard-normal latents [1, 4, h/8, w/8] (img2img: the noise); default randn(seed).
    latents: npt.NDArray[np.float32] | None = None

    @property
    def mode(self) -> str:
        return "img2img" if self.init_image is not None else "txt2img"


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def validate_request(
    request: GenerateRequest, limits: ModelLimits, latent_channels: int, downscale: int
) -> None:
    """Raise the first problem with `request` as an `InvalidRequest` subclass."""
    if not isinstance(request.prompt, str):
        raise InvalidPrompt(f"prompt must be a string, got {type(request.prompt).__name__}")
    if not _is_int(request.seed) or not 0 <= int(request.seed) < SEED_LIMIT:
        raise InvalidSeed(f"seed must be an integer in [0, 2**32), got {request.seed!r}")
    if not _is_int(request.steps) or not 1 <= int(request.steps) <= limits.max_steps:
        raise InvalidSteps(f"steps must be an integer from 1 to {limits.max_steps}, got {request.steps!r}")
    for name in ("width", "height"):
        value = getattr(request, name)
        r = limits.image
        if not _is_int(value) or not r.accepts(int(value)):
            raise InvalidSize(
                f"{name} must be a multiple of {r.multiple_of} from {r.min} to {r.max}, got {value!r}"
            )
    _validate_img2img(request, limits)
    if request.latents is not None:
        shape = (1, latent_channels, request.height // downscale, request.width // downscale)
        _validate_array(request.latents, shape, "latents", InvalidLatents)


def _validate_img2img(request: GenerateRequest, limits: ModelLimits) -> None:
    strength = request.strength
    if request.init_image is None:
        if strength is not None:
            raise InvalidStrength("strength applies only with an init image (img2img)")
        return
    if not limits.img2img:
        raise UnsupportedByModel("this model has no vae_encoder/model.onnx, so it cannot do img2img")
    if strength is None:
        raise InvalidStrength("img2img needs a strength in (0, 1]")
    if (
        not isinstance(strength, numbers.Real)
        or isinstance(strength, bool)
        or math.isnan(strength)
        or not 0.0 < float(strength) <= 1.0
    ):
        raise InvalidStrength(f"strength must be a number in (0, 1], got {strength!r}")
    img2img_start(int(request.steps), float(strength))  # at least one step must remain
    image = request.init_image
    shape = (1, request.height, request.width, 3) if image.ndim == 4 else (request.height, request.width, 3)
    _validate_array(image, shape, "init image", InvalidInitImage)
    if image.min() < 0.0 or image.max() > 1.0:
        raise InvalidInitImage("init image values must lie in [0, 1]")


def _validate_array(
    array: object, shape: tuple[int, ...], name: str, error: type[InvalidLatents] | type[InvalidInitImage]
) -> None:
    if not isinstance(array, np.ndarray) or not np.issubdtype(array.dtype, np.floating):
        raise error(f"{name} must be a float numpy array")
    if array.shape != shape:
        raise error(f"{name} must have shape {list(shape)}, got {list(array.shape)}")
    if not np.isfinite(array).all():
        raise error(f"{name} contains NaN or Inf")
