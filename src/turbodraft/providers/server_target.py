"""The `server` target: SD-Turbo on the gateway machine through the Python twin, behind a small queue.

`SdTurboRunner` owns one `Pipeline` (loaded on first use, kept) and turns an API-sized request into one the
model accepts: SD-Turbo variants have their own size range (the tiny fixture: 64..256) and at most 4 steps,
while callers ask in the API's terms (a 1024x1024 final, 25 SDXL steps). The image is rendered at the nearest
size the model takes, same aspect ratio, then resized to the size asked for; the result says what ran.

`ServerTarget` bounds the work: `concurrency` generations at once in a thread pool (CPU-bound; one by
default so a generation gets every core), `queue_size` more waiting, and anything beyond is refused at once
with `ServerBusy` so a burst cannot pile up minutes of work.
"""

from __future__ import annotations

import asyncio
import io
import math
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from turbodraft.pipeline import GenerateRequest, InvalidInitImage, InvalidStrength, Pipeline
from turbodraft.pipeline.images import png_bytes

#: Init images larger than this (in pixels per side) are refused before decoding the pixels.
MAX_INIT_SIDE = 4096


class ServerBusy(Exception):
    """Every slot of the server target is taken, queue included; the caller should try another target."""


@dataclass(frozen=True)
class SdTurboJob:
    prompt: str
    seed: int
    steps: int
    width: int
    height: int
    #: img2img source: PNG/JPEG/WebP bytes of any size (resized to the rendered size).
    init_image: bytes | None = None
    strength: float | None = None


@dataclass(frozen=True)
class SdTurboImage:
    png: bytes
    width: int
    height: int
    #: What the model actually ran: its size (before the resize to width x height) and steps.
    rendered_width: int
    rendered_height: int
    steps: int
    seed: int
    model: str
    provider: str
    timings_ms: dict[str, float] = field(default_factory=dict)


def _fit_side(value: float, low: int, high: int, multiple: int) -> int:
    snapped = round(value / multiple) * multiple
    return max(low, min(high, snapped))


def fit_size(width: int, height: int, low: int, high: int, multiple: int) -> tuple[int, int]:
    """The size nearest `width` x `height` with the same aspect ratio inside the model's range."""
    scale = min(1.0, high / max(width, height))
    scale = max(scale, low / min(width, height))
    return (_fit_side(width * scale, low, high, multiple), _fit_side(height * scale, low, high, multiple))


def fit_steps(steps: int, max_steps: int, strength: float | None) -> int:
    """Steps within the model's limit; img2img runs int(steps * strength) of them, which must be >= 1."""
    fitted = max(1, min(steps, max_steps))
    if strength is None or int(fitted * strength) >= 1:
        return fitted
    needed = math.ceil(1 / strength - 1e-9)
    if needed > max_steps or int(needed * strength) < 1:
        raise InvalidStrength(
            f"strength {strength} is too low for this model: at most {max_steps} steps run and "
            f"steps x strength must reach 1 (use strength >= {1 / max_steps:.2f})"
        )
    return needed


def decode_init_image(data: bytes, width: int, height: int) -> np.ndarray:
    """Image bytes as float32 [H, W, 3] in [0, 1] at width x height (Lanczos, as diffusers resizes)."""
    try:
        with Image.open(io.BytesIO(data)) as opened:
            if opened.width > MAX_INIT_SIDE or opened.height > MAX_INIT_SIDE:
                raise InvalidInitImage(
                    f"init image is {opened.width}x{opened.height}; at most {MAX_INIT_SIDE} px a side"
                )
            image = opened.convert("RGB")
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise InvalidInitImage(f"init image is not a readable PNG, JPEG or WebP: {exc}") from exc
    if image.size != (width, height):
        image = image.resize((width, height), resample=Image.Resampling.LANCZOS)
    return np.asarray(image, dtype=np.float32) / np.float32(255.0)


