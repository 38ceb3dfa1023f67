"""Download the worker's weights into the Hugging Face cache at Docker build time (``python -m ...bake``).

It fetches exactly what :func:`turbodraft.worker.pipeline.get_pipelines` loads for the same
``TURBODRAFT_WORKER_*`` settings, so the image runs with ``HF_HUB_OFFLINE=1`` and a cold start reads only
local disk.
"""

from __future__ import annotations

from turbodraft.worker.settings import ModelSettings


def bake(settings: ModelSettings) -> None:
    from diffusers import StableDiffusionXLPipeline
    from huggingface_hub import snapshot_download

    # diffusers' own download picks the files from_pretrained will ask for (this variant, safetensors only).
    StableDiffusionXLPipeline.download(settings.model, variant=settings.variant, use_safetensors=True)
    if settings.vae is not None:
        snapshot_download(settings.vae, allow_patterns=["config.json", "diffusion_pytorch_model.safetensors"])


if __name__ == "__main__":
    bake(ModelSettings.from_env())
