"""diffusers' img2img on the tiny SD-Turbo fixture from sketch renderings: the oracle of sketch-to-image's
engine side (fixtures/tools/sketch).

    PYTHONPATH=src:. .venv-fixtures/bin/python -m devtools.toolmodels.sketch_oracle --fixtures fixtures

The tiny torch models are rebuilt from their seeds by turbodraft.models.fixtures (the ONNX graphs in
fixtures/tiny-sd-turbo are their exports; the text embedding is checked against fixtures/oracle). A sketch is
strokes on a transparent frame; its init image is composited over white and resized with torch's antialiased
bilinear filter, then handed to StableDiffusionImg2ImgPipeline as floats, with our randn's noise and the
encoder's posterior mean, as fixtures/oracle does.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from PIL import Image

from turbodraft.models.fixtures import SCALING_FACTOR, build_models, make_scheduler
from turbodraft.models.manifest import load_manifest
from turbodraft.pipeline.noise import randn
from turbodraft.pipeline.tokenizer import PromptTokenizer

SIZE = 64
#: (id, sketch size, prompt, seed, steps, strength): a low strength keeps the strokes, as live sketching wants.
CASES = [
    ("sketch-s25", 64, "a red apple on a table", 3, 4, 0.25),
    ("sketch-s50", 96, "a house under the sun", 11, 2, 0.5),
]


def sketch(size: int, seed: int) -> npt.NDArray[np.uint8]:
    """Antialiased strokes (a circle, a zigzag, a filled blob) on a transparent frame: RGBA."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    ink = np.zeros((size, size))
    color = np.zeros((size, size, 3))
    cx, cy, r = size * 0.45, size * 0.5, size * 0.28
    ring = np.clip(1.5 - np.abs(np.hypot(x - cx, y - cy) - r), 0, 1)
    ink = np.maximum(ink, ring)
    color[ring > 0] = (0.1, 0.1, 0.12)
    points = np.stack([np.linspace(0.1, 0.9, 6) * size, rng.uniform(0.15, 0.35, 6) * size], axis=1)
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        t = np.clip(((x - x0) * (x1 - x0) + (y - y0) * (y1 - y0)) / ((x1 - x0) ** 2 + (y1 - y0) ** 2), 0, 1)
        d = np.hypot(x - (x0 + t * (x1 - x0)), y - (y0 + t * (y1 - y0)))
        line = np.clip(2.0 - d, 0, 1)
        color[line > ink] = (0.85, 0.2, 0.15)
        ink = np.maximum(ink, line)
    blob = np.clip((size * 0.12 - np.hypot(x - size * 0.7, y - size * 0.72)) * 0.8, 0, 1)
    color[blob > ink] = (0.2, 0.5, 0.9)
    ink = np.maximum(ink, blob)
    rgba = np.concatenate([color, ink[:, :, None]], axis=2)
    out: npt.NDArray[np.uint8] = np.floor(np.clip(rgba, 0, 1) * 255 + 0.5).astype(np.uint8)
    return out


def init_image(rgba: npt.NDArray[np.uint8]) -> torch.Tensor:
    """Composite over white, resize to SIZE: [1, SIZE, SIZE, 3] float in [0, 1], in torch."""
    t = torch.from_numpy(rgba.astype(np.float32) / 255.0).permute(2, 0, 1)[None]
    rgb, a = t[:, :3], t[:, 3:]
    flat = rgb * a + (1 - a)
    if flat.shape[2] != SIZE:
        flat = F.interpolate(flat, size=(SIZE, SIZE), mode="bilinear", align_corners=False, antialias=True)
    return flat.clamp(0, 1).permute(0, 2, 3, 1)


def build(fixtures: Path) -> dict[str, Any]:
    import diffusers
    from diffusers import StableDiffusionImg2ImgPipeline
    from diffusers.pipelines.stable_diffusion import pipeline_stable_diffusion_img2img as img2img_module

    torch.set_num_threads(2)
    models = build_models()
    manifest = load_manifest()
    family = manifest.family_of(manifest.variant("tiny-sd-turbo"))
    tokenizer = PromptTokenizer.from_file(fixtures / "tiny-sd-turbo" / "tokenizer.json", family.tokenizer)
    # The same weights as the committed ONNX fixtures: their oracle's text embedding, reproduced.
    oracle = json.loads((fixtures / "oracle" / "cases.json").read_text())["text_embeddings"]
    with torch.no_grad():
        emb = models.text_encoder(torch.tensor([oracle["input_ids"]])).last_hidden_state.numpy()
    expected = np.load(fixtures / "oracle" / oracle["file"])
    if float(np.abs(emb - expected).max()) > 1e-5:
        raise SystemExit("the rebuilt text encoder differs from the fixtures' oracle: library versions changed?")

    pipe = StableDiffusionImg2ImgPipeline(
        vae=models.vae,
        text_encoder=models.text_encoder,
        tokenizer=None,
        unet=models.unet,
        scheduler=make_scheduler(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    out = fixtures / "tools" / "sketch"
    out.mkdir(parents=True, exist_ok=True)
    original_randn, original_retrieve = img2img_module.randn_tensor, img2img_module.retrieve_latents
    records = []
    seen: list[float] = []
    hook = models.unet.register_forward_pre_hook(
        lambda _module, args: seen.append(float(torch.as_tensor(args[1]).flatten()[0]))
    )
    try:
        for cid, size, prompt, seed, steps, strength in CASES:
            rgba = sketch(size, seed)
            Image.fromarray(rgba, mode="RGBA").save(out / f"{cid}.png")
            init = init_image(rgba)
            np.save(out / f"{cid}.init.npy", init[0].numpy())
            noise = torch.from_numpy(randn(seed, (1, 4, SIZE // 8, SIZE // 8)))
            img2img_module.randn_tensor = lambda shape, _t=noise, **_: _t.reshape(shape).clone()
            img2img_module.retrieve_latents = lambda output, generator=None, sample_mode="sample": original_retrieve(
                output, generator, sample_mode="argmax"
            )
            ids = tokenizer(prompt).input_ids
            seen.clear()
            with torch.no_grad():
                embeds = models.text_encoder(torch.tensor([ids])).last_hidden_state
                result = pipe(
                    prompt_embeds=embeds,
                    image=init.numpy(),
                    strength=strength,
                    num_inference_steps=steps,
                    guidance_scale=0.0,
                    output_type="np",
                )
            image = np.asarray(result.images, dtype=np.float32)[0]
            np.save(out / f"{cid}.image.npy", image)
            records.append(
                {
                    "id": cid,
                    "sketch": f"{cid}.png",
                    "init_image": f"{cid}.init.npy",
                    "image": f"{cid}.image.npy",
                    "prompt": prompt,
                    "seed": seed,
                    "steps": steps,
                    "strength": strength,
                    "width": SIZE,
                    "height": SIZE,
                    "model": "tiny-sd-turbo",
                    "unet_timesteps": list(seen),
                }
            )
    finally:
        hook.remove()
        img2img_module.randn_tensor, img2img_module.retrieve_latents = original_randn, original_retrieve
    meta = {
        "generated_by": "python -m devtools.toolmodels.sketch_oracle",
        "versions": {"diffusers": diffusers.__version__, "torch": torch.__version__},
        "scaling_factor": SCALING_FACTOR,
        "cases": records,
    }
    (out / "cases.json").write_text(json.dumps(meta, indent=1) + "\n")
    return meta


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fixtures", type=Path, default=Path("fixtures"))
    print(json.dumps(build(parser.parse_args().fixtures), indent=1))


if __name__ == "__main__":
    main()
