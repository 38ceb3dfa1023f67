"""The local RunPod server's default handler: SD-Turbo through the Python twin, answering like worker-sdxl.

It takes the SDXL worker's job input (`turbodraft.worker.schema`, worker-sdxl's field names) so the gateway
sends the local server exactly what it would send RunPod, and it answers in worker-sdxl's output shape
(`images` as data URIs, `image_url`, `seed`). SD-Turbo is not SDXL: the request is fitted to the model's
size range and step limit (see `server_target.SdTurboRunner`), and the output says what ran.

`handler` (registered as "sd-turbo") loads `Settings().server_model` once per process; the gateway builds
its own with `make_handler(runner)` to share the pipeline with the server target.
"""

from __future__ import annotations

import base64
import binascii
import random
import threading
from typing import Any

from turbodraft.config import Settings
from turbodraft.providers.handlers import Handler, JobCancelledError
from turbodraft.providers.server_target import SdTurboJob, SdTurboRunner
from turbodraft.worker.schema import parse_input

_runner: SdTurboRunner | None = None
_runner_lock = threading.Lock()


class UnsupportedImageSource(ValueError):
    """An init image given as an http(s) URL: the local server does not fetch from the network."""


def decode_image_source(source: str) -> bytes:
    """The bytes of a data URI or bare base64 string."""
    if source.startswith(("http://", "https://")):
        raise UnsupportedImageSource("the local server takes init images as data URIs or base64, not URLs")
    payload = source.split(",", 1)[1] if source.startswith("data:") and "," in source else source
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"init image is not valid base64: {exc}") from exc


def run_job(runner: SdTurboRunner, job_input: dict[str, Any], cancelled: threading.Event) -> dict[str, Any]:
    request = parse_input(job_input)
    init = decode_image_source(request.image_source) if request.image_source is not None else None
    seed = request.seed if request.seed is not None else random.randrange(2**32)
    images: list[str] = []
    last = None
    for index in range(request.num_images):
        if cancelled.is_set():
            raise JobCancelledError("cancelled")
        last = runner.generate(
            SdTurboJob(
                prompt=request.prompt,
                seed=(seed + index) % 2**32,
                steps=request.num_inference_steps,
                width=request.width,
                height=request.height,
                init_image=init,
                strength=request.strength if init is not None else None,
            )
        )
        images.append("data:image/png;base64," + base64.b64encode(last.png).decode("ascii"))
    assert last is not None  # num_images >= 1
    return {
        "images": images,
        "image_url": images[0],
        "seed": seed,
        "model": runner.model,
        "steps": last.steps,
        "rendered_size": [last.rendered_width, last.rendered_height],
        "timings_ms": last.timings_ms,
    }


def make_handler(runner: SdTurboRunner) -> Handler:
    def sd_turbo(job_input: dict[str, Any], cancelled: threading.Event) -> object:
        return run_job(runner, job_input, cancelled)

    return sd_turbo


def _default_runner() -> SdTurboRunner:
    global _runner
    with _runner_lock:
        if _runner is None:
            settings = Settings()
            _runner = SdTurboRunner(settings.server_model, settings.models_dir)
        return _runner


def handler(job_input: dict[str, Any], cancelled: threading.Event) -> dict[str, Any]:
    """The registered "sd-turbo" handler: the configured model, loaded on the first job."""
    return run_job(_default_runner(), job_input, cancelled)
