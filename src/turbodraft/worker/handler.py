"""The RunPod Serverless handler of the SDXL worker, also usable by the local RunPod-compatible server.

- :func:`handler` is what ``runpod.serverless.start`` calls with a job ``{"id", "input"}``.
- :func:`handle` takes the job input and an optional cancellation flag, the local server's convention.

Both answer worker-sdxl's output, ``{"images": ["data:image/png;base64,..."], "image_url": first, "seed"}``,
or ``{"error": "..."}`` for input that cannot run (the runpod SDK marks such a job FAILED with that message).
Importing this module does not import torch: bad input is refused before any model is loaded.

Run as a worker with ``python -m turbodraft.worker.handler`` (the runpod SDK reads its own flags, such as
``--test_input '{"input": {...}}'`` for one local job).
"""

from __future__ import annotations

import secrets
import threading
from typing import Any

from turbodraft.worker.images import ImageLimits, load_init_image, png_data_uri
from turbodraft.worker.pipeline import GenerationCancelledError, generate, get_pipelines
from turbodraft.worker.schema import MAX_SEED, InputError, parse_input
from turbodraft.worker.settings import ModelSettings

__all__ = ["GenerationCancelledError", "handle", "handler"]


def handle(job_input: dict[str, Any], cancelled: threading.Event | None = None) -> dict[str, Any]:
    """Run one job input; raises :class:`GenerationCancelledError` once ``cancelled`` is set mid-run."""
    try:
        request = parse_input(job_input)
        source = request.image_source
        init_image = None if source is None else load_init_image(source, ImageLimits.from_env())
    except InputError as exc:
        return {"error": str(exc)}
    seed = request.seed if request.seed is not None else secrets.randbelow(MAX_SEED + 1)
    pipelines = get_pipelines(ModelSettings.from_env())
    images = generate(pipelines, request, seed, init_image, cancelled)
    uris = [png_data_uri(image) for image in images]
    return {"images": uris, "image_url": uris[0], "seed": seed}


def handler(job: dict[str, Any]) -> dict[str, Any]:
    """The runpod SDK's entry point: a job ``{"id", "input"}`` (RunPod cannot interrupt a running job)."""
    job_input = job.get("input")
    if not isinstance(job_input, dict):
        return {"error": "input must be a JSON object"}
    return handle(job_input)


def main() -> None:
    import runpod

    # Load before taking jobs, so the first job does not pay for it and a broken image fails at boot.
    get_pipelines(ModelSettings.from_env())
    runpod.serverless.start({"handler": handler})


if __name__ == "__main__":
    main()
