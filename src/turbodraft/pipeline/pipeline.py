"""The Python twin of the browser engine: SD-Turbo from three ONNX graphs, as diffusers'
StableDiffusionPipeline (txt2img) and StableDiffusionImg2ImgPipeline (img2img) compute it with guidance 0.

`Pipeline.generate` reads top to bottom like the diffusers pipeline; the math between graphs is in `recipe`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from turbodraft.models.manifest import Family, load_manifest, local_model_dir
from turbodraft.pipeline import images
from turbodraft.pipeline.checks import check_output
from turbodraft.pipeline.errors import ModelFilesError, ModelRunError
from turbodraft.pipeline.noise import randn
from turbodraft.pipeline.recipe import DIFFUSERS, Recipe
from turbodraft.pipeline.request import DIRECTORY_LIMITS_IMAGE, GenerateRequest, ModelLimits, validate_request
from turbodraft.pipeline.scheduler import img2img_start, tail
from turbodraft.pipeline.sessions import ModelFiles, SessionFactory, resolve_providers
from turbodraft.pipeline.tokenizer import PromptTokenizer

F32 = npt.NDArray[np.float32]
DEFAULT_FAMILY = "sd-turbo"


@dataclass(frozen=True)
class GenerateResult:
    #: float32 [H, W, 3] in [0, 1].
    image: F32
    mode: str
    seed: int
    steps: int
    width: int
    height: int
    timesteps: list[int]
    prompt_tokens: int
    prompt_truncated: bool
    #: The execution provider that ran the UNet (e.g. CPUExecutionProvider).
    provider: str
    #: Milliseconds per stage: tokenize, text_encoder, [vae_encoder], unet (all steps), vae_decoder, total.
    timings_ms: dict[str, float] = field(default_factory=dict)

    def png(self) -> bytes:
        return images.png_bytes(self.image)

    def summary(self) -> dict[str, Any]:
        """Everything but the pixels, JSON-ready."""
        return {
            "mode": self.mode,
            "seed": self.seed,
            "steps": self.steps,
            "width": self.width,
            "height": self.height,
            "timesteps": self.timesteps,
            "prompt_tokens": self.prompt_tokens,
            "prompt_truncated": self.prompt_truncated,
            "provider": self.provider,
            "timings_ms": self.timings_ms,
        }


@contextmanager
def _timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    timings[stage] = timings.get(stage, 0.0) + (time.perf_counter() - start) * 1000.0


class Pipeline:
    """Sessions are created once, here, and reused by every `generate` (the VAE encoder on first img2img)."""

    def __init__(
        self,
        files: ModelFiles,
        family: Family,
        limits: ModelLimits | None = None,
        *,
        providers: Sequence[str] | None = None,
        threads: int | None = None,
        recipe: Recipe = DIFFUSERS,
    ) -> None:
        self.files = files
        self.family = family
        self.recipe = recipe
        self.limits = limits or ModelLimits(
            image=DIRECTORY_LIMITS_IMAGE, max_steps=4, img2img=files.vae_encoder is not None
        )
        self._sessions = SessionFactory(resolve_providers(providers), threads)
        self.tokenizer = PromptTokenizer.from_file(files.tokenizer, family.tokenizer)
        self._text_encoder = self._sessions.create(files.text_encoder)
        self._unet = self._sessions.create(files.unet)
        self._vae_decoder = self._sessions.create(files.vae_decoder)
        self._vae_encoder: ort.InferenceSession | None = None
        # generate() may run on several threads (onnxruntime's run is thread-safe); this lazy session is
        # the only state they share.
        self._encoder_lock = threading.Lock()

    @classmethod
    def from_dir(cls, root: Path, *, family: str = DEFAULT_FAMILY, **kwargs: Any) -> Pipeline:
        """A directory in the web layout (three graphs + tokenizer.json, optional vae_encoder)."""
        return cls(ModelFiles.in_dir(root), load_manifest().families[family], **kwargs)

    @classmethod
    def from_model(cls, model: str, models_dir: Path, **kwargs: Any) -> Pipeline:
        """A manifest id (files under `models_dir/<id>/`, fixtures in the repo) or a model directory."""
        manifest = load_manifest()
        if model not in {v.id for v in manifest.variants}:
            if Path(model).is_dir():
                return cls.from_dir(Path(model), **kwargs)
            manifest.variant(model)  # raises UnknownModel naming the known ids
        variant = manifest.variant(model)
        root = local_model_dir(variant, models_dir)
        try:
            files = ModelFiles.in_dir(root)
        except ModelFilesError as exc:
            raise ModelFilesError(f"{exc} (fetch it with `turbodraft models pull {model}`)") from exc
        limits = ModelLimits.of(variant, img2img=files.vae_encoder is not None)
        return cls(files, manifest.family_of(variant), limits, **kwargs)

    @property
    def sessions_created(self) -> int:
        return self._sessions.created

    @property
    def provider(self) -> str:
        providers: list[str] = self._unet.get_providers()
        return providers[0]

    def generate(self, request: GenerateRequest) -> GenerateResult:
        recipe, constants = self.recipe, self.family
        vae = constants.vae
        validate_request(request, self.limits, vae.latent_channels, vae.downscale)
        timings: dict[str, float] = {}
        started = time.perf_counter()

        # 1. Prompt -> token ids -> text embedding (no negative prompt: SD-Turbo runs without guidance).
        with _timed(timings, "tokenize"):
            tokens = self.tokenizer(request.prompt)
        with _timed(timings, "text_encoder"):
            embedding = self._run(self._text_encoder, "text_encoder", {"input_ids": tokens.input_ids})

        # 2. Timesteps and sigmas.
        schedule = recipe.schedule(constants.scheduler, request.steps)

        # 3. Initial latents: pure noise (txt2img) or the noised init image (img2img).
        shape = (1, vae.latent_channels, request.height // vae.downscale, request.width // vae.downscale)
        noise = request.latents if request.latents is not None else randn(int(request.seed), shape)
        noise = np.ascontiguousarray(noise, dtype=np.float32)
        if request.init_image is None:
            latents = noise * recipe.init_noise_sigma(schedule, constants.scheduler)
        else:
            assert request.strength is not None  # validate_request guarantees it
            schedule = tail(schedule, img2img_start(request.steps, float(request.strength)))
            pixels = request.init_image if request.init_image.ndim == 4 else request.init_image[None]
            with _timed(timings, "vae_encoder"):
                mean = self._run(
                    self._encoder(),
                    "vae_encoder",
                    {"sample": recipe.pixels_to_vae_input(pixels.astype(np.float32))},
                )
            latents = recipe.add_noise(
                recipe.image_to_latents(mean, vae.scaling_factor), noise, schedule.sigmas[0]
            )

        # 4. Denoising loop: scale input, predict noise, Euler step.
        for i, timestep in enumerate(schedule.timesteps):
            sigma, sigma_next = schedule.sigmas[i], schedule.sigmas[i + 1]
            with _timed(timings, "unet"):
                noise_pred = self._run(
                    self._unet,
                    f"unet step {i + 1}",
                    {
                        "sample": recipe.scale_model_input(latents, sigma),
                        "timestep": recipe.unet_timestep(timestep),
                        "encoder_hidden_states": embedding,
                    },
                )
            latents = recipe.euler_step(latents, noise_pred, sigma, sigma_next)
            check_output(f"scheduler step {i + 1}", latents)

        # 5. Decode: unscale latents, VAE decoder, [-1, 1] -> [0, 1].
        with _timed(timings, "vae_decoder"):
            decoded = self._run(
                self._vae_decoder,
                "vae_decoder",
                {"latent_sample": recipe.latents_to_vae(latents, vae.scaling_factor)},
            )
        image = recipe.decoder_output_to_pixels(decoded)
        check_output("image", image)
        timings["total"] = (time.perf_counter() - started) * 1000.0

        return GenerateResult(
            image=image[0],
            mode=request.mode,
            seed=int(request.seed),
            steps=int(request.steps),
            width=int(request.width),
            height=int(request.height),
            timesteps=[round(float(t)) for t in schedule.timesteps],
            prompt_tokens=tokens.prompt_tokens,
            prompt_truncated=tokens.truncated,
            provider=self.provider,
            timings_ms={k: round(v, 3) for k, v in timings.items()},
        )

    def _encoder(self) -> ort.InferenceSession:
        with self._encoder_lock:
            if self._vae_encoder is None:
                assert self.files.vae_encoder is not None  # limits.img2img is False without it
                self._vae_encoder = self._sessions.create(self.files.vae_encoder)
            return self._vae_encoder

    def _run(self, session: ort.InferenceSession, stage: str, feeds: dict[str, npt.NDArray[Any]]) -> F32:
        """A graph's first output; onnxruntime failures and NaN/Inf/zero outputs become typed errors."""
        output_name = session.get_outputs()[0].name
        try:
            (output,) = session.run([output_name], feeds)
        except Exception as exc:  # onnxruntime's exception classes are not part of its public API
            raise ModelRunError(f"{stage} failed: {exc}") from exc
        result = np.asarray(output, dtype=np.float32)
        check_output(stage, result)
        return result
