"""The job input of the SDXL worker: worker-sdxl's field names, checked by pydantic before any model work.

A client written for runpod-workers/worker-sdxl can send the same body; fields that only make sense with the
SDXL refiner (``refiner_inference_steps``, ``high_noise_frac``) are accepted and ignored because this worker
refines with the base model's img2img. Any other unknown field is an error, so typos do not pass silently.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

MIN_SIDE = 64
MAX_SIDE = 2048
MAX_STEPS = 100
MAX_GUIDANCE = 50.0
MAX_PROMPT_CHARS = 2000
MAX_IMAGES = 4
MAX_SEED = 2**32 - 1

#: worker-sdxl's scheduler names; ``None`` keeps the scheduler the model ships with.
SchedulerName = Literal["PNDM", "KLMS", "DDIM", "K_EULER", "K_EULER_ANCESTRAL", "DPMSolverMultistep"]


class GenerateInput(BaseModel):
    """One txt2img job, or an img2img job when ``image_url`` or ``init_image`` is given."""

    model_config = ConfigDict(extra="forbid", strict=True, validate_by_name=True, validate_by_alias=True)

    prompt: str = Field(min_length=1, max_length=MAX_PROMPT_CHARS)
    negative_prompt: str | None = Field(default=None, max_length=MAX_PROMPT_CHARS)
    width: int = Field(default=1024, ge=MIN_SIDE, le=MAX_SIDE)
    height: int = Field(default=1024, ge=MIN_SIDE, le=MAX_SIDE)
    num_inference_steps: int = Field(default=25, ge=1, le=MAX_STEPS, alias="steps")
    guidance_scale: float = Field(default=7.5, ge=0.0, le=MAX_GUIDANCE)
    # None draws a random seed, which the output reports so the image can be reproduced.
    seed: int | None = Field(default=None, ge=0, le=MAX_SEED)
    strength: float = Field(default=0.3, gt=0.0, le=1.0)
    scheduler: SchedulerName | None = None
    num_images: int = Field(default=1, ge=1, le=MAX_IMAGES)
    # img2img sources: an http(s) URL or a data URI (worker-sdxl's name), or base64 / a data URI.
    image_url: str | None = Field(default=None, min_length=1)
    init_image: str | None = Field(default=None, min_length=1)
    # Accepted for worker-sdxl compatibility; there is no refiner stage to apply them to.
    refiner_inference_steps: int | None = Field(default=None, ge=0, le=MAX_STEPS)
    high_noise_frac: float | None = Field(default=None, ge=0.0, le=1.0)

    @field_validator("guidance_scale", "strength", "high_noise_frac", mode="before")
    @classmethod
    def _int_is_a_float(cls, value: object) -> object:
        # Strict mode rejects 7 for a float field; JSON clients write 7 for 7.0, so widen ints (not bools).
        if isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        return value

    @field_validator("width", "height")
    @classmethod
    def _multiple_of_8(cls, value: int) -> int:
        # The VAE downsamples by 8: other sizes are silently cropped by diffusers, so refuse them instead.
        if value % 8:
            raise ValueError("must be a multiple of 8")
        return value

    @model_validator(mode="after")
    def _one_image_source(self) -> GenerateInput:
        if self.image_url is not None and self.init_image is not None:
            raise ValueError("give either image_url or init_image, not both")
        # img2img runs int(steps * strength) denoising steps; zero would make diffusers fail late.
        if self.is_img2img and int(self.num_inference_steps * self.strength) < 1:
            raise ValueError("steps * strength must be at least 1 for img2img")
        return self

    @property
    def is_img2img(self) -> bool:
        return self.image_url is not None or self.init_image is not None

    @property
    def image_source(self) -> str | None:
        return self.image_url if self.image_url is not None else self.init_image


class InputError(ValueError):
    """A job input that cannot be run; the message is safe to return to the client."""


def describe_validation_error(error: ValidationError) -> str:
    """One line per problem, ``field: message``, without pydantic's URLs or echoed input values."""
    lines = []
    for item in error.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in item["loc"]) or "input"
        lines.append(f"{where}: {item['msg']}")
    return "; ".join(lines)


def parse_input(job_input: object) -> GenerateInput:
    """The validated job input, or :class:`InputError` with a readable message."""
    if not isinstance(job_input, dict):
        raise InputError("input must be a JSON object")
    try:
        return GenerateInput.model_validate(job_input)
    except ValidationError as exc:
        raise InputError(describe_validation_error(exc)) from exc