class SdTurboRunner:
    """One SD-Turbo pipeline for the whole process; thread-safe (onnxruntime sessions run concurrently)."""

    def __init__(self, model: str, models_dir: Path, *, threads: int | None = None) -> None:
        self.model = model
        self.models_dir = models_dir
        self._threads = threads
        self._pipeline: Pipeline | None = None
        self._lock = threading.Lock()

    def pipeline(self) -> Pipeline:
        """The loaded pipeline; a load error (ModelFilesError, UnknownModel) propagates, next call retries."""
        with self._lock:
            if self._pipeline is None:
                self._pipeline = Pipeline.from_model(self.model, self.models_dir, threads=self._threads)
            return self._pipeline

    @property
    def loaded(self) -> bool:
        return self._pipeline is not None

    def generate(self, job: SdTurboJob) -> SdTurboImage:
        pipe = self.pipeline()
        limits = pipe.limits
        size = limits.image
        rendered_w, rendered_h = fit_size(job.width, job.height, size.min, size.max, size.multiple_of)
        strength = job.strength if job.init_image is not None else None
        steps = fit_steps(job.steps, limits.max_steps, strength)
        init = (
            decode_init_image(job.init_image, rendered_w, rendered_h) if job.init_image is not None else None
        )
        result = pipe.generate(
            GenerateRequest(
                prompt=job.prompt,
                seed=job.seed,
                steps=steps,
                width=rendered_w,
                height=rendered_h,
                init_image=init,
                strength=strength,
            )
        )
        image = Image.fromarray((result.image * 255).round().astype(np.uint8), mode="RGB")
        if image.size != (job.width, job.height):
            image = image.resize((job.width, job.height), resample=Image.Resampling.LANCZOS)
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
            png = buffer.getvalue()
        else:
            png = png_bytes(result.image)
        return SdTurboImage(
            png=png,
            width=job.width,
            height=job.height,
            rendered_width=rendered_w,
            rendered_height=rendered_h,
            steps=steps,
            seed=job.seed,
            model=self.model,
            provider=result.provider,
            timings_ms=dict(result.timings_ms),
        )


@dataclass(frozen=True)
class ServerTargetStats:
    concurrency: int
    queue_size: int
    running: int
    waiting: int
    model: str
    loaded: bool


class ServerTarget:
    """Runs `SdTurboRunner.generate` in a bounded thread pool; `generate` is awaited from the event loop."""

    def __init__(self, runner: SdTurboRunner, *, concurrency: int = 1, queue_size: int = 8) -> None:
        if concurrency < 1 or queue_size < 0:
            raise ValueError("concurrency must be >= 1 and queue_size >= 0")
        self.runner = runner
        self.concurrency = concurrency
        self.queue_size = queue_size
        self._executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="server-target")
        self._lock = threading.Lock()
        self._admitted = 0
        self._running = 0

    def stats(self) -> ServerTargetStats:
        with self._lock:
            running, admitted = self._running, self._admitted
        return ServerTargetStats(
            concurrency=self.concurrency,
            queue_size=self.queue_size,
            running=running,
            waiting=admitted - running,
            model=self.runner.model,
            loaded=self.runner.loaded,
        )

    async def generate(self, job: SdTurboJob, *, timeout_s: float) -> SdTurboImage:
        """The image, or: ServerBusy (no slot), TimeoutError, or the pipeline's own typed errors.

        A timed-out generation keeps its thread until the model returns (onnxruntime cannot be interrupted),
        and keeps its slot until then too, so the limit holds for real CPU use.
        """
        with self._lock:
            if self._admitted >= self.concurrency + self.queue_size:
                raise ServerBusy(
                    f"the server target is busy ({self.concurrency} running, {self.queue_size} waiting)"
                )
            self._admitted += 1
        future: Future[SdTurboImage] = self._executor.submit(self._run, job)
        future.add_done_callback(self._release)
        return await asyncio.wait_for(asyncio.wrap_future(future), timeout_s)

    def _run(self, job: SdTurboJob) -> SdTurboImage:
        with self._lock:
            self._running += 1
        try:
            return self.runner.generate(job)
        finally:
            with self._lock:
                self._running -= 1

    def _release(self, _: Future[SdTurboImage]) -> None:
        with self._lock:
            self._admitted -= 1

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
